//! The BSF with its HSS function (TS 33.220 §4.5, TS 24.109 §5): a pure core — time and
//! randomness are passed in, storage is a trait — under a thin HTTP layer.
//!
//! Ub: HTTP Digest AKAv1-MD5 (RFC 3310). Zn: a NAF asks for the NAF key of a B-TID. Real
//! networks carry Zn over Diameter (TS 29.109); gbau uses HTTPS + JSON with client
//! certificates, which keeps the information elements and the key separation rule while
//! needing no Diameter stack (see `docs` in the README).

pub mod core;
pub mod postgres;
pub mod server;
pub mod sqlite;
pub mod store;
pub mod subscribers;
