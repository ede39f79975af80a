//! Errors of the analysis library. Reading a checkpoint fails with the formats crate's error
//! (it names the file and the tensor); the rest are bad options.

/// A weightscope error.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A checkpoint could not be read (the message names the file, and the tensor if any).
    #[error(transparent)]
    Read(#[from] crate::formats::Error),
    /// A bad option or argument (a regex that does not compile, a thread pool that cannot
    /// start, layers that do not match between two models).
    #[error("{0}")]
    Usage(String),
    /// Parts of a sharded run that do not join into one report (another checkpoint, other
    /// options, a share missing or given twice, a file that is not a part).
    #[error("{0}")]
    Shard(String),
}

/// Result with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
