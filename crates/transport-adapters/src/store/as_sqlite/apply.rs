//! Each [`Op`] inside the writer's transaction: the SQL for every single-use transition,
//! limit and revocation of the contract in `mcp_oauth_authorization_server::ops`.

use mcp_oauth_authorization_server::{
    ClientKind, ClientLimitReached, ClientLimits, Issued, Op, Outcome, REVOCATION_GRACE,
    StoredClient,
};
use mcp_oauth_common::UnixTime;
use rusqlite::{OptionalExtension, Transaction, params};

use super::{CLIENT_COLUMNS, secs, time};

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

/// The two single-use records: a code (spent) and a refresh token (rotated).
#[derive(Clone, Copy)]
enum SingleUse {
    Code,
    Refresh,
}

/// Marks a single-use record used; returns whether it already was, and its family
/// (`None`: not stored). Inside the writer's transaction, so no other use interleaves.
fn take(
    tx: &Transaction<'_>,
    what: SingleUse,
    digest: &mcp_oauth_authorization_server::Digest,
) -> rusqlite::Result<Option<(bool, String)>> {
    let (select, update) = match what {
        SingleUse::Code => (
            "SELECT spent, family FROM codes WHERE digest = ?1",
            "UPDATE codes SET spent = 1 WHERE digest = ?1",
        ),
        SingleUse::Refresh => (
            "SELECT rotated, family FROM refresh_tokens WHERE digest = ?1",
            "UPDATE refresh_tokens SET rotated = 1 WHERE digest = ?1",
        ),
    };
    let row: Option<(bool, String)> = tx
        .query_row(select, [digest.to_vec()], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    if row.is_some() {
        tx.execute(update, [digest.to_vec()])?;
    }
    Ok(row)
}

/// One op inside the writer's transaction (its own savepoint).
pub(super) fn apply_in(tx: &Transaction<'_>, op: &Op) -> rusqlite::Result<Outcome> {
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
        Op::SpendCode { digest } => match take(tx, SingleUse::Code, digest)? {
            None => Outcome::Unknown,
            Some((true, _)) => Outcome::Replayed,
            Some((false, _)) => Outcome::Applied,
        },
        Op::RedeemCode {
            digest,
            issued,
            now,
        } => {
            let Some((spent, family)) = take(tx, SingleUse::Code, digest)? else {
                return Ok(Outcome::Unknown);
            };
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
            let Some((rotated, family)) = take(tx, SingleUse::Refresh, digest)? else {
                return Ok(Outcome::Unknown);
            };
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
