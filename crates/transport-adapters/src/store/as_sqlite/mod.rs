//! The authorization server's state on SQLite: [`SqliteStorage`] implements
//! [`Storage`] with every [`Op`] applied as one job of the group-commit writer (one
//! transaction, committed with `synchronous=FULL` before the outcome is returned), and
//! reads on the WAL reader pool.
//!
//! Blocking: [`Storage::apply`] waits for the commit. Call it from a thread that may
//! block (a plain thread, or `tokio::task::spawn_blocking`), never from an async task.

use std::net::IpAddr;

use mcp_oauth_authorization_server::{
    CodeRecord, Digest, Op, Outcome, RefreshRecord, Storage, StoredClient,
};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::ClientMetadata;
use rusqlite::{Connection, OptionalExtension};

use super::{Migration, Sqlite, SqliteConfig, SqliteError};

mod apply;

use apply::apply_in;

/// The schema, versioned: a new version is a new entry, never an edit of an old one.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("schema_v1.sql"),
}];

/// The authorization server's [`Storage`] in a SQLite file.
///
/// ```
/// use mcp_oauth_authorization_server::{Storage, store_conformance};
/// use mcp_oauth_transport_adapters::store::{SqliteConfig, SqliteStorage};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = std::env::temp_dir().join(format!("mcp-oauth-as-doc-{}", std::process::id()));
/// # std::fs::create_dir_all(&dir)?;
/// let store = SqliteStorage::open(SqliteConfig::new(dir.join("as.db")))?;
/// store.purge(mcp_oauth_common::UnixTime(1_800_000_000));
/// # drop(store);
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct SqliteStorage {
    db: Sqlite,
}

impl SqliteStorage {
    /// Opens (creating when missing, mode 0600) and migrates the database.
    ///
    /// # Errors
    ///
    /// [`SqliteError`] when the file cannot be opened, is not in WAL mode, or holds a
    /// newer schema than this version knows.
    pub fn open(config: SqliteConfig) -> Result<Self, SqliteError> {
        Ok(SqliteStorage {
            db: Sqlite::open(config, MIGRATIONS)?,
        })
    }

    /// The engine (for its statistics).
    pub fn engine(&self) -> &Sqlite {
        &self.db
    }

    /// A read; `None` when it failed. Callers turn a failure into a refusal: a record
    /// that cannot be read is "not stored" (unknown code, token or client), a revocation
    /// that cannot be read counts as revoked.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Option<R> {
        self.db.read(f).ok()
    }
}

fn secs(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

fn time(v: i64) -> UnixTime {
    UnixTime(u64::try_from(v).unwrap_or(0))
}

fn digest_of(v: Vec<u8>) -> Option<Digest> {
    v.try_into().ok()
}

const CLIENT_COLUMNS: &str = "client_id, secret_hash, metadata, cache_until, kind, source, \
                              registered_at, unused_until, granted";

fn client_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Option<StoredClient>> {
    let id: String = r.get(0)?;
    let secret: Option<Vec<u8>> = r.get(1)?;
    let metadata: String = r.get(2)?;
    let cache_until: Option<i64> = r.get(3)?;
    let kind: String = r.get(4)?;
    let source: Option<String> = r.get(5)?;
    let registered_at: Option<i64> = r.get(6)?;
    let unused_until: Option<i64> = r.get(7)?;
    let granted: bool = r.get(8)?;
    let Ok(metadata) = serde_json::from_str::<ClientMetadata>(&metadata) else {
        return Ok(None);
    };
    let secret_hash = match secret {
        Some(s) => match digest_of(s) {
            Some(d) => Some(d),
            None => return Ok(None),
        },
        None => None,
    };
    let mut c = match kind.as_str() {
        "registered" => StoredClient::registered(
            id,
            secret_hash,
            metadata,
            source.and_then(|s| s.parse::<IpAddr>().ok()),
            time(registered_at.unwrap_or(0)),
            time(unused_until.unwrap_or(0)),
        ),
        "document" => StoredClient::document(id, metadata, time(cache_until.unwrap_or(0))),
        _ => StoredClient::new(id, secret_hash, metadata),
    };
    c.cache_until = cache_until.map(time);
    c.granted = granted;
    Ok(Some(c))
}

impl Storage for SqliteStorage {
    fn blocking(&self) -> bool {
        true
    }

    fn client(&self, client_id: &str) -> Option<StoredClient> {
        let id = client_id.to_owned();
        self.read(move |c| {
            c.query_row(
                &format!("SELECT {CLIENT_COLUMNS} FROM clients WHERE client_id = ?1"),
                [&id],
                client_row,
            )
            .optional()
        })
        .flatten()
        .flatten()
    }

    fn code(&self, digest: &Digest) -> Option<(CodeRecord, bool)> {
        let d = digest.to_vec();
        self.read(move |c| {
            c.query_row(
                "SELECT client_id, redirect_uri, challenge, resource, scope, subject, expires_at, family, spent
                 FROM codes WHERE digest = ?1",
                [d],
                |r| {
                    Ok((
                        CodeRecord {
                            client_id: r.get(0)?,
                            redirect_uri: r.get(1)?,
                            challenge: r.get(2)?,
                            resource: r.get(3)?,
                            scope: r.get(4)?,
                            subject: r.get(5)?,
                            expires_at: time(r.get(6)?),
                            family: r.get(7)?,
                        },
                        r.get(8)?,
                    ))
                },
            )
            .optional()
        })
        .flatten()
    }

    fn refresh(&self, digest: &Digest) -> Option<RefreshRecord> {
        let d = digest.to_vec();
        self.read(move |c| {
            c.query_row(
                "SELECT family, client_id, subject, scope, resource, expires_at, rotated
                 FROM refresh_tokens WHERE digest = ?1",
                [d],
                |r| {
                    Ok(RefreshRecord {
                        family: r.get(0)?,
                        client_id: r.get(1)?,
                        subject: r.get(2)?,
                        scope: r.get(3)?,
                        resource: r.get(4)?,
                        expires_at: time(r.get(5)?),
                        rotated: r.get(6)?,
                    })
                },
            )
            .optional()
        })
        .flatten()
    }

    fn access_revoked(&self, jti: &str) -> bool {
        let jti = jti.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT a.revoked OR EXISTS (SELECT 1 FROM revoked_families f WHERE f.family = a.family)
                 FROM access_tokens a WHERE a.jti = ?1",
                [jti],
                |r| r.get::<_, bool>(0),
            )
            .optional()
        })
        // Not stored: not revoked (as in memory). A failed read: revoked, so that a
        // storage failure never makes a revoked token look active.
        .is_none_or(|revoked| revoked.unwrap_or(false))
    }

    fn family_revoked(&self, family: &str) -> bool {
        let family = family.to_owned();
        self.read(move |c| {
            c.query_row(
                "SELECT count(*) FROM revoked_families WHERE family = ?1",
                [family],
                |r| r.get::<_, i64>(0),
            )
        })
        // A failed read counts as revoked: refuse rather than grant.
        .is_none_or(|n| n > 0)
    }

    fn apply(&self, op: Op) -> Outcome {
        self.db
            .write_blocking(move |tx| apply_in(tx, &op))
            .unwrap_or(Outcome::Unavailable)
    }
}
