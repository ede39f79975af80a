//! Errors of the writers: a file that cannot be written, or an output that cannot be encoded.

use std::path::{Path, PathBuf};

/// An error writing a report.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file or folder could not be written.
    #[error("{}: {source}", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// An output could not be encoded (CSV, JSON, PNG, a plot).
    #[error("{what}: {message}")]
    Encode { what: String, message: String },
    /// A bad argument (an output path that names no file).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Write {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn encode(what: impl std::fmt::Display, message: impl std::fmt::Display) -> Self {
        Error::Encode {
            what: what.to_string(),
            message: message.to_string(),
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
