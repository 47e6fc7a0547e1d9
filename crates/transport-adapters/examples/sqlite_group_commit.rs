//! Group commit, measured: 32 threads write single-row jobs to a `synchronous=FULL`
//! database (one `fsync` per transaction) and wait for each; prints jobs per second and
//! jobs per transaction.
//!
//! ```text
//! cargo run --release -p mcp-oauth-transport-adapters --features sqlite \
//!     --example sqlite_group_commit [-- JOBS [MAX_BATCH]]
//! ```
//!
//! `JOBS` defaults to 20,000 and `MAX_BATCH` to 256; `MAX_BATCH` 1 turns group commit off
//! (one transaction, so one `fsync`, per job) for comparison. The database lives in the
//! system's temporary directory and is removed afterwards.

use std::error::Error;
use std::sync::Arc;
use std::time::Instant;

use mcp_oauth_transport_adapters::store::{Migration, Sqlite, SqliteConfig};

const THREADS: usize = 32;

fn main() -> Result<(), Box<dyn Error>> {
    let mut args = std::env::args().skip(1);
    let jobs: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let max_batch: usize = args.next().map_or(Ok(256), |a| a.parse())?;

    let dir = std::env::temp_dir().join(format!("mcp-oauth-group-commit-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let result = run(&dir, jobs, max_batch);
    std::fs::remove_dir_all(&dir)?;
    result
}

fn run(dir: &std::path::Path, jobs: usize, max_batch: usize) -> Result<(), Box<dyn Error>> {
    let mut config = SqliteConfig::new(dir.join("bench.db"));
    config.max_batch = max_batch;
    let migrations = [Migration {
        version: 1,
        sql: "CREATE TABLE rows (id INTEGER PRIMARY KEY, thread INTEGER NOT NULL, body TEXT NOT NULL);",
    }];
    let db = Arc::new(Sqlite::open(config, &migrations)?);

    let started = Instant::now();
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let db = Arc::clone(&db);
            // The jobs split as evenly as they go.
            let mine = jobs / THREADS + usize::from(t < jobs % THREADS);
            let id = u32::try_from(t).unwrap_or(u32::MAX);
            std::thread::spawn(move || {
                for _ in 0..mine {
                    db.write_blocking(move |tx| {
                        tx.execute(
                            "INSERT INTO rows (thread, body) VALUES (?1, 'a row of about forty bytes of text')",
                            [id],
                        )
                    })?;
                }
                Ok::<_, mcp_oauth_transport_adapters::store::SqliteError>(())
            })
        })
        .collect();
    for t in threads {
        t.join().map_err(|_| "a writer thread panicked")??;
    }
    let elapsed = started.elapsed();

    let rows: i64 = db.read(|c| c.query_row("SELECT count(*) FROM rows", [], |r| r.get(0)))?;
    let stats = db.stats();
    let secs = elapsed.as_secs_f64();
    println!("synchronous=FULL, {THREADS} threads, max batch {max_batch}");
    println!(
        "{} jobs committed ({rows} rows) in {secs:.2} s: {:.0} jobs/s",
        stats.jobs_committed,
        stats.jobs_committed as f64 / secs
    );
    println!(
        "{} transactions: {:.1} jobs per transaction, {:.0} transactions/s",
        stats.transactions_committed,
        stats.jobs_committed as f64 / stats.transactions_committed.max(1) as f64,
        stats.transactions_committed as f64 / secs
    );
    Ok(())
}
