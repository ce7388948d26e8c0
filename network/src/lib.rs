//! gbau-network: the network side of GBA — the BSF with its HSS function and store (Ub and
//! Zn), the NAF-side Zn client, a generic HTTP NAF (Ua HTTP Digest), the NAF Key Center of
//! seed 001, the servers' HTTP/TLS layer and the test PKI.
//!
//! What it may depend on: gbau-core only (algorithms, Digest, identities, the Ua and Key
//! Center wire formats). It never depends on gbau-host or gbau-card; the soft card and the
//! MT are dev-dependencies for the in-process tests.
//!
//! Where to start reading: [`bsf::core`] (the BSF as a pure function of requests, time and
//! randomness), then [`bsf::server`] (its HTTP layer), [`naf`] and [`key_center`] (the two
//! NAFs), [`zn`] (how they fetch keys) and [`http`] (the shared server layer).

pub mod bsf;
pub mod diameter;
pub mod http;
pub mod key_center;
pub mod naf;
pub mod pending;
pub mod pki;
pub mod zn;
