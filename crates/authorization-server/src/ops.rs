//! Storage as data: every change a request makes is **one** [`Op`], which a store
//! applies atomically (one transaction) and answers with an [`Outcome`]. The server
//! sends its response only after the outcome came back, so a `200` is never sent for a
//! change that was not committed, and a single-use transition (a code redeemed, a
//! refresh token rotated) is decided inside the store's transaction, not by a read the
//! server made earlier: of two concurrent redemptions, exactly one is
//! [`Outcome::Applied`], whatever the number of server instances sharing the store.
//!
//! The semantics below are the contract every backend implements (memory, SQLite,
//! Postgres); [`crate::store_conformance`] checks it.

use mcp_oauth_common::UnixTime;

use crate::storage::{
    ClientLimitReached, ClientLimits, CodeRecord, Digest, RefreshRecord, StoredClient,
};

/// An access token as the store records it (for revocation and introspection).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AccessRecord {
    /// Its `jti`.
    pub jti: String,
    /// The grant (token family) it belongs to.
    pub family: String,
    /// Its expiry.
    pub expires_at: UnixTime,
}

impl AccessRecord {
    /// An access token `jti` of `family`, expiring at `expires_at`.
    pub fn new(jti: impl Into<String>, family: impl Into<String>, expires_at: UnixTime) -> Self {
        AccessRecord {
            jti: jti.into(),
            family: family.into(),
            expires_at,
        }
    }
}

/// What one grant step issues, written together: an access token, maybe a refresh
/// token, and the client marked as having completed a grant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issued {
    /// The client the tokens are issued to (no longer a pending registration).
    pub client_id: String,
    /// The access token.
    pub access: AccessRecord,
    /// The refresh token's digest and record, when one is issued.
    pub refresh: Option<(Digest, RefreshRecord)>,
}

/// One atomic change. A store applies all of it or none of it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Op {
    /// Saves a client the operator configured, whatever the limits. [`Outcome::Applied`].
    PutClient(StoredClient),
    /// Saves a self-registered client (RFC 7591) or a fetched client ID metadata document,
    /// unless that would exceed `limits` at `now` ([`Outcome::LimitReached`]); the check and
    /// the write are one step. Replacing a stored document does not count as a new one;
    /// pending registrations past their `unused_until` do not count.
    AddClient {
        /// The client.
        client: StoredClient,
        /// The bounds.
        limits: ClientLimits,
        /// The time of the request.
        now: UnixTime,
    },
    /// Saves an authorization code (unspent) under its digest. [`Outcome::Applied`].
    IssueCode {
        /// SHA-256 of the code.
        digest: Digest,
        /// What it grants.
        record: CodeRecord,
    },
    /// Spends a code without issuing anything: a presentation that failed a check (wrong
    /// client, redirect URI or PKCE verifier, expired, another resource). A code is
    /// single use whatever the outcome of its first presentation: no one gets a second
    /// guess at its verifier. [`Outcome::Applied`] when it was unspent,
    /// [`Outcome::Replayed`] when it was spent already (nothing is revoked: an invalid
    /// replay must not let whoever holds a leaked code revoke the victim's tokens,
    /// O21-13), [`Outcome::Unknown`] when it is not stored.
    SpendCode {
        /// SHA-256 of the code.
        digest: Digest,
    },
    /// Redeems a code that passed every check: spends it and stores `issued`.
    /// [`Outcome::Applied`]; [`Outcome::Replayed`] when it was spent already (another
    /// redemption won, maybe on another instance): nothing is issued, and its grant
    /// (`issued`'s family) is revoked in the same transaction (RFC 6749 §4.1.2);
    /// [`Outcome::Revoked`] when the grant had been revoked: nothing is issued;
    /// [`Outcome::Unknown`] when it is not stored (purged meanwhile).
    RedeemCode {
        /// SHA-256 of the code.
        digest: Digest,
        /// The tokens to store.
        issued: Issued,
        /// The time of the request (for the revocation marker).
        now: UnixTime,
    },
    /// Rotates a refresh token: marks it spent and stores `issued` (its successor and the
    /// new access token). [`Outcome::Applied`]; [`Outcome::Reused`] when it had been
    /// rotated already (a concurrent or replayed use): nothing is issued and the grant is
    /// revoked in the same transaction; [`Outcome::Revoked`] when the grant had been
    /// revoked: nothing is issued; [`Outcome::Unknown`] when it is not stored.
    RotateRefresh {
        /// SHA-256 of the presented refresh token.
        digest: Digest,
        /// The tokens to store.
        issued: Issued,
        /// The time of the request.
        now: UnixTime,
    },
    /// Stores tokens of a new grant (`client_credentials`). [`Outcome::Applied`].
    IssueAccess {
        /// The tokens to store.
        issued: Issued,
    },
    /// Revokes a whole grant at `now`: its refresh tokens and access tokens. The family's
    /// marker is kept until the last of its tokens would have expired (at least
    /// [`REVOCATION_GRACE`](crate::REVOCATION_GRACE) seconds after `now`); a token of the
    /// family stored later is stored dead. [`Outcome::Applied`].
    RevokeGrant {
        /// The family.
        family: String,
        /// The time of the request.
        now: UnixTime,
    },
    /// Revokes one access token. [`Outcome::Applied`], or [`Outcome::Unknown`].
    RevokeAccess {
        /// Its `jti`.
        jti: String,
    },
    /// Forgets what expired before `now`: codes (an hour after their expiry, so a replay
    /// is still recognised), refresh and access tokens, revocation markers, pending
    /// registrations past `unused_until`, and client ID metadata documents past
    /// `cache_until`; a client is kept while a code or refresh token issued to it is.
    /// [`Outcome::Applied`].
    Purge {
        /// The time.
        now: UnixTime,
    },
}

/// What a store did with an [`Op`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// Done, committed.
    Applied,
    /// The code had been spent: for [`Op::RedeemCode`] its grant is now revoked.
    Replayed,
    /// The refresh token had been rotated: its grant is now revoked.
    Reused,
    /// The grant had been revoked: nothing was issued.
    Revoked,
    /// The code, refresh token or access token is not stored.
    Unknown,
    /// [`Op::AddClient`] would exceed a limit: nothing was stored.
    LimitReached(ClientLimitReached),
    /// The store could not apply the op (a disk or connection failure): nothing was
    /// committed, and the server answers with a `5xx` without issuing anything.
    Unavailable,
}
