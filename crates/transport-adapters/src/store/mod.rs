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
//! [`SqliteStorage`] (with the `authorization-server` feature) is the authorization
//! server's [`Storage`](mcp_oauth_authorization_server::Storage) on this engine.
//!
//! ```
//! use mcp_oauth_transport_adapters::store::{Migration, Sqlite, SqliteConfig};
//!
//! const MIGRATIONS: &[Migration] = &[Migration {
//!     version: 1,
//!     sql: "CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT NOT NULL);",
//! }];
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::env::temp_dir().join(format!("mcp-oauth-store-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir)?;
//! let db = Sqlite::open(SqliteConfig::new(dir.join("state.db")), MIGRATIONS)?;
//! // Returns once the row is committed with `synchronous=FULL`: on disk.
//! db.write_blocking(|tx| tx.execute("INSERT INTO kv VALUES ('a', 'b')", []))?;
//! let v: String = db.read(|c| c.query_row("SELECT v FROM kv WHERE k = 'a'", [], |r| r.get(0)))?;
//! assert_eq!(v, "b");
//! # drop(db);
//! # std::fs::remove_dir_all(&dir)?;
//! # Ok(())
//! # }
//! ```

#[cfg(feature = "authorization-server")]
mod as_sqlite;
mod sqlite;

#[cfg(feature = "authorization-server")]
pub use as_sqlite::{MIGRATIONS, SqliteStorage};
pub use sqlite::{
    Migration, Sqlite, SqliteConfig, SqliteError, SqliteStats, Synchronous, WriteHandle,
};

#[cfg(all(test, feature = "authorization-server"))]
mod as_sqlite_tests;
#[cfg(test)]
mod sqlite_tests;
