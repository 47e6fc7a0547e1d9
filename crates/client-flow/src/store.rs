//! What a client keeps between runs, and the trait it is kept behind.

use std::collections::HashMap;
use std::sync::Mutex;

use http::Request;
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::RegisteredClient;
use mcp_oauth_resource_indicators::ResourceUri;
use serde::{Deserialize, Serialize};

use crate::client_auth::client_auth;
use crate::flow::{Authorized, Discovered};
use crate::token::{ClientAuth, Grant, TokenClient, TokenError, TokenSet, token_request};

/// Tokens for one MCP server, with what refreshing them needs. Bound to the issuer that
/// issued them: when the server's metadata names another authorization server, the
/// credential is discarded, never sent there (MCP-REG-5, MCP-TOK-4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Credential {
    /// The MCP server's canonical resource.
    pub resource: String,
    /// Whether `resource` is sent on refresh (off for issuers configured to omit it).
    #[serde(default = "yes")]
    pub send_resource: bool,
    /// The issuer that issued the tokens.
    pub issuer: String,
    /// Its token endpoint.
    pub token_endpoint: String,
    /// The client id the tokens were issued to.
    pub client_id: String,
    /// The client authentication method used at the token endpoint.
    pub auth_method: String,
    /// The scope last asked for (kept for step-up: MCP-SCOPE-13 asks for the union of
    /// what was requested and what is challenged, and servers may grant less).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_scope: Option<String>,
    /// The tokens.
    pub tokens: TokenSet,
}

fn yes() -> bool {
    true
}

impl Credential {
    /// For tokens obtained outside the code flow (`client_credentials`).
    pub fn new(
        discovered: &Discovered,
        client_id: &str,
        auth_method: &str,
        tokens: TokenSet,
    ) -> Self {
        Credential {
            resource: discovered.resource.as_str().to_owned(),
            send_resource: true,
            issuer: discovered.metadata.issuer.clone(),
            token_endpoint: discovered
                .metadata
                .token_endpoint
                .clone()
                .unwrap_or_default(),
            client_id: client_id.to_owned(),
            auth_method: auth_method.to_owned(),
            requested_scope: tokens.scope.clone(),
            tokens,
        }
    }

    /// From a finished flow.
    pub fn from_authorized(a: &Authorized, send_resource: bool) -> Self {
        Credential {
            resource: a.discovered.resource.as_str().to_owned(),
            send_resource,
            issuer: a.discovered.metadata.issuer.clone(),
            token_endpoint: a
                .discovered
                .metadata
                .token_endpoint
                .clone()
                .unwrap_or_default(),
            client_id: a.client.client_id.clone(),
            auth_method: client_auth(&a.client, &a.discovered.metadata)
                .method()
                .to_owned(),
            requested_scope: a.requested_scope.clone(),
            tokens: a.tokens.clone(),
        }
    }

    /// The refresh request (RFC 6749 §6) with `resource` (MCP-RES-1), when there is a
    /// refresh token. `client` is the registration for [`issuer`](Self::issuer) (for its
    /// secret); a `private_key_jwt` client passes its signer as `auth`.
    pub fn refresh_request(
        &self,
        client: Option<&RegisteredClient>,
        auth: Option<&ClientAuth>,
        now: UnixTime,
        jti_entropy: &[u8; 16],
    ) -> Option<Result<Request<Vec<u8>>, TokenError>> {
        let refresh_token = self.tokens.refresh_token.as_ref()?;
        let derived;
        let auth = match auth {
            Some(a) => a,
            None => {
                derived = ClientAuth::for_client(
                    Some(&self.auth_method),
                    client.and_then(|c| c.client_secret.as_ref()),
                );
                &derived
            }
        };
        let resource = if self.send_resource {
            ResourceUri::parse(&self.resource).ok()
        } else {
            None
        };
        Some(token_request(
            &self.token_endpoint,
            &TokenClient {
                client_id: &self.client_id,
                auth,
                issuer: &self.issuer,
            },
            &Grant::RefreshToken {
                refresh_token,
                scope: None,
            },
            resource.as_ref(),
            now,
            jti_entropy,
        ))
    }
}

/// A held lock on one credential, released on drop (see
/// [`CredentialStore::lock_credential`]).
#[must_use = "the lock is released when this is dropped"]
pub struct StoreLock(#[allow(dead_code)] Option<Box<dyn Send>>);

impl StoreLock {
    /// A lock that locks nothing (stores used by one process).
    pub fn none() -> Self {
        StoreLock(None)
    }

    /// Holds `guard` until dropped.
    pub fn new(guard: impl Send + 'static) -> Self {
        StoreLock(Some(Box::new(guard)))
    }
}

impl core::fmt::Debug for StoreLock {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("StoreLock")
    }
}

/// Where a client keeps its registrations (keyed by issuer, MCP-REG-4) and credentials
/// (keyed by the MCP server URL the user connects to). Implementations must keep
/// secrets confidential at rest (MCP-RT-5): the file store in `mcp-oauth-transport-adapters`
/// writes files readable by the owner only.
pub trait CredentialStore: Send + Sync {
    /// The store's error.
    type Error: std::error::Error + Send + Sync + 'static;
    /// The client registered at `issuer`.
    fn client(&self, issuer: &str) -> Result<Option<RegisteredClient>, Self::Error>;
    /// Every registration, by issuer.
    fn clients(&self) -> Result<Vec<(String, RegisteredClient)>, Self::Error>;
    /// Saves the client registered at `issuer`.
    fn save_client(&self, issuer: &str, client: &RegisteredClient) -> Result<(), Self::Error>;
    /// Forgets the client registered at `issuer` (rejected as `invalid_client`).
    fn remove_client(&self, issuer: &str) -> Result<(), Self::Error>;
    /// The credential for the MCP server at `server`.
    fn credential(&self, server: &str) -> Result<Option<Credential>, Self::Error>;
    /// Saves the credential for `server`.
    fn save_credential(&self, server: &str, credential: &Credential) -> Result<(), Self::Error>;
    /// Forgets the credential for `server`.
    fn remove_credential(&self, server: &str) -> Result<(), Self::Error>;
    /// Locks the credential for `server` against refreshes by other processes sharing
    /// the store, until the returned lock is dropped (may block). The default locks
    /// nothing: enough for a store used by one process, whose driver serialises
    /// refreshes itself.
    fn lock_credential(&self, server: &str) -> Result<StoreLock, Self::Error> {
        let _ = server;
        Ok(StoreLock::none())
    }
}

/// A store in memory, for one process.
#[derive(Debug, Default)]
pub struct MemoryStore {
    inner: Mutex<MemoryInner>,
}

#[derive(Debug, Default)]
struct MemoryInner {
    clients: HashMap<String, RegisteredClient>,
    credentials: HashMap<String, Credential>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn with<T>(&self, f: impl FnOnce(&mut MemoryInner) -> T) -> T {
        let mut g = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut g)
    }
}

impl CredentialStore for MemoryStore {
    type Error = std::convert::Infallible;

    fn client(&self, issuer: &str) -> Result<Option<RegisteredClient>, Self::Error> {
        Ok(self.with(|s| s.clients.get(issuer).cloned()))
    }

    fn clients(&self) -> Result<Vec<(String, RegisteredClient)>, Self::Error> {
        Ok(self.with(|s| {
            s.clients
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        }))
    }

    fn save_client(&self, issuer: &str, client: &RegisteredClient) -> Result<(), Self::Error> {
        self.with(|s| s.clients.insert(issuer.to_owned(), client.clone()));
        Ok(())
    }

    fn remove_client(&self, issuer: &str) -> Result<(), Self::Error> {
        self.with(|s| s.clients.remove(issuer));
        Ok(())
    }

    fn credential(&self, server: &str) -> Result<Option<Credential>, Self::Error> {
        Ok(self.with(|s| s.credentials.get(server).cloned()))
    }

    fn save_credential(&self, server: &str, credential: &Credential) -> Result<(), Self::Error> {
        self.with(|s| s.credentials.insert(server.to_owned(), credential.clone()));
        Ok(())
    }

    fn remove_credential(&self, server: &str) -> Result<(), Self::Error> {
        self.with(|s| s.credentials.remove(server));
        Ok(())
    }
}

/// Caps step-up attempts per resource and operation (MCP-SCOPE-14): a server that keeps
/// answering `insufficient_scope` must not send the user round in circles.
#[derive(Debug, Clone)]
pub struct StepUpLimiter {
    max: u32,
    attempts: HashMap<(String, String), u32>,
}

impl Default for StepUpLimiter {
    fn default() -> Self {
        Self::new(2)
    }
}

impl StepUpLimiter {
    /// At most `max` re-authorizations per resource and operation.
    pub fn new(max: u32) -> Self {
        StepUpLimiter {
            max,
            attempts: HashMap::new(),
        }
    }

    /// Whether another step-up for this operation is allowed; counts it when it is.
    pub fn try_step_up(&mut self, resource: &str, operation: &str) -> bool {
        let n = self
            .attempts
            .entry((resource.to_owned(), operation.to_owned()))
            .or_insert(0);
        if *n >= self.max {
            return false;
        }
        *n += 1;
        true
    }

    /// The operation succeeded: its count starts again.
    pub fn succeeded(&mut self, resource: &str, operation: &str) {
        self.attempts
            .remove(&(resource.to_owned(), operation.to_owned()));
    }
}
