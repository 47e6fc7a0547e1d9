//! SQLite with one writer thread and group commit, WAL readers, and versioned migrations.

use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

mod config;
mod writer;

pub use config::{Migration, SqliteConfig, SqliteError, SqliteStats, Synchronous};
pub use writer::WriteHandle;
use writer::{Counters, Job, WriteJob, run_writer};

/// An open database: one writer thread with group commit, a pool of WAL readers. Share
/// it between threads or tasks behind an [`Arc`]. Dropping it finishes the queued jobs
/// and joins the writer thread (so it blocks for as long as they take).
pub struct Sqlite {
    path: PathBuf,
    jobs: Option<mpsc::Sender<Box<dyn Job>>>,
    writer: Option<JoinHandle<()>>,
    readers: Mutex<Vec<Connection>>,
    reader_free: Condvar,
    counters: Arc<Counters>,
}

impl fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sqlite")
            .field("path", &self.path)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

impl Sqlite {
    /// Opens (creating it if missing) the database at `config.path`, switches it to WAL,
    /// runs the `migrations` above its `user_version`, and starts the writer thread.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Io`] for the file, [`SqliteError::Open`] and
    /// [`SqliteError::NotWal`] for the connections, [`SqliteError::MigrationOrder`],
    /// [`SqliteError::NewerSchema`] and [`SqliteError::Migration`] for the schema,
    /// [`SqliteError::Spawn`] for the thread.
    pub fn open(config: SqliteConfig, migrations: &[Migration]) -> Result<Sqlite, SqliteError> {
        let newest = check_order(migrations)?;
        create_private(&config.path)?;
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&config.path, flags).map_err(SqliteError::Open)?;
        conn.busy_timeout(config.busy_timeout)
            .map_err(SqliteError::Open)?;
        let mode: String = conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0))
            .map_err(SqliteError::Open)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(SqliteError::NotWal { mode });
        }
        let fullfsync = config.synchronous == Synchronous::Full;
        conn.pragma_update(None, "synchronous", config.synchronous.pragma())
            .and_then(|()| conn.pragma_update(None, "fullfsync", fullfsync))
            .and_then(|()| conn.pragma_update(None, "foreign_keys", true))
            .map_err(SqliteError::Open)?;
        migrate(&mut conn, migrations, newest)?;

        let mut readers = Vec::new();
        for _ in 0..config.readers.max(1) {
            let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
            let reader =
                Connection::open_with_flags(&config.path, flags).map_err(SqliteError::Open)?;
            reader
                .busy_timeout(config.busy_timeout)
                .map_err(SqliteError::Open)?;
            readers.push(reader);
        }

        let counters = Arc::new(Counters::default());
        let (jobs, queue) = mpsc::channel();
        let max_batch = config.max_batch.max(1);
        let thread_counters = Arc::clone(&counters);
        let writer = std::thread::Builder::new()
            .name("mcp-oauth-sqlite-writer".into())
            .spawn(move || run_writer(conn, &queue, max_batch, &thread_counters))
            .map_err(SqliteError::Spawn)?;
        Ok(Sqlite {
            path: config.path,
            jobs: Some(jobs),
            writer: Some(writer),
            readers: Mutex::new(readers),
            reader_free: Condvar::new(),
            counters,
        })
    }

    /// Queues `job` for the writer thread, which runs it inside a `BEGIN IMMEDIATE`
    /// transaction shared with the other jobs queued at the same time, in a savepoint of
    /// its own. The handle resolves once that transaction has committed: `Ok` means the
    /// job's writes are durable (as far as [`SqliteConfig::synchronous`] makes them).
    ///
    /// The job must not end the transaction (`COMMIT`, `ROLLBACK`, `RELEASE` of a
    /// savepoint it did not open): its whole batch would then be reported failed
    /// ([`SqliteError::Transaction`]) whatever became of it. It should be short: the
    /// whole batch waits for it. A job that panics is rolled back alone
    /// ([`SqliteError::JobPanicked`]); the writer thread goes on.
    ///
    /// ```no_run
    /// # async fn f(db: &mcp_oauth_transport_adapters::store::Sqlite) -> Result<(), mcp_oauth_transport_adapters::store::SqliteError> {
    /// let id = db.write(|tx| {
    ///     tx.execute("INSERT INTO kv VALUES ('k', 'v')", [])?;
    ///     Ok(tx.last_insert_rowid())
    /// })
    /// .await?;
    /// # let _ = id; Ok(()) }
    /// ```
    pub fn write<R, F>(&self, job: F) -> WriteHandle<R>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, rx) = oneshot::channel();
        let job: Box<dyn Job> = Box::new(WriteJob { job, reply });
        let refused = match &self.jobs {
            Some(jobs) => jobs.send(job).err().map(|mpsc::SendError(job)| job),
            None => Some(job),
        };
        if let Some(job) = refused {
            job.fail(SqliteError::WriterGone);
        }
        WriteHandle { rx }
    }

    /// [`write`](Sqlite::write), then blocks until the outcome is known.
    ///
    /// # Errors
    ///
    /// [`SqliteError::Job`] or [`SqliteError::JobPanicked`] (the job's writes were rolled
    /// back), [`SqliteError::Transaction`] (nothing of the batch was committed),
    /// [`SqliteError::WriterGone`].
    ///
    /// # Panics
    ///
    /// When called from within an async runtime; `.await` [`write`](Sqlite::write) there.
    pub fn write_blocking<R, F>(&self, job: F) -> Result<R, SqliteError>
    where
        F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
        R: Send + 'static,
    {
        self.write(job).wait()
    }

    /// Runs `read` on a read-only connection from the pool, waiting for one to be free.
    /// It sees every write whose handle has resolved `Ok`; statements in one explicit
    /// transaction (`BEGIN` … `COMMIT` through `execute_batch`) see one snapshot. It runs
    /// on the calling thread: in async code, call it through `spawn_blocking` when it may
    /// take long.
    ///
    /// ```no_run
    /// # fn f(db: &mcp_oauth_transport_adapters::store::Sqlite) -> Result<(), mcp_oauth_transport_adapters::store::SqliteError> {
    /// let rows: i64 = db.read(|c| c.query_row("SELECT count(*) FROM kv", [], |r| r.get(0)))?;
    /// # let _ = rows; Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// [`SqliteError::Job`] with the error `read` returned.
    pub fn read<R>(
        &self,
        read: impl FnOnce(&Connection) -> Result<R, rusqlite::Error>,
    ) -> Result<R, SqliteError> {
        let mut pool = self.readers.lock().unwrap_or_else(PoisonError::into_inner);
        let conn = loop {
            match pool.pop() {
                Some(conn) => break conn,
                None => {
                    pool = self
                        .reader_free
                        .wait(pool)
                        .unwrap_or_else(PoisonError::into_inner)
                }
            }
        };
        drop(pool);
        // The connection goes back to the pool even if `read` panics.
        let result = catch_unwind(AssertUnwindSafe(|| read(&conn)));
        self.readers
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(conn);
        self.reader_free.notify_one();
        match result {
            Ok(result) => result.map_err(SqliteError::Job),
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// The counters so far.
    #[must_use]
    pub fn stats(&self) -> SqliteStats {
        let c = &self.counters;
        SqliteStats {
            jobs_committed: c.jobs_committed.load(Ordering::Relaxed),
            jobs_failed: c.jobs_failed.load(Ordering::Relaxed),
            transactions_committed: c.transactions_committed.load(Ordering::Relaxed),
        }
    }

    /// The database file.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Sqlite {
    fn drop(&mut self) {
        // Closing the queue lets the writer finish what is queued, then return.
        drop(self.jobs.take());
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
    }
}

/// The newest version, once the versions are known to start above 0 and increase.
fn check_order(migrations: &[Migration]) -> Result<u32, SqliteError> {
    let mut newest = 0;
    for m in migrations {
        if m.version <= newest {
            return Err(SqliteError::MigrationOrder { version: m.version });
        }
        newest = m.version;
    }
    Ok(newest)
}

/// Creates the file with mode 0600 (so neither SQLite nor a umask ever leaves it
/// readable by others), or tightens an existing one, and its `-wal` and `-shm` files, to
/// 0600.
#[cfg(unix)]
fn create_private(path: &Path) -> Result<(), SqliteError> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};

    let io_error = |source| SqliteError::Io {
        path: path.to_path_buf(),
        source,
    };
    let private = || std::fs::Permissions::from_mode(0o600);
    let new = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path);
    match new {
        Ok(file) => {
            // Make the new file and its directory entry durable before anything is
            // committed into it.
            file.sync_all().map_err(io_error)?;
            let parent = path.parent().filter(|p| !p.as_os_str().is_empty());
            std::fs::File::open(parent.unwrap_or(Path::new(".")))
                .and_then(|dir| dir.sync_all())
                .map_err(io_error)
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            for suffix in ["", "-wal", "-shm"] {
                let mut file = path.as_os_str().to_owned();
                file.push(suffix);
                match std::fs::metadata(&file) {
                    Ok(meta) if meta.permissions().mode() & 0o077 != 0 => {
                        std::fs::set_permissions(&file, private()).map_err(io_error)?;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound && !suffix.is_empty() => {}
                    Err(e) => return Err(io_error(e)),
                }
            }
            Ok(())
        }
        Err(e) => Err(io_error(e)),
    }
}

/// Creates the file if missing (file modes are a Unix matter).
#[cfg(not(unix))]
fn create_private(path: &Path) -> Result<(), SqliteError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .open(path)
        .map(drop)
        .map_err(|source| SqliteError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Runs each migration above the database's `user_version`, each in its own
/// `BEGIN IMMEDIATE` transaction with the `user_version` bump.
fn migrate(
    conn: &mut Connection,
    migrations: &[Migration],
    newest: u32,
) -> Result<(), SqliteError> {
    let user_version =
        |c: &Connection| c.pragma_query_value(None, "user_version", |r| r.get::<_, u32>(0));
    let found = user_version(conn).map_err(SqliteError::Open)?;
    if found > newest {
        return Err(SqliteError::NewerSchema {
            found,
            known: newest,
        });
    }
    for m in migrations.iter().filter(|m| m.version > found) {
        let failed = |source| SqliteError::Migration {
            version: m.version,
            source,
        };
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        // Another process may have migrated since we looked.
        if user_version(&tx).map_err(failed)? >= m.version {
            continue;
        }
        tx.execute_batch(m.sql)
            .and_then(|()| tx.pragma_update(None, "user_version", m.version))
            .and_then(|()| tx.commit())
            .map_err(failed)?;
    }
    Ok(())
}
