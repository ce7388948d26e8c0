//! Diameter Zn (TS 29.109) beside the HTTPS+JSON Zn: the base protocol's codec (RFC 6733),
//! the table of every code used with its source, the BSF's peer state machine and listener,
//! and the NAF's client. Written for gbau rather than taken from a crate: the `diameter`
//! crate (0.7) has no peer state machine and rejects a whole message on an AVP outside its
//! dictionary, where a BSF must answer DIAMETER_AVP_UNSUPPORTED naming that AVP or ignore it.

pub mod client;
pub mod codec;
pub mod dict;
pub mod peer;
pub mod server;
