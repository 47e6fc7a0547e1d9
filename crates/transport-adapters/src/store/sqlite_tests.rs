//! The SQLite engine against real files in a temporary directory.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use proptest::prelude::*;

use super::{Migration, Sqlite, SqliteConfig, SqliteError, Synchronous};

const SCHEMA: &[Migration] = &[
    // Run twice, the INSERT would fail on the primary key: a reopen that succeeds shows
    // the migration was skipped.
    Migration {
        version: 1,
        sql: "CREATE TABLE counter (id INTEGER PRIMARY KEY, n INTEGER NOT NULL);
              INSERT INTO counter VALUES (1, 0);",
    },
    Migration {
        version: 2,
        sql: "CREATE TABLE kv (k INTEGER PRIMARY KEY, v INTEGER NOT NULL);",
    },
];

/// A directory under the system's temporary directory, removed on drop.
pub(super) struct TempDir(PathBuf);

impl TempDir {
    pub(super) fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "mcp-oauth-sqlite-{}-{name}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(super) fn db(&self) -> PathBuf {
        self.0.join("state.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(dir: &TempDir) -> Sqlite {
    Sqlite::open(SqliteConfig::new(dir.db()), SCHEMA).unwrap()
}

fn mode(path: &std::path::Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

fn insert(db: &Sqlite, k: i64, v: i64) -> Result<usize, SqliteError> {
    db.write_blocking(move |tx| tx.execute("INSERT INTO kv VALUES (?1, ?2)", (k, v)))
}

fn get(db: &Sqlite, k: i64) -> Option<i64> {
    db.read(|c| {
        c.query_row("SELECT v FROM kv WHERE k = ?1", [k], |r| r.get(0))
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })
    })
    .unwrap()
}

#[test]
fn files_are_private_and_pragmas_are_wal_full() {
    let dir = TempDir::new("pragmas");
    let db = open(&dir);
    insert(&db, 1, 1).unwrap();
    assert_eq!(mode(&dir.db()), 0o600);
    assert_eq!(
        mode(&dir.0.join("state.db-wal")),
        0o600,
        "SQLite copies the mode"
    );
    let journal: String = db
        .read(|c| c.pragma_query_value(None, "journal_mode", |r| r.get(0)))
        .unwrap();
    assert_eq!(journal, "wal");
    let (sync, fk): (i64, i64) = db
        .write_blocking(|tx| {
            let sync = tx.pragma_query_value(None, "synchronous", |r| r.get(0))?;
            Ok((
                sync,
                tx.pragma_query_value(None, "foreign_keys", |r| r.get(0))?,
            ))
        })
        .unwrap();
    assert_eq!((sync, fk), (2, 1), "synchronous=FULL, foreign_keys=ON");
    drop(db);

    let mut config = SqliteConfig::new(dir.db());
    config.synchronous = Synchronous::Normal;
    let db = Sqlite::open(config, SCHEMA).unwrap();
    let sync: i64 = db
        .write_blocking(|tx| tx.pragma_query_value(None, "synchronous", |r| r.get(0)))
        .unwrap();
    assert_eq!(sync, 1, "synchronous=NORMAL");
}

#[test]
fn an_existing_file_open_to_others_is_tightened() {
    let dir = TempDir::new("tighten");
    // Empty files are a valid empty database and an empty WAL.
    let wal = dir.0.join("state.db-wal");
    for file in [dir.db(), wal.clone()] {
        std::fs::write(&file, b"").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    let db = open(&dir);
    assert_eq!((mode(&dir.db()), mode(&wal)), (0o600, 0o600));
    insert(&db, 1, 2).unwrap();
    assert_eq!(get(&db, 1), Some(2));
}

#[test]
fn migrations_run_once_in_order_and_a_newer_schema_is_refused() {
    let dir = TempDir::new("migrations");
    let user_version = |db: &Sqlite| -> u32 {
        db.read(|c| c.pragma_query_value(None, "user_version", |r| r.get(0)))
            .unwrap()
    };
    let db = open(&dir);
    assert_eq!(user_version(&db), 2);
    insert(&db, 7, 8).unwrap();
    drop(db);

    // Reopening skips both (migration 1 would fail on its INSERT).
    let db = open(&dir);
    assert_eq!(user_version(&db), 2);
    let rows: i64 = db
        .read(|c| c.query_row("SELECT count(*) FROM counter", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(rows, 1);
    drop(db);

    // A new migration runs alone; one that fails leaves the version where it was.
    let mut more = SCHEMA.to_vec();
    more.push(Migration {
        version: 3,
        sql: "ALTER TABLE kv ADD COLUMN note TEXT;",
    });
    let db = Sqlite::open(SqliteConfig::new(dir.db()), &more).unwrap();
    assert_eq!(user_version(&db), 3);
    assert_eq!(get(&db, 7), Some(8));
    drop(db);
    more.push(Migration {
        version: 4,
        sql: "CREATE TABLE t4 (x); SELECT * FROM no_such_table;",
    });
    let err = Sqlite::open(SqliteConfig::new(dir.db()), &more).unwrap_err();
    assert!(
        matches!(err, SqliteError::Migration { version: 4, .. }),
        "{err:?}"
    );
    more.pop();

    // This program knows only up to 2: the database (at 3) is refused.
    let err = Sqlite::open(SqliteConfig::new(dir.db()), SCHEMA).unwrap_err();
    assert!(
        matches!(err, SqliteError::NewerSchema { found: 3, known: 2 }),
        "{err:?}"
    );
    let db = Sqlite::open(SqliteConfig::new(dir.db()), &more).unwrap();
    assert_eq!(user_version(&db), 3, "migration 4 was rolled back whole");
    let t4: i64 = db
        .read(|c| {
            c.query_row(
                "SELECT count(*) FROM sqlite_master WHERE name = 't4'",
                [],
                |r| r.get(0),
            )
        })
        .unwrap();
    assert_eq!(t4, 0);

    for bad in [
        &[Migration {
            version: 0,
            sql: "",
        }][..],
        &[SCHEMA[1], SCHEMA[0]],
        &[SCHEMA[0], SCHEMA[0]],
    ] {
        let err = Sqlite::open(SqliteConfig::new(dir.db()), bad).unwrap_err();
        assert!(matches!(err, SqliteError::MigrationOrder { .. }), "{err:?}");
    }
}

#[test]
fn concurrent_writers_all_commit_in_fewer_transactions() {
    let dir = TempDir::new("concurrent");
    let db = Arc::new(open(&dir));
    let threads: Vec<_> = (0..32)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || {
                for _ in 0..50 {
                    db.write_blocking(|tx| {
                        tx.execute("UPDATE counter SET n = n + 1 WHERE id = 1", [])
                    })
                    .unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let n: i64 = db
        .read(|c| c.query_row("SELECT n FROM counter", [], |r| r.get(0)))
        .unwrap();
    assert_eq!(n, 1600);
    let stats = db.stats();
    assert_eq!((stats.jobs_committed, stats.jobs_failed), (1600, 0));
    assert!(
        stats.transactions_committed < stats.jobs_committed,
        "{stats:?}"
    );
    assert!(stats.transactions_committed > 0);
}

#[test]
fn a_failing_job_does_not_roll_back_its_neighbours() {
    let dir = TempDir::new("neighbours");
    let db = open(&dir);
    let (started, wait_started) = mpsc::channel();
    let slow = db.write(move |tx| {
        started.send(()).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        tx.execute("INSERT INTO kv VALUES (0, 0)", [])
    });
    wait_started.recv().unwrap();
    let before = db.stats().transactions_committed;
    let first = db.write(|tx| tx.execute("INSERT INTO kv VALUES (1, 1)", []));
    let failing = db.write(|tx| {
        tx.execute("INSERT INTO kv VALUES (2, 2)", [])?;
        tx.execute("INSERT INTO no_such_table VALUES (1)", [])
    });
    let duplicate = db.write(|tx| tx.execute("INSERT INTO kv VALUES (1, 99)", []));
    let panicking = db.write(|tx| -> Result<(), rusqlite::Error> {
        tx.execute("INSERT INTO kv VALUES (4, 4)", [])?;
        panic!("a bug in a job");
    });
    let last = db.write(|tx| tx.execute("INSERT INTO kv VALUES (3, 3)", []));

    assert_eq!(slow.wait().unwrap(), 1);
    assert_eq!(first.wait().unwrap(), 1);
    assert!(matches!(failing.wait(), Err(SqliteError::Job(_))));
    assert!(matches!(duplicate.wait(), Err(SqliteError::Job(_))));
    assert!(matches!(panicking.wait(), Err(SqliteError::JobPanicked)));
    assert_eq!(last.wait().unwrap(), 1);

    let stats = db.stats();
    assert_eq!(
        stats.transactions_committed - before,
        2,
        "the slow job's batch, then one for the five: {stats:?}"
    );
    assert_eq!((stats.jobs_committed, stats.jobs_failed), (3, 3));
    let rows: Vec<(i64, i64)> = db
        .read(|c| {
            let mut st = c.prepare("SELECT k, v FROM kv ORDER BY k")?;
            st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
        })
        .unwrap();
    assert_eq!(
        rows,
        [(0, 0), (1, 1), (3, 3)],
        "the failed jobs' own writes were rolled back"
    );

    // The writer survived the panic.
    insert(&db, 5, 5).unwrap();
    assert_eq!(get(&db, 5), Some(5));
}

#[test]
fn reads_see_acknowledged_writes_and_data_survives_reopen() {
    let dir = TempDir::new("reopen");
    let db = open(&dir);
    for k in 0..20 {
        insert(&db, k, k * 10).unwrap();
        assert_eq!(
            get(&db, k),
            Some(k * 10),
            "a read after an acknowledged write sees it"
        );
    }
    // Jobs queued just before the drop are finished by it.
    let queued: Vec<_> = (20..40)
        .map(|k| db.write(move |tx| tx.execute("INSERT INTO kv VALUES (?1, ?1)", [k])))
        .collect();
    drop(db);
    for h in queued {
        assert_eq!(h.wait().unwrap(), 1);
    }
    let db = open(&dir);
    let (n, sum): (i64, i64) = db
        .read(|c| {
            c.query_row("SELECT count(*), sum(v) FROM kv", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
        })
        .unwrap();
    assert_eq!(n, 40);
    assert_eq!(
        sum,
        (0..20).map(|k| k * 10).sum::<i64>() + (20..40).sum::<i64>()
    );
}

#[test]
fn readers_wait_for_a_free_connection() {
    let dir = TempDir::new("readers");
    let mut config = SqliteConfig::new(dir.db());
    config.readers = 1;
    let db = Arc::new(Sqlite::open(config, SCHEMA).unwrap());
    insert(&db, 1, 1).unwrap();
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let db = Arc::clone(&db);
            std::thread::spawn(move || (0..20).map(|_| get(&db, 1).unwrap()).sum::<i64>())
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 20);
    }
    // A read error is the read's own.
    assert!(
        matches!(
            db.read(|c| c.execute("DELETE FROM kv", [])),
            Err(SqliteError::Job(_))
        ),
        "readers are read-only"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn writes_can_be_awaited() {
    let dir = TempDir::new("async");
    let db = open(&dir);
    let rowid = db
        .write(|tx| {
            tx.execute("INSERT INTO kv VALUES (42, 1)", [])?;
            Ok(tx.last_insert_rowid())
        })
        .await
        .unwrap();
    assert_eq!(rowid, 42);
    let err = db
        .write(|tx| tx.execute("INSERT INTO kv VALUES (42, 2)", []))
        .await
        .unwrap_err();
    assert!(matches!(err, SqliteError::Job(_)), "{err}");
    assert_eq!(get(&db, 42), Some(1));
}

#[derive(Debug, Clone, Copy)]
enum Op {
    /// Fails (primary key) when `k` is present.
    Insert(i64, i64),
    Delete(i64),
    /// Writes, then fails: must leave no trace.
    WriteThenFail(i64, i64),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0..8i64, any::<i64>()).prop_map(|(k, v)| Op::Insert(k, v)),
        (0..8i64).prop_map(Op::Delete),
        (0..8i64, any::<i64>()).prop_map(|(k, v)| Op::WriteThenFail(k, v)),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Jobs queued without waiting (so batched, up to `max_batch`), some failing, leave
    /// the table equal to a model that applies only the ones that succeed.
    #[test]
    fn jobs_match_a_model(ops in proptest::collection::vec(op(), 1..80), max_batch in 1usize..6) {
        let dir = TempDir::new("model");
        let mut config = SqliteConfig::new(dir.db());
        config.max_batch = max_batch;
        let db = Sqlite::open(config, SCHEMA).unwrap();
        let handles: Vec<_> = ops
            .iter()
            .map(|&op| match op {
                Op::Insert(k, v) => db.write(move |tx| tx.execute("INSERT INTO kv VALUES (?1, ?2)", (k, v))),
                Op::Delete(k) => db.write(move |tx| tx.execute("DELETE FROM kv WHERE k = ?1", [k])),
                Op::WriteThenFail(k, v) => db.write(move |tx| {
                    tx.execute("INSERT OR REPLACE INTO kv VALUES (?1, ?2)", (k, v))?;
                    Err(rusqlite::Error::QueryReturnedNoRows)
                }),
            })
            .collect();
        let mut model = HashMap::new();
        for (op, handle) in ops.iter().zip(handles) {
            let result = handle.wait();
            match *op {
                Op::Insert(k, v) => {
                    let fresh = !model.contains_key(&k);
                    prop_assert_eq!(result.is_ok(), fresh, "{:?}", result);
                    if fresh {
                        model.insert(k, v);
                    }
                }
                Op::Delete(k) => {
                    prop_assert_eq!(result.unwrap(), usize::from(model.remove(&k).is_some()));
                }
                Op::WriteThenFail(..) => prop_assert!(matches!(result, Err(SqliteError::Job(_)))),
            }
        }
        let table: HashMap<i64, i64> = db
            .read(|c| {
                let mut st = c.prepare("SELECT k, v FROM kv")?;
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect()
            })
            .unwrap();
        prop_assert_eq!(table, model);
        let stats = db.stats();
        prop_assert_eq!(stats.jobs_committed + stats.jobs_failed, ops.len() as u64);
    }
}
