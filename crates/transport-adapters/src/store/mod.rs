//! Durable storage engines (feature `sqlite`).
//!
//! [`Sqlite`] is an embedded SQLite database (the bundled library, through rusqlite) laid
//! out for a server that must not lose what it acknowledged: one writer thread owns the
//! write connection and commits queued jobs together (group commit: one `fsync` for many
//! jobs), each job in its own savepoint so one job's failure never undoes another's, and a
//! caller hears of success only once the transaction holding its job has committed. Reads
//! go to a small pool of read-only connections, which WAL lets run beside the writer.
//! Versioned schema [`Migration`]s run when the database is opened.
//!
//! This module is the engine only: what is stored, and how, belongs to its users.

mod sqlite;

pub use sqlite::{
    Migration, Sqlite, SqliteConfig, SqliteError, SqliteStats, Synchronous, WriteHandle,
};

#[cfg(test)]
mod sqlite_tests;
