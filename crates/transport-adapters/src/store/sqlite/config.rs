//! The engine's settings, schema migrations, statistics and errors.

use std::fmt;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How hard SQLite pushes each commit to disk (`PRAGMA synchronous`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Synchronous {
    /// `FULL` (the default): the WAL is synced at every commit, so a committed transaction
    /// survives a crash of the process or of the machine (power loss). On macOS
    /// `PRAGMA fullfsync` is turned on too, since a plain `fsync` there does not flush the
    /// drive's cache.
    #[default]
    Full,
    /// `NORMAL`: the WAL is synced only at checkpoints. Still safe against a crash of the
    /// process, and the database is never corrupted, but on power loss or an operating
    /// system crash **the last commits may be lost** although their callers were told
    /// they succeeded. Trades that durability for speed.
    Normal,
}

impl Synchronous {
    pub(super) fn pragma(self) -> &'static str {
        match self {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        }
    }
}

/// Where the database lives and how it is run; [`SqliteConfig::new`] gives the defaults.
///
/// ```
/// use std::time::Duration;
/// use mcp_oauth_transport_adapters::store::{SqliteConfig, Synchronous};
///
/// let mut config = SqliteConfig::new("state.db");
/// config.busy_timeout = Duration::from_secs(1);
/// assert_eq!(config.synchronous, Synchronous::Full);
/// assert_eq!((config.readers, config.max_batch), (4, 256));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SqliteConfig {
    /// The database file. It is created with mode 0600 when missing, and a file that
    /// exists with permissions for its group or others is tightened to 0600. Its parent
    /// directory must exist. SQLite keeps `-wal` and `-shm` files beside it, with the
    /// same permissions.
    pub path: PathBuf,
    /// Durability of each commit; [`Synchronous::Full`] by default.
    pub synchronous: Synchronous,
    /// How long a connection waits for a lock held by another process before failing
    /// with `SQLITE_BUSY` (5 s by default). Within one [`Sqlite`](super::Sqlite), writes never wait for
    /// each other (one writer thread) and WAL readers never wait for the writer.
    pub busy_timeout: Duration,
    /// Read-only connections in the pool behind [`Sqlite::read`](super::Sqlite::read) (4 by default; at
    /// least 1 is opened).
    pub readers: usize,
    /// The most jobs committed in one transaction (256 by default; at least 1).
    pub max_batch: usize,
}

impl SqliteConfig {
    /// The defaults for a database at `path`.
    #[must_use]
    pub fn new(path: impl Into<PathBuf>) -> Self {
        SqliteConfig {
            path: path.into(),
            synchronous: Synchronous::Full,
            busy_timeout: Duration::from_secs(5),
            readers: 4,
            max_batch: 256,
        }
    }
}

/// One step of the schema: `sql` (any number of statements) runs in its own
/// `BEGIN IMMEDIATE` transaction together with `PRAGMA user_version = version`, when the
/// database's `user_version` is below `version`. Versions start at 1 and strictly
/// increase; a migration, once shipped, must never change. `sql` must not end the
/// transaction itself (no `COMMIT`, no `ROLLBACK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Migration {
    /// The schema version this step brings the database to.
    pub version: u32,
    /// The statements of the step.
    pub sql: &'static str,
}

/// Counters since [`Sqlite::open`](super::Sqlite::open). Under concurrent writers `transactions_committed`
/// is well below `jobs_committed`: that is group commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct SqliteStats {
    /// Write jobs that succeeded and whose transaction committed.
    pub jobs_committed: u64,
    /// Write jobs whose caller got an error (their own, or their transaction's).
    pub jobs_failed: u64,
    /// Transactions committed by the writer thread (batches; migrations not counted).
    pub transactions_committed: u64,
}

/// What can go wrong opening, reading or writing a [`Sqlite`](super::Sqlite).
#[derive(Debug)]
#[non_exhaustive]
pub enum SqliteError {
    /// Creating the database file or fixing its permissions failed.
    Io {
        /// The database file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },
    /// Opening or configuring a connection failed.
    Open(rusqlite::Error),
    /// SQLite would not switch to WAL (an in-memory database, or a file system without
    /// shared memory); `mode` is the journal mode it kept.
    NotWal {
        /// The journal mode SQLite reported.
        mode: String,
    },
    /// The migrations given to [`Sqlite::open`](super::Sqlite::open) do not start above 0 or do not strictly
    /// increase; `version` is the first out of order.
    MigrationOrder {
        /// The offending version.
        version: u32,
    },
    /// The database's schema is newer than the newest migration this program knows:
    /// it was written by a newer version, which this one must not run against.
    NewerSchema {
        /// The database's `user_version`.
        found: u32,
        /// The newest migration known.
        known: u32,
    },
    /// A migration failed; it was rolled back and the database is at the version before it.
    Migration {
        /// The version of the migration that failed.
        version: u32,
        /// SQLite's error.
        source: rusqlite::Error,
    },
    /// The writer thread could not be started.
    Spawn(io::Error),
    /// The job (or the read closure) returned this error. For a write, everything the
    /// job wrote was rolled back; the other jobs of its batch were not affected.
    Job(rusqlite::Error),
    /// The write job panicked; everything it wrote was rolled back.
    JobPanicked,
    /// The transaction holding the job failed to begin or to commit, or could not keep
    /// jobs apart: nothing the job wrote was committed, and every job of the batch got
    /// this error.
    Transaction(Arc<rusqlite::Error>),
    /// The writer thread is gone: the job was not run, or its outcome is unknown.
    WriterGone,
}

impl fmt::Display for SqliteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqliteError::Io { path, .. } => write!(f, "database file {}", path.display()),
            SqliteError::Open(_) => f.write_str("opening the database"),
            SqliteError::NotWal { mode } => write!(f, "journal mode is {mode}, not WAL"),
            SqliteError::MigrationOrder { version } => {
                write!(
                    f,
                    "migration {version} out of order (versions start at 1 and increase)"
                )
            }
            SqliteError::NewerSchema { found, known } => write!(
                f,
                "database schema version {found} is newer than the newest known ({known})"
            ),
            SqliteError::Migration { version, .. } => write!(f, "migration {version} failed"),
            SqliteError::Spawn(_) => f.write_str("starting the writer thread"),
            SqliteError::Job(_) => f.write_str("the job failed and was rolled back"),
            SqliteError::JobPanicked => f.write_str("the job panicked and was rolled back"),
            SqliteError::Transaction(_) => f.write_str("the write transaction failed"),
            SqliteError::WriterGone => f.write_str("the writer thread is gone"),
        }
    }
}

impl std::error::Error for SqliteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SqliteError::Io { source, .. } | SqliteError::Spawn(source) => Some(source),
            SqliteError::Open(e) | SqliteError::Job(e) => Some(e),
            SqliteError::Migration { source, .. } => Some(source),
            SqliteError::Transaction(e) => Some(&**e),
            _ => None,
        }
    }
}
