//! The authorization server's state on SQLite: [`SqliteStorage`] implements
//! [`Storage`] with every [`Op`] applied as one job of the group-commit writer (one
//! transaction, committed with `synchronous=FULL` before the outcome is returned), and
//! reads on the WAL reader pool.
//!
//! Blocking: [`Storage::apply`] waits for the commit. Call it from a thread that may
//! block (a plain thread, or `tokio::task::spawn_blocking`), never from an async task.

use std::net::IpAddr;

use mcp_oauth_authorization_server::{
    ClientKind, CodeRecord, Digest, Issued, Op, Outcome, REVOCATION_GRACE, RefreshRecord, Storage,
    StoredClient,
};
use mcp_oauth_authorization_server::{ClientLimitReached, ClientLimits};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::ClientMetadata;
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::{Migration, Sqlite, SqliteConfig, SqliteError};

/// The schema, versioned: a new version is a new entry, never an edit of an old one.
pub const MIGRATIONS: &[Migration] = &[Migration {
    version: 1,
    sql: include_str!("as_schema_v1.sql"),
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

fn put_client(tx: &Transaction<'_>, c: &StoredClient) -> rusqlite::Result<()> {
    let metadata = serde_json::to_string(&c.metadata)
        .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
    let (kind, source, registered_at, unused_until) = match c.kind {
        ClientKind::Registered {
            source,
            registered_at,
            unused_until,
        } => (
            "registered",
            source.map(|s| s.to_string()),
            Some(secs(registered_at)),
            Some(secs(unused_until)),
        ),
        ClientKind::Document => ("document", None, None, None),
        _ => ("configured", None, None, None),
    };
    tx.execute(
        &format!("INSERT OR REPLACE INTO clients ({CLIENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"),
        params![
            c.client_id,
            c.secret_hash.map(|d| d.to_vec()),
            metadata,
            c.cache_until.map(secs),
            kind,
            source,
            registered_at,
            unused_until,
            c.granted,
        ],
    )?;
    Ok(())
}

/// Forgets clients nobody needs any more: pending registrations past their time and stale
/// documents, unless a stored code or refresh token names them.
fn purge_clients(tx: &Transaction<'_>, now: i64) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM clients
         WHERE client_id NOT IN (SELECT client_id FROM codes UNION SELECT client_id FROM refresh_tokens)
           AND ((kind = 'registered' AND granted = 0 AND unused_until <= ?1)
             OR (kind = 'document' AND (cache_until IS NULL OR cache_until <= ?1)))",
        [now],
    )?;
    Ok(())
}

fn count(tx: &Transaction<'_>, sql: &str, p: impl rusqlite::Params) -> rusqlite::Result<usize> {
    let n: i64 = tx.query_row(sql, p, |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

fn first_unused_until(
    tx: &Transaction<'_>,
    now: i64,
    source: Option<&str>,
) -> rusqlite::Result<Option<UnixTime>> {
    let t: Option<i64> = tx.query_row(
        "SELECT min(unused_until) FROM clients
         WHERE kind = 'registered' AND granted = 0 AND unused_until > ?1
           AND (?2 IS NULL OR source = ?2)",
        params![now, source],
        |r| r.get(0),
    )?;
    Ok(t.map(time))
}

fn add_client(
    tx: &Transaction<'_>,
    client: &StoredClient,
    limits: &ClientLimits,
    now: UnixTime,
) -> rusqlite::Result<Result<(), ClientLimitReached>> {
    let n = secs(now);
    match client.kind {
        ClientKind::Registered { source, .. } => {
            let registered = "SELECT count(*) FROM clients WHERE kind = 'registered'";
            if count(tx, registered, [])? >= limits.max_registered {
                purge_clients(tx, n)?;
                if count(tx, registered, [])? >= limits.max_registered {
                    let retry_at = first_unused_until(tx, n, None)?;
                    return Ok(Err(ClientLimitReached::Total { retry_at }));
                }
            }
            if let Some(src) = source.map(|s| s.to_string()) {
                let pending = count(
                    tx,
                    "SELECT count(*) FROM clients WHERE kind = 'registered' AND source = ?1
                       AND granted = 0 AND unused_until > ?2",
                    params![src, n],
                )?;
                if pending >= limits.max_pending_per_source {
                    let retry_at = first_unused_until(tx, n, Some(&src))?;
                    return Ok(Err(ClientLimitReached::Source { retry_at }));
                }
            }
        }
        ClientKind::Document => {
            let replaces = count(
                tx,
                "SELECT count(*) FROM clients WHERE client_id = ?1 AND kind = 'document'",
                [&client.client_id],
            )? > 0;
            let documents = "SELECT count(*) FROM clients WHERE kind = 'document'";
            if !replaces && count(tx, documents, [])? >= limits.max_documents {
                purge_clients(tx, n)?;
                if count(tx, documents, [])? >= limits.max_documents {
                    return Ok(Err(ClientLimitReached::Total { retry_at: None }));
                }
            }
        }
        _ => {}
    }
    put_client(tx, client)?;
    Ok(Ok(()))
}

fn family_revoked(tx: &Transaction<'_>, family: &str) -> rusqlite::Result<bool> {
    Ok(count(
        tx,
        "SELECT count(*) FROM revoked_families WHERE family = ?1",
        [family],
    )? > 0)
}

/// Keeps a revoked family's marker at least until `until`; whether the family is revoked.
fn extend_marker(tx: &Transaction<'_>, family: &str, until: UnixTime) -> rusqlite::Result<bool> {
    let changed = tx.execute(
        "UPDATE revoked_families SET until = max(until, ?2) WHERE family = ?1",
        params![family, secs(until)],
    )?;
    Ok(changed > 0)
}

fn revoke_family(tx: &Transaction<'_>, family: &str, now: UnixTime) -> rusqlite::Result<()> {
    let latest: Option<i64> = tx.query_row(
        "SELECT max(e) FROM (SELECT max(expires_at) AS e FROM refresh_tokens WHERE family = ?1
                             UNION ALL SELECT max(expires_at) FROM access_tokens WHERE family = ?1)",
        [family],
        |r| r.get(0),
    )?;
    let until = secs(now.add_secs(REVOCATION_GRACE)).max(latest.unwrap_or(0));
    tx.execute(
        "UPDATE refresh_tokens SET rotated = 1 WHERE family = ?1",
        [family],
    )?;
    tx.execute(
        "INSERT INTO revoked_families (family, until) VALUES (?1, ?2)
         ON CONFLICT (family) DO UPDATE SET until = max(until, excluded.until)",
        params![family, until],
    )?;
    Ok(())
}

fn store_issued(tx: &Transaction<'_>, issued: &Issued) -> rusqlite::Result<()> {
    let a = &issued.access;
    let revoked = extend_marker(tx, &a.family, a.expires_at)?;
    tx.execute(
        "INSERT OR REPLACE INTO access_tokens (jti, family, expires_at, revoked) VALUES (?1, ?2, ?3, ?4)",
        params![a.jti, a.family, secs(a.expires_at), revoked],
    )?;
    if let Some((digest, r)) = &issued.refresh {
        let dead = extend_marker(tx, &r.family, r.expires_at)? || r.rotated;
        tx.execute(
            "INSERT OR REPLACE INTO refresh_tokens
               (digest, family, client_id, subject, scope, resource, expires_at, rotated)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                digest.to_vec(),
                r.family,
                r.client_id,
                r.subject,
                r.scope,
                r.resource,
                secs(r.expires_at),
                dead
            ],
        )?;
    }
    tx.execute(
        "UPDATE clients SET granted = 1 WHERE client_id = ?1",
        [&issued.client_id],
    )?;
    Ok(())
}

/// One op inside the writer's transaction (its own savepoint).
fn apply_in(tx: &Transaction<'_>, op: &Op) -> rusqlite::Result<Outcome> {
    Ok(match op {
        Op::PutClient(c) => {
            put_client(tx, c)?;
            Outcome::Applied
        }
        Op::AddClient {
            client,
            limits,
            now,
        } => match add_client(tx, client, limits, *now)? {
            Ok(()) => Outcome::Applied,
            Err(e) => Outcome::LimitReached(e),
        },
        Op::IssueCode { digest, record: c } => {
            tx.execute(
                "INSERT OR REPLACE INTO codes
                   (digest, client_id, redirect_uri, challenge, resource, scope, subject, expires_at, family, spent)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0)",
                params![
                    digest.to_vec(),
                    c.client_id,
                    c.redirect_uri,
                    c.challenge,
                    c.resource,
                    c.scope,
                    c.subject,
                    secs(c.expires_at),
                    c.family
                ],
            )?;
            Outcome::Applied
        }
        Op::SpendCode { digest } => {
            let spent: Option<bool> = tx
                .query_row(
                    "SELECT spent FROM codes WHERE digest = ?1",
                    [digest.to_vec()],
                    |r| r.get(0),
                )
                .optional()?;
            match spent {
                None => Outcome::Unknown,
                Some(true) => Outcome::Replayed,
                Some(false) => {
                    tx.execute(
                        "UPDATE codes SET spent = 1 WHERE digest = ?1",
                        [digest.to_vec()],
                    )?;
                    Outcome::Applied
                }
            }
        }
        Op::RedeemCode {
            digest,
            issued,
            now,
        } => {
            let row: Option<(bool, String)> = tx
                .query_row(
                    "SELECT spent, family FROM codes WHERE digest = ?1",
                    [digest.to_vec()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((spent, family)) = row else {
                return Ok(Outcome::Unknown);
            };
            tx.execute(
                "UPDATE codes SET spent = 1 WHERE digest = ?1",
                [digest.to_vec()],
            )?;
            if spent {
                revoke_family(tx, &family, *now)?;
                Outcome::Replayed
            } else if family_revoked(tx, &family)? {
                Outcome::Revoked
            } else {
                store_issued(tx, issued)?;
                Outcome::Applied
            }
        }
        Op::RotateRefresh {
            digest,
            issued,
            now,
        } => {
            let row: Option<(bool, String)> = tx
                .query_row(
                    "SELECT rotated, family FROM refresh_tokens WHERE digest = ?1",
                    [digest.to_vec()],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let Some((rotated, family)) = row else {
                return Ok(Outcome::Unknown);
            };
            tx.execute(
                "UPDATE refresh_tokens SET rotated = 1 WHERE digest = ?1",
                [digest.to_vec()],
            )?;
            if family_revoked(tx, &family)? {
                Outcome::Revoked
            } else if rotated {
                revoke_family(tx, &family, *now)?;
                Outcome::Reused
            } else {
                store_issued(tx, issued)?;
                Outcome::Applied
            }
        }
        Op::IssueAccess { issued } => {
            store_issued(tx, issued)?;
            Outcome::Applied
        }
        Op::RevokeGrant { family, now } => {
            revoke_family(tx, family, *now)?;
            Outcome::Applied
        }
        Op::RevokeAccess { jti } => {
            match tx.execute("UPDATE access_tokens SET revoked = 1 WHERE jti = ?1", [jti])? {
                0 => Outcome::Unknown,
                _ => Outcome::Applied,
            }
        }
        Op::Purge { now } => {
            let n = secs(*now);
            tx.execute("DELETE FROM codes WHERE expires_at + 3600 <= ?1", [n])?;
            tx.execute("DELETE FROM refresh_tokens WHERE expires_at <= ?1", [n])?;
            tx.execute("DELETE FROM access_tokens WHERE expires_at <= ?1", [n])?;
            tx.execute("DELETE FROM revoked_families WHERE until <= ?1", [n])?;
            purge_clients(tx, n)?;
            Outcome::Applied
        }
        _ => Outcome::Unavailable,
    })
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
