//! The card commands of `gbau`: info, apdu, run, gba bootstrap / naf-key / local-key / check.
//! Each returns a report that prints as text or JSON.

mod apdu;
mod gba;
mod info;

pub use crate::error::CmdError;
pub use apdu::{apdu, decode_response, run, ApduResult, Decoder};
pub use gba::{
    gba_bootstrap, gba_bootstrap_bsf, gba_check, gba_local_key, gba_naf_key, impi_of,
    BootstrapReport, CheckReport, LocalKeyReport, NafKeyReport,
};
pub use info::{info, probe_gba, App, Gbabp, GbanlEntry, Info, Services};
