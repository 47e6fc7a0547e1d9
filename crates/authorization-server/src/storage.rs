//! What the server remembers, behind a trait, and an in-memory implementation.

use std::collections::HashMap;
use std::sync::Mutex;

use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::ClientMetadata;

/// A SHA-256 digest: codes, refresh tokens and client secrets are stored hashed.
pub type Digest = [u8; 32];

/// A registered client (DCR, CIMD, or configured).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct StoredClient {
    /// The client id.
    pub client_id: String,
    /// SHA-256 of the secret, for confidential clients.
    pub secret_hash: Option<Digest>,
    /// The registered metadata.
    pub metadata: ClientMetadata,
    /// Until when a client ID metadata document may be used without fetching it again.
    pub cache_until: Option<UnixTime>,
}

impl StoredClient {
    /// A client with this id, secret digest and metadata.
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
        }
    }
}

/// An issued authorization code.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// An issued refresh token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
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

/// The server's storage. Implementations must be safe to share between threads; every
/// method is one atomic step (the in-memory one holds a mutex).
pub trait Storage: Send + Sync {
    /// A client by id.
    fn client(&self, client_id: &str) -> Option<StoredClient>;
    /// Saves a client.
    fn put_client(&self, client: StoredClient);
    /// Saves a code under its digest.
    fn put_code(&self, digest: Digest, record: CodeRecord);
    /// Takes a code: the record, and whether it had already been taken (replay).
    fn take_code(&self, digest: &Digest) -> Option<(CodeRecord, bool)>;
    /// Saves a refresh token under its digest.
    fn put_refresh(&self, digest: Digest, record: RefreshRecord);
    /// Marks a refresh token rotated; returns the record as it was (before marking), or
    /// `None` when unknown. Atomic: of two concurrent uses, exactly one sees
    /// `rotated == false`.
    fn rotate_refresh(&self, digest: &Digest) -> Option<RefreshRecord>;
    /// A refresh token's record, without changing it.
    fn refresh(&self, digest: &Digest) -> Option<RefreshRecord>;
    /// Records an access token's `jti` in a family.
    fn put_access(&self, jti: &str, family: &str, expires_at: UnixTime);
    /// Revokes a whole grant: its refresh tokens and access tokens.
    fn revoke_family(&self, family: &str);
    /// Revokes one access token.
    fn revoke_access(&self, jti: &str);
    /// Whether an access token or its family was revoked.
    fn access_revoked(&self, jti: &str) -> bool;
    /// Whether a family was revoked.
    fn family_revoked(&self, family: &str) -> bool;
    /// Forgets what expired before `now`.
    fn purge(&self, now: UnixTime);
}

#[derive(Debug, Default)]
struct Inner {
    clients: HashMap<String, StoredClient>,
    codes: HashMap<Digest, (CodeRecord, bool)>,
    refresh: HashMap<Digest, RefreshRecord>,
    access: HashMap<String, (String, UnixTime, bool)>,
    revoked_families: HashMap<String, UnixTime>,
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
}

impl Storage for MemoryStorage {
    fn client(&self, client_id: &str) -> Option<StoredClient> {
        self.with(|s| s.clients.get(client_id).cloned())
    }

    fn put_client(&self, client: StoredClient) {
        self.with(|s| s.clients.insert(client.client_id.clone(), client));
    }

    fn put_code(&self, digest: Digest, record: CodeRecord) {
        self.with(|s| s.codes.insert(digest, (record, false)));
    }

    fn take_code(&self, digest: &Digest) -> Option<(CodeRecord, bool)> {
        self.with(|s| {
            let entry = s.codes.get_mut(digest)?;
            let was = entry.1;
            entry.1 = true;
            Some((entry.0.clone(), was))
        })
    }

    fn put_refresh(&self, digest: Digest, mut record: RefreshRecord) {
        self.with(|s| {
            // Issued while its grant was being revoked: born dead.
            if s.revoked_families.contains_key(&record.family) {
                record.rotated = true;
            }
            s.refresh.insert(digest, record)
        });
    }

    fn rotate_refresh(&self, digest: &Digest) -> Option<RefreshRecord> {
        self.with(|s| {
            let r = s.refresh.get_mut(digest)?;
            let before = r.clone();
            r.rotated = true;
            Some(before)
        })
    }

    fn refresh(&self, digest: &Digest) -> Option<RefreshRecord> {
        self.with(|s| s.refresh.get(digest).cloned())
    }

    fn put_access(&self, jti: &str, family: &str, expires_at: UnixTime) {
        self.with(|s| {
            s.access
                .insert(jti.to_owned(), (family.to_owned(), expires_at, false))
        });
    }

    fn revoke_family(&self, family: &str) {
        self.with(|s| {
            // Kept for good: a token of this family issued concurrently (after this
            // point) must stay dead however long it would live.
            s.revoked_families.insert(family.to_owned(), UnixTime::MAX);
            for r in s.refresh.values_mut().filter(|r| r.family == family) {
                r.rotated = true;
            }
        });
    }

    fn revoke_access(&self, jti: &str) {
        self.with(|s| {
            if let Some(a) = s.access.get_mut(jti) {
                a.2 = true;
            }
        });
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

    fn purge(&self, now: UnixTime) {
        self.with(|s| {
            s.codes
                .retain(|_, (c, _)| c.expires_at.add_secs(3600) > now);
            s.refresh.retain(|_, r| r.expires_at > now);
            s.access.retain(|_, a| a.1 > now);
            s.revoked_families.retain(|_, until| *until > now);
        });
    }
}
