//! The MT side of gbau: transports (PC/SC, in-process soft card), the soft-card commands,
//! the software oracle behind `gbau calc` and the walk-through behind `gbau demo`.

pub mod bench;
pub mod bsf;
pub mod calc;
pub mod card_cmd;
pub mod cmd;
pub mod decode;
pub mod demo;
pub mod device;
pub mod http;
pub mod input;
pub mod key_center;
pub mod local;
pub mod me_store;
pub mod mt;
pub mod naf;
pub mod personalize;
pub mod pki;
pub mod session;
pub mod shell;
pub mod transport;
pub mod ua;
pub mod ub;
pub mod usim;
pub mod zn;
