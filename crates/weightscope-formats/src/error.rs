//! Errors of the library. Every message names the file, and the tensor where there is one.

use std::path::{Path, PathBuf};

/// A weightscope error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not what its name says, or its header is corrupt.
    #[error("{}: {message}", path.display())]
    Format { path: PathBuf, message: String },
    /// One tensor of an otherwise readable file is bad.
    #[error("{}: tensor '{tensor}': {message}", path.display())]
    Tensor {
        path: PathBuf,
        tensor: String,
        message: String,
    },
    /// A bad option (a regex that does not compile, say).
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
    pub fn format(path: &Path, message: impl Into<String>) -> Self {
        Error::Format {
            path: path.to_path_buf(),
            message: message.into(),
        }
    }
    pub fn tensor(path: &Path, tensor: &str, message: impl Into<String>) -> Self {
        Error::Tensor {
            path: path.to_path_buf(),
            tensor: tensor.to_string(),
            message: message.into(),
        }
    }
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
