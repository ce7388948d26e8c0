//! What can end a command, and the exit code each failure gives: 1 for a card, protocol or
//! computation failure, 2 for a usage error or malformed input.

use gbau_host::cmd::CmdError;
use gbau_host::input::UsageError;
use gbau_host::personalize::PersonalizeError;
use gbau_host::session::SessionError;
use gbau_host::shell::ShellError;
use gbau_host::transport::TransportError;

/// Exit code for a card, protocol or computation failure.
pub const EXIT_FAILURE: u8 = 1;
/// Exit code for a usage error or malformed input.
pub const EXIT_USAGE: u8 = 2;

/// What can end a command.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Demo(#[from] crate::demo::DemoError),
    #[error("cannot write JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    SoftCard(#[from] gbau_card::SoftCardError),
    #[error(transparent)]
    Vpcd(#[from] gbau_card::vpcd::VpcdError),
    #[error(transparent)]
    Transport(#[from] TransportError),
    #[error(transparent)]
    Bench(#[from] crate::bench::BenchError),
    #[error(transparent)]
    Profile(#[from] gbau_card::profile::ProfileError),
    #[error(transparent)]
    Cmd(#[from] CmdError),
    #[error(transparent)]
    Session(#[from] SessionError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Shell(#[from] ShellError),
    #[error(transparent)]
    Personalize(#[from] PersonalizeError),
    #[error(transparent)]
    Store(#[from] gbau_network::bsf::store::StoreError),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> u8 {
        match self {
            Self::Usage(_)
            | Self::Profile(_)
            | Self::Cmd(CmdError::Usage(_))
            | Self::Session(
                SessionError::PinRequired | SessionError::Profile(_) | SessionError::Usage(_),
            )
            | Self::Cmd(CmdError::Session(SessionError::PinRequired | SessionError::Profile(_)))
            | Self::Shell(ShellError::Session(
                SessionError::PinRequired | SessionError::Profile(_),
            ))
            | Self::Personalize(PersonalizeError::AdmFormat | PersonalizeError::AdmMissing) => {
                EXIT_USAGE
            }
            _ => EXIT_FAILURE,
        }
    }
}
