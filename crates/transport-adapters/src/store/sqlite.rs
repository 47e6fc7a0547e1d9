//! SQLite with one writer thread and group commit, WAL readers, and versioned migrations.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::fmt;
use std::fs::OpenOptions;
use std::io;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

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
    fn pragma(self) -> &'static str {
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
    /// with `SQLITE_BUSY` (5 s by default). Within one [`Sqlite`], writes never wait for
    /// each other (one writer thread) and WAL readers never wait for the writer.
    pub busy_timeout: Duration,
    /// Read-only connections in the pool behind [`Sqlite::read`] (4 by default; at
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

/// Counters since [`Sqlite::open`]. Under concurrent writers `transactions_committed`
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

/// What can go wrong opening, reading or writing a [`Sqlite`].
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
    /// The migrations given to [`Sqlite::open`] do not start above 0 or do not strictly
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

/// The outcome of a [`Sqlite::write`], delivered once the job's transaction has
/// committed (or failed). `.await` it in async code, or [`wait`](WriteHandle::wait) for
/// it in blocking code. Dropping it does not cancel the job.
#[derive(Debug)]
#[must_use = "the job runs anyway; its outcome is only known through the handle"]
pub struct WriteHandle<R> {
    rx: oneshot::Receiver<Result<R, SqliteError>>,
}

impl<R> WriteHandle<R> {
    /// Blocks the current thread until the job's outcome is known.
    ///
    /// # Errors
    ///
    /// The job's error, its transaction's, or [`SqliteError::WriterGone`].
    ///
    /// # Panics
    ///
    /// When called from within an async runtime (tokio refuses to block its threads);
    /// `.await` the handle there instead.
    pub fn wait(self) -> Result<R, SqliteError> {
        self.rx
            .blocking_recv()
            .unwrap_or(Err(SqliteError::WriterGone))
    }
}

impl<R> Future for WriteHandle<R> {
    type Output = Result<R, SqliteError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.rx)
            .poll(cx)
            .map(|r| r.unwrap_or(Err(SqliteError::WriterGone)))
    }
}

/// A write job with its reply channel, its result type erased for the writer's queue.
trait Job: Send {
    /// Runs the job inside the batch's transaction (its savepoint already open).
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Ran>;
    /// Replies with `error` without running the job.
    fn fail(self: Box<Self>, error: SqliteError);
}

/// A job that has run, holding its result until its transaction's fate is known.
trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// Replies: the job's own result if `batch` is `None` (committed), else `batch`
    /// for a job that had succeeded (a failed job keeps its own, more precise, error).
    fn reply(self: Box<Self>, batch: Option<SqliteError>);
}

struct WriteJob<F, R> {
    job: F,
    reply: oneshot::Sender<Result<R, SqliteError>>,
}

struct Done<R> {
    result: Result<R, SqliteError>,
    reply: oneshot::Sender<Result<R, SqliteError>>,
}

impl<F, R> Job for WriteJob<F, R>
where
    F: FnOnce(&Transaction<'_>) -> Result<R, rusqlite::Error> + Send + 'static,
    R: Send + 'static,
{
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Ran> {
        let WriteJob { job, reply } = *self;
        let result = match catch_unwind(AssertUnwindSafe(|| job(tx))) {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => Err(SqliteError::Job(e)),
            Err(_) => Err(SqliteError::JobPanicked),
        };
        Box::new(Done { result, reply })
    }

    fn fail(self: Box<Self>, error: SqliteError) {
        // A caller that dropped its handle does not want the outcome.
        let _ = self.reply.send(Err(error));
    }
}

impl<R: Send> Ran for Done<R> {
    fn succeeded(&self) -> bool {
        self.result.is_ok()
    }

    fn reply(self: Box<Self>, batch: Option<SqliteError>) {
        let result = match (self.result, batch) {
            (Ok(_), Some(error)) => Err(error),
            (result, _) => result,
        };
        let _ = self.reply.send(result);
    }
}

#[derive(Default)]
struct Counters {
    jobs_committed: AtomicU64,
    jobs_failed: AtomicU64,
    transactions_committed: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

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

/// The writer thread: block for a job, take whatever else is queued (up to `max_batch`),
/// commit them together; until the queue is closed and empty.
fn run_writer(
    mut conn: Connection,
    queue: &mpsc::Receiver<Box<dyn Job>>,
    max_batch: usize,
    counters: &Counters,
) {
    while let Ok(first) = queue.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, batch, counters);
    }
}

/// One transaction for the batch, one savepoint per job; replies only after `COMMIT`.
fn commit_batch(conn: &mut Connection, batch: Vec<Box<dyn Job>>, counters: &Counters) {
    if !conn.is_autocommit() {
        // A transaction left open by a failed rollback: clear it before beginning.
        let _ = conn.execute_batch("ROLLBACK");
    }
    let mut jobs = batch.into_iter();
    let mut ran: Vec<Box<dyn Ran>> = Vec::with_capacity(jobs.len());
    let mut unrun: Vec<Box<dyn Job>> = Vec::new();
    let outcome = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .and_then(|tx| {
            for job in jobs.by_ref() {
                if let Err(e) = tx.execute_batch("SAVEPOINT job") {
                    unrun.push(job);
                    return Err(e);
                }
                let done = job.run(&tx);
                let end = if done.succeeded() {
                    "RELEASE job"
                } else {
                    "ROLLBACK TO job; RELEASE job"
                };
                ran.push(done);
                // On error the jobs can no longer be kept apart: the batch is abandoned,
                // and rolled back as `tx` drops.
                tx.execute_batch(end)?;
            }
            tx.commit()
        });
    match outcome {
        Ok(()) => {
            counters
                .transactions_committed
                .fetch_add(1, Ordering::Relaxed);
            let succeeded = ran.iter().filter(|r| r.succeeded()).count();
            Counters::add(&counters.jobs_committed, succeeded);
            Counters::add(&counters.jobs_failed, ran.len().saturating_sub(succeeded));
            for done in ran {
                done.reply(None);
            }
        }
        Err(e) => {
            let e = Arc::new(e);
            let unrun: Vec<_> = unrun.into_iter().chain(jobs).collect();
            Counters::add(&counters.jobs_failed, ran.len().saturating_add(unrun.len()));
            for done in ran {
                done.reply(Some(SqliteError::Transaction(Arc::clone(&e))));
            }
            for job in unrun {
                job.fail(SqliteError::Transaction(Arc::clone(&e)));
            }
        }
    }
}
