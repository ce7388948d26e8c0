//! Errors of the card commands (gbau info, apdu, run, gba ...), shared by the MT's Ub and Ua
//! clients and the MT service.

use crate::input::UsageError;
use crate::session::SessionError;
use crate::transport::TransportError;
use crate::usim::UsimError;

/// Errors of the card commands.
#[derive(Debug, thiserror::Error)]
pub enum CmdError {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error(transparent)]
    Usim(#[from] UsimError),
    #[error("{0}")]
    Script(String),
    #[error("synchronisation failure: the card's SQN is ahead; AUTS {0} (give it to the BSF/HSS to resynchronise)")]
    SyncFailure(String),
    #[error("{0}")]
    Mismatch(String),
    #[error("Ub: {0}")]
    Ub(String),
    #[error("Ua: {0}")]
    Ua(String),
}

impl From<TransportError> for CmdError {
    fn from(e: TransportError) -> Self {
        Self::Usim(UsimError::Transport(e))
    }
}

impl From<crate::ub::UbError> for CmdError {
    fn from(e: crate::ub::UbError) -> Self {
        match e {
            crate::ub::UbError::Card(c) => Self::Usim(c),
            other => Self::Ub(other.to_string()),
        }
    }
}
