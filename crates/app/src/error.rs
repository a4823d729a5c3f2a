//! What the core answers when it cannot do what was asked. The adapters
//! translate it (HTTP statuses in `server`, SIP replies in `voice`); the
//! message names the problem and never carries patient data.

use routing::RoutingError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request itself is malformed (400).
    #[error("{0}")]
    Invalid(String),
    /// A field's value is refused (422): the message names the field.
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    NotFound(String),
    /// It clashes with what is there now (409).
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Unauthorised(String),
    #[error("{0}")]
    Forbidden(String),
    /// The engine has stopped, storage is failing, or the server is
    /// stopping (503): try again.
    #[error("{0}")]
    Unavailable(String),
    /// A run that failed inside (500).
    #[error("{0}")]
    Internal(String),
    /// The engine refused the input.
    #[error(transparent)]
    Refused(#[from] RoutingError),
}

impl From<store::StoreError> for Error {
    fn from(e: store::StoreError) -> Error {
        match e {
            store::StoreError::Conflict(m) => Error::Conflict(m),
            e => {
                tracing::error!("store: {e}");
                Error::Unavailable("storage is unavailable".into())
            }
        }
    }
}

impl Error {
    /// The engine has stopped (or the server is stopping).
    pub(crate) fn stopped() -> Error {
        Error::Unavailable("the engine has stopped".into())
    }
}
