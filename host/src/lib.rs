//! The MT side of gbau. For now: the software oracle behind `gbau calc` and the offline
//! walk-through behind `gbau demo`. Transports, the USIM client and the Ub client come next.

pub mod calc;
pub mod demo;
pub mod input;
