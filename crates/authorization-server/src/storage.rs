//! What the server remembers, behind a trait, and an in-memory implementation.

use core::fmt;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Mutex;

use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::ClientMetadata;

use crate::ops::{Issued, Op, Outcome};

/// A SHA-256 digest: codes, refresh tokens and client secrets are stored hashed.
pub type Digest = [u8; 32];

/// How long a revoked grant's marker outlives the moment of revocation at least, seconds,
/// when none of its tokens would live longer: a token of the grant issued concurrently
/// with the revocation finds the marker and is born dead (and then extends the marker to
/// its own expiry).
pub const REVOCATION_GRACE: u64 = 3600;

/// Where a client came from: whether the server trusts it, and when it forgets it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientKind {
    /// Configured out of band by the operator ([`StoredClient::new`],
    /// [`Op::PutClient`]): trusted (authorization errors are redirected to it once
    /// its redirect URI matched), never forgotten.
    Configured,
    /// Registered itself at the registration endpoint (RFC 7591): untrusted. Until it
    /// completes a grant (a code redeemed, a token issued) it is *pending*: counted
    /// against its source's limit, and forgotten after `unused_until`.
    Registered {
        /// The key of the address it registered from
        /// ([`mcp_oauth_common::source_key`]), when the adapter knew it.
        source: Option<IpAddr>,
        /// When it registered.
        registered_at: UnixTime,
        /// When it is forgotten if it has completed no grant by then.
        unused_until: UnixTime,
    },
    /// A client ID metadata document the server fetched: untrusted; forgotten once
    /// [`StoredClient::cache_until`] has passed and no code or refresh token issued to
    /// it is left in storage.
    Document,
}

/// A registered client (DCR, CIMD, or configured).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredClient {
    /// The client id.
    pub client_id: String,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<Digest>,
    /// The registered metadata (known members only: unknown ones are not stored).
    pub metadata: ClientMetadata,
    /// Until when a client ID metadata document may be used without fetching it again.
    pub cache_until: Option<UnixTime>,
    /// Where it came from.
    pub kind: ClientKind,
    /// Whether it has completed a grant (tokens were issued to it at least once).
    pub granted: bool,
}

impl StoredClient {
    /// A client configured out of band ([`ClientKind::Configured`]) with this id, secret
    /// digest and metadata.
    pub fn new(
        client_id: impl Into<String>,
        secret_hash: Option<Digest>,
        metadata: ClientMetadata,
    ) -> Self {
        StoredClient {
            client_id: client_id.into(),
            secret_hash,
            metadata,
            cache_until: None,
            kind: ClientKind::Configured,
            granted: false,
        }
    }

    /// A client that registered itself ([`ClientKind::Registered`]) at `now`, from
    /// `source` (already a [`mcp_oauth_common::source_key`]), forgotten after
    /// `unused_until` unless it completes a grant.
    pub fn registered(
        client_id: impl Into<String>,
        secret_hash: Option<Digest>,
        metadata: ClientMetadata,
        source: Option<IpAddr>,
        now: UnixTime,
        unused_until: UnixTime,
    ) -> Self {
        StoredClient {
            kind: ClientKind::Registered {
                source,
                registered_at: now,
                unused_until,
            },
            ..Self::new(client_id, secret_hash, metadata)
        }
    }

    /// A client ID metadata document ([`ClientKind::Document`]), usable until
    /// `cache_until` without fetching it again.
    pub fn document(
        client_id: impl Into<String>,
        metadata: ClientMetadata,
        cache_until: UnixTime,
    ) -> Self {
        StoredClient {
            cache_until: Some(cache_until),
            kind: ClientKind::Document,
            ..Self::new(client_id, None, metadata)
        }
    }

    /// Whether the operator configured it (errors may be redirected to it before the user
    /// interacted, RFC 9700 §4.11.2).
    pub fn trusted(&self) -> bool {
        self.kind == ClientKind::Configured
    }
}

/// Bounds on the clients the server stores for parties it does not know, checked
/// atomically by [`Op::AddClient`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientLimits {
    /// Most self-registered clients ([`ClientKind::Registered`]) stored at once, pending
    /// or not.
    pub max_registered: usize,
    /// Most pending registrations (no grant completed yet) from one source.
    pub max_pending_per_source: usize,
    /// Most client ID metadata documents ([`ClientKind::Document`]) stored at once.
    pub max_documents: usize,
}

impl ClientLimits {
    /// These limits.
    pub fn new(max_registered: usize, max_pending_per_source: usize, max_documents: usize) -> Self {
        ClientLimits {
            max_registered,
            max_pending_per_source,
            max_documents,
        }
    }
}

/// Why [`Op::AddClient`] refused a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientLimitReached {
    /// The store holds as many clients of this kind as allowed.
    Total {
        /// When a pending registration will be forgotten and make room, if any will.
        retry_at: Option<UnixTime>,
    },
    /// The source holds as many pending registrations as allowed.
    Source {
        /// When its oldest pending registration will be forgotten.
        retry_at: Option<UnixTime>,
    },
}

impl ClientLimitReached {
    /// When trying again may succeed, if known.
    pub fn retry_at(&self) -> Option<UnixTime> {
        match *self {
            ClientLimitReached::Total { retry_at } | ClientLimitReached::Source { retry_at } => {
                retry_at
            }
        }
    }
}

impl fmt::Display for ClientLimitReached {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientLimitReached::Total { .. } => f.write_str("too many clients stored"),
            ClientLimitReached::Source { .. } => {
                f.write_str("too many pending registrations from this source")
            }
        }
    }
}

impl std::error::Error for ClientLimitReached {}

/// An issued authorization code. A plain record (no `#[non_exhaustive]`): storage
/// backends in other crates build it from their rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// The client it was issued to.
    pub client_id: String,
    /// The redirect URI of the request.
    pub redirect_uri: String,
    /// The PKCE S256 challenge.
    pub challenge: String,
    /// The resource the tokens will be for.
    pub resource: String,
    /// The granted scope.
    pub scope: String,
    /// The user.
    pub subject: String,
    /// Expiry.
    pub expires_at: UnixTime,
    /// The grant (token family) it starts.
    pub family: String,
}

/// An issued refresh token. A plain record, as [`CodeRecord`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshRecord {
    /// The grant it belongs to.
    pub family: String,
    /// The client.
    pub client_id: String,
    /// The user.
    pub subject: String,
    /// The granted scope.
    pub scope: String,
    /// The resource.
    pub resource: String,
    /// Expiry.
    pub expires_at: UnixTime,
    /// Already exchanged for a new one (a second use is reuse: the family is revoked).
    pub rotated: bool,
}

/// The server's storage: reads, and every change as one atomic [`Op`]
/// ([`Storage::apply`]). Implementations must be safe to share between threads; a read
/// may be stale by the time the server applies its op, so every single-use transition is
/// decided by `apply`, inside the store's transaction (see [`crate::ops`] for the contract
/// every backend keeps, and [`crate::store_conformance`] for its check).
pub trait Storage: Send + Sync {
    /// A client by id.
    fn client(&self, client_id: &str) -> Option<StoredClient>;
    /// A code's record and whether it has been spent, without changing it.
    fn code(&self, digest: &Digest) -> Option<(CodeRecord, bool)>;
    /// A refresh token's record, without changing it.
    fn refresh(&self, digest: &Digest) -> Option<RefreshRecord>;
    /// Whether an access token or its family was revoked.
    fn access_revoked(&self, jti: &str) -> bool;
    /// Whether a family was revoked.
    fn family_revoked(&self, family: &str) -> bool;
    /// Applies one change atomically: all of it or none of it.
    fn apply(&self, op: Op) -> Outcome;

    /// Whether reads and [`apply`](Storage::apply) block the calling thread on IO (a
    /// database): an async adapter then runs the server on a blocking thread. `false`
    /// (the default) for stores in memory.
    fn blocking(&self) -> bool {
        false
    }

    /// Saves a client the operator configured ([`Op::PutClient`]).
    fn put_client(&self, client: StoredClient) {
        self.apply(Op::PutClient(client));
    }

    /// Forgets what expired before `now` ([`Op::Purge`]); run it periodically.
    fn purge(&self, now: UnixTime) {
        self.apply(Op::Purge { now });
    }
}

#[derive(Debug, Default)]
struct Inner {
    clients: HashMap<String, StoredClient>,
    codes: HashMap<Digest, (CodeRecord, bool)>,
    refresh: HashMap<Digest, RefreshRecord>,
    access: HashMap<String, (String, UnixTime, bool)>,
    revoked_families: HashMap<String, UnixTime>,
}

impl Inner {
    /// A pending registration that is past its time.
    fn expired_pending(c: &StoredClient, now: UnixTime) -> bool {
        matches!(c.kind, ClientKind::Registered { unused_until, .. } if !c.granted && unused_until <= now)
    }

    /// Forgets clients nobody needs any more (see [`Op::Purge`]).
    fn purge_clients(&mut self, now: UnixTime) {
        let Inner {
            clients,
            codes,
            refresh,
            ..
        } = self;
        let live: HashSet<&str> = codes
            .values()
            .map(|(c, _)| c.client_id.as_str())
            .chain(refresh.values().map(|r| r.client_id.as_str()))
            .collect();
        clients.retain(|id, c| {
            live.contains(id.as_str())
                || match c.kind {
                    ClientKind::Configured => true,
                    ClientKind::Registered { .. } => !Self::expired_pending(c, now),
                    ClientKind::Document => c.cache_until.is_some_and(|t| t > now),
                }
        });
    }

    fn count(&self, f: impl Fn(&StoredClient) -> bool) -> usize {
        self.clients.values().filter(|c| f(c)).count()
    }

    /// When the first pending registration (matching `f`) will be forgotten.
    fn first_unused_until(
        &self,
        now: UnixTime,
        f: impl Fn(Option<IpAddr>) -> bool,
    ) -> Option<UnixTime> {
        self.clients
            .values()
            .filter(|c| !c.granted)
            .filter_map(|c| match c.kind {
                ClientKind::Registered {
                    source,
                    unused_until,
                    ..
                } if f(source) && unused_until > now => Some(unused_until),
                _ => None,
            })
            .min()
    }

    fn add_client(
        &mut self,
        client: StoredClient,
        limits: &ClientLimits,
        now: UnixTime,
    ) -> Result<(), ClientLimitReached> {
        match client.kind {
            ClientKind::Configured => {}
            ClientKind::Registered { source, .. } => {
                let registered = |c: &StoredClient| matches!(c.kind, ClientKind::Registered { .. });
                if self.count(registered) >= limits.max_registered {
                    self.purge_clients(now);
                    if self.count(registered) >= limits.max_registered {
                        return Err(ClientLimitReached::Total {
                            retry_at: self.first_unused_until(now, |_| true),
                        });
                    }
                }
                if let Some(src) = source {
                    let pending = self.count(|c| {
                        matches!(c.kind, ClientKind::Registered { source: Some(s), .. } if s == src)
                            && !c.granted
                            && !Self::expired_pending(c, now)
                    });
                    if pending >= limits.max_pending_per_source {
                        return Err(ClientLimitReached::Source {
                            retry_at: self.first_unused_until(now, |s| s == Some(src)),
                        });
                    }
                }
            }
            ClientKind::Document => {
                let document = |c: &StoredClient| c.kind == ClientKind::Document;
                let replaces = self.clients.get(&client.client_id).is_some_and(document);
                if !replaces && self.count(document) >= limits.max_documents {
                    self.purge_clients(now);
                    if self.count(document) >= limits.max_documents {
                        return Err(ClientLimitReached::Total { retry_at: None });
                    }
                }
            }
        }
        self.clients.insert(client.client_id.clone(), client);
        Ok(())
    }

    /// Keeps a revoked family's marker at least until `until`.
    fn extend_marker(&mut self, family: &str, until: UnixTime) -> bool {
        match self.revoked_families.get_mut(family) {
            Some(t) => {
                *t = (*t).max(until);
                true
            }
            None => false,
        }
    }
}

/// Storage in memory, for one process (development, tests, the demo).
#[derive(Debug, Default)]
pub struct MemoryStorage {
    inner: Mutex<Inner>,
}

impl MemoryStorage {
    /// Empty storage.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner))
    }

    /// How many clients are stored (of every kind).
    pub fn client_count(&self) -> usize {
        self.with(|s| s.clients.len())
    }
}

impl Storage for MemoryStorage {
    fn client(&self, client_id: &str) -> Option<StoredClient> {
        self.with(|s| s.clients.get(client_id).cloned())
    }

    fn code(&self, digest: &Digest) -> Option<(CodeRecord, bool)> {
        self.with(|s| s.codes.get(digest).cloned())
    }

    fn refresh(&self, digest: &Digest) -> Option<RefreshRecord> {
        self.with(|s| s.refresh.get(digest).cloned())
    }

    fn access_revoked(&self, jti: &str) -> bool {
        self.with(|s| match s.access.get(jti) {
            Some((family, _, revoked)) => *revoked || s.revoked_families.contains_key(family),
            None => false,
        })
    }

    fn family_revoked(&self, family: &str) -> bool {
        self.with(|s| s.revoked_families.contains_key(family))
    }

    fn apply(&self, op: Op) -> Outcome {
        self.with(|s| s.apply(op))
    }
}

impl Inner {
    /// One [`Op`], under the store's lock: the reference semantics the other backends
    /// are checked against.
    fn apply(&mut self, op: Op) -> Outcome {
        match op {
            Op::PutClient(client) => {
                self.clients.insert(client.client_id.clone(), client);
                Outcome::Applied
            }
            Op::AddClient {
                client,
                limits,
                now,
            } => match self.add_client(client, &limits, now) {
                Ok(()) => Outcome::Applied,
                Err(e) => Outcome::LimitReached(e),
            },
            Op::IssueCode { digest, record } => {
                self.codes.insert(digest, (record, false));
                Outcome::Applied
            }
            Op::SpendCode { digest } => match self.codes.get_mut(&digest) {
                None => Outcome::Unknown,
                Some((_, true)) => Outcome::Replayed,
                Some((_, spent)) => {
                    *spent = true;
                    Outcome::Applied
                }
            },
            Op::RedeemCode {
                digest,
                issued,
                now,
            } => {
                let Some((record, spent)) = self.codes.get_mut(&digest) else {
                    return Outcome::Unknown;
                };
                let was_spent = core::mem::replace(spent, true);
                let family = record.family.clone();
                if was_spent {
                    self.revoke_family(&family, now);
                    return Outcome::Replayed;
                }
                if self.revoked_families.contains_key(&family) {
                    return Outcome::Revoked;
                }
                self.store_issued(issued);
                Outcome::Applied
            }
            Op::RotateRefresh {
                digest,
                issued,
                now,
            } => {
                let Some(r) = self.refresh.get_mut(&digest) else {
                    return Outcome::Unknown;
                };
                let was_rotated = core::mem::replace(&mut r.rotated, true);
                let family = r.family.clone();
                if self.revoked_families.contains_key(&family) {
                    return Outcome::Revoked;
                }
                if was_rotated {
                    self.revoke_family(&family, now);
                    return Outcome::Reused;
                }
                self.store_issued(issued);
                Outcome::Applied
            }
            Op::IssueAccess { issued } => {
                self.store_issued(issued);
                Outcome::Applied
            }
            Op::RevokeGrant { family, now } => {
                self.revoke_family(&family, now);
                Outcome::Applied
            }
            Op::RevokeAccess { jti } => match self.access.get_mut(&jti) {
                Some(a) => {
                    a.2 = true;
                    Outcome::Applied
                }
                None => Outcome::Unknown,
            },
            Op::Purge { now } => {
                self.codes
                    .retain(|_, (c, _)| c.expires_at.add_secs(3600) > now);
                self.refresh.retain(|_, r| r.expires_at > now);
                self.access.retain(|_, a| a.1 > now);
                self.revoked_families.retain(|_, until| *until > now);
                self.purge_clients(now);
                Outcome::Applied
            }
        }
    }

    /// Stores what a grant step issued. A token of a revoked family (revoked while it
    /// was being issued) is stored dead, and extends the family's marker to its expiry.
    fn store_issued(&mut self, issued: Issued) {
        let Issued {
            client_id,
            access,
            refresh,
        } = issued;
        let revoked = self.extend_marker(&access.family, access.expires_at);
        self.access
            .insert(access.jti, (access.family, access.expires_at, revoked));
        if let Some((digest, mut record)) = refresh {
            if self.extend_marker(&record.family, record.expires_at) {
                record.rotated = true;
            }
            self.refresh.insert(digest, record);
        }
        if let Some(c) = self.clients.get_mut(&client_id) {
            c.granted = true;
        }
    }

    /// Revokes a family at `now`: its refresh tokens die, and its marker is kept while
    /// any of its tokens could still be presented (at least [`REVOCATION_GRACE`]).
    fn revoke_family(&mut self, family: &str, now: UnixTime) {
        let mut until = now.add_secs(REVOCATION_GRACE);
        for r in self.refresh.values_mut().filter(|r| r.family == family) {
            r.rotated = true;
            until = until.max(r.expires_at);
        }
        for (f, exp, _) in self.access.values() {
            if f == family {
                until = until.max(*exp);
            }
        }
        if !self.extend_marker(family, until) {
            self.revoked_families.insert(family.to_owned(), until);
        }
    }
}
