//! The writer thread: group commit, one savepoint per job, replies after `COMMIT`.

use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

use rusqlite::{Connection, Transaction, TransactionBehavior};
use tokio::sync::oneshot;

use super::SqliteError;

/// The outcome of a [`Sqlite::write`](super::Sqlite::write), delivered once the job's transaction has
/// committed (or failed). `.await` it in async code, or [`wait`](WriteHandle::wait) for
/// it in blocking code. Dropping it does not cancel the job.
#[derive(Debug)]
#[must_use = "the job runs anyway; its outcome is only known through the handle"]
pub struct WriteHandle<R> {
    pub(super) rx: oneshot::Receiver<Result<R, SqliteError>>,
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
pub(super) trait Job: Send {
    /// Runs the job inside the batch's transaction (its savepoint already open).
    fn run(self: Box<Self>, tx: &Transaction<'_>) -> Box<dyn Ran>;
    /// Replies with `error` without running the job.
    fn fail(self: Box<Self>, error: SqliteError);
}

/// A job that has run, holding its result until its transaction's fate is known.
pub(super) trait Ran: Send {
    fn succeeded(&self) -> bool;
    /// Replies: the job's own result if `batch` is `None` (committed), else `batch`
    /// for a job that had succeeded (a failed job keeps its own, more precise, error).
    fn reply(self: Box<Self>, batch: Option<SqliteError>);
}

pub(super) struct WriteJob<F, R> {
    pub(super) job: F,
    pub(super) reply: oneshot::Sender<Result<R, SqliteError>>,
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
pub(super) struct Counters {
    pub(super) jobs_committed: AtomicU64,
    pub(super) jobs_failed: AtomicU64,
    pub(super) transactions_committed: AtomicU64,
}

impl Counters {
    fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(u64::try_from(n).unwrap_or(u64::MAX), Ordering::Relaxed);
    }
}

/// The writer thread: block for a job, take whatever else is queued (up to `max_batch`),
/// commit them together; until the queue is closed and empty.
pub(super) fn run_writer(
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
