//! The MCP client's driver: runs [`mcp_oauth_client_flow::AuthFlow`] over the guarded
//! [`Fetcher`], keeps tokens in a [`CredentialStore`], refreshes them ahead of expiry
//! (once per credential, across tasks and processes), and steps up on
//! `insufficient_scope`.

mod agent;
mod layer;
#[cfg(feature = "rmcp-client")]
mod rmcp;
#[cfg(feature = "ring")]
mod signer;
mod store;
#[cfg(test)]
mod tests;

use core::fmt;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use http::{HeaderMap, StatusCode, header};
use mcp_oauth_client_flow::{
    Action, AssertionSigner, AuthFlow, BearerParams, ClientAuth, ClientConfig, Credential,
    CredentialStore, Discovered, FlowError, Grant, RegisteredClient, ResourceUri, StepUpLimiter,
    TokenClient, TokenError, bearer_params, parse_token_response, parse_www_authenticate,
    token_request,
};
use sha2::{Digest as _, Sha256};

use crate::http::{FetchError, Fetcher};

#[cfg(feature = "rmcp-client")]
pub use self::rmcp::AuthorizedHttpClient;
pub use agent::{AgentError, BoxFuture, HeadlessBrowser, HopLog, LoopbackRedirect, UserAgent};
pub use layer::{OAuthLayer, OAuthService, OAuthServiceError};
#[cfg(feature = "ring")]
pub use signer::Es256Signer;
pub use store::{FileStore, FileStoreError, MAX_STORE_LEN};

/// One step of the client's work, for a narrative (the demo prints these) or logs.
/// Never carries a token or secret.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Step {
    /// The MCP server answered 401 or 403; what its challenge said.
    Challenged {
        /// 401 or 403.
        status: u16,
        /// The challenge's `error`, if any.
        error: Option<String>,
        /// The challenge's `scope`, if any.
        scope: Option<String>,
        /// The challenge's `resource_metadata`, if any.
        resource_metadata: Option<String>,
    },
    /// An HTTP request is about to go out.
    Request {
        /// The method.
        method: String,
        /// The URL.
        url: String,
    },
    /// Its response.
    Response {
        /// The status.
        status: u16,
    },
    /// The user agent is sent to the authorization URL.
    Authorize {
        /// The URL.
        url: String,
    },
    /// The callback was accepted.
    Callback,
    /// Tokens were obtained.
    Authorized {
        /// The issuer.
        issuer: String,
        /// The granted scope.
        scope: Option<String>,
        /// Whether a refresh token came with them.
        refresh_token: bool,
    },
    /// A credential was refreshed (or another task/process had just refreshed it).
    Refreshed {
        /// Whether this process spent the refresh token (false: found it already done).
        spent: bool,
    },
    /// A registration or credential was dropped (rejected, or the server moved to
    /// another authorization server).
    Discarded {
        /// Why.
        reason: String,
    },
}

/// Receives each [`Step`].
pub type Observer = Arc<dyn Fn(&Step) + Send + Sync>;

/// Why the client could not get a token.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The flow failed.
    Flow(FlowError),
    /// An HTTP request failed (including SSRF refusals).
    Fetch(FetchError),
    /// The user-agent step failed.
    Agent(AgentError),
    /// A refresh failed for another reason than a spent refresh token.
    Token(TokenError),
    /// The credential store failed.
    Store(Box<dyn std::error::Error + Send + Sync>),
    /// Step-up was refused: this operation already re-authorized the maximum number of
    /// times (MCP-SCOPE-14).
    StepUpLimit,
    /// The server answered 403 with another error than `insufficient_scope`.
    Forbidden,
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Flow(e) => write!(f, "{e}"),
            ClientError::Fetch(e) => write!(f, "{e}"),
            ClientError::Agent(e) => write!(f, "{e}"),
            ClientError::Token(e) => write!(f, "{e}"),
            ClientError::Store(e) => write!(f, "{e}"),
            ClientError::StepUpLimit => f.write_str(
                "the server keeps asking for more scope; giving up after the retry limit",
            ),
            ClientError::Forbidden => f.write_str("the server refused the request (403)"),
        }
    }
}

impl std::error::Error for ClientError {}

use crate::sys::now;

fn fill(buf: &mut [u8]) {
    // The OS random source does not fail on the platforms tokio supports; if it did,
    // the zeros would only weaken a `jti`, which the token endpoint rejects on replay.
    let _ = crate::sys::try_fill(buf);
}

fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

struct Inner<S> {
    config: ClientConfig,
    fetcher: Fetcher,
    store: Arc<S>,
    agent: Arc<dyn UserAgent>,
    signer: Option<Arc<dyn AssertionSigner>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    discovered: Mutex<HashMap<String, Discovered>>,
    step_up: Mutex<StepUpLimiter>,
    refreshed_on_401: Mutex<HashSet<[u8; 32]>>,
    observer: Option<Observer>,
    requests: std::sync::atomic::AtomicUsize,
}

/// An MCP client's authorization: give it the server URL and the challenges the server
/// answers with; it gives back access tokens. Cheap to clone; share one per process.
pub struct OAuthClient<S> {
    inner: Arc<Inner<S>>,
}

impl<S> Clone for OAuthClient<S> {
    fn clone(&self) -> Self {
        OAuthClient {
            inner: self.inner.clone(),
        }
    }
}

impl<S> fmt::Debug for OAuthClient<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OAuthClient").finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<S: CredentialStore + 'static> OAuthClient<S> {
    /// A client with this configuration (its `redirect_uri` is replaced by the user
    /// agent's), fetching through `fetcher`, keeping credentials in `store`.
    pub fn new(
        mut config: ClientConfig,
        fetcher: Fetcher,
        store: Arc<S>,
        agent: Arc<dyn UserAgent>,
    ) -> Self {
        let redirect = agent.redirect_uri();
        config.metadata.redirect_uris = Some(vec![redirect.clone()]);
        config.redirect_uri = redirect;
        OAuthClient {
            inner: Arc::new(Inner {
                config,
                fetcher,
                store,
                agent,
                signer: None,
                locks: Mutex::new(HashMap::new()),
                discovered: Mutex::new(HashMap::new()),
                step_up: Mutex::new(StepUpLimiter::default()),
                refreshed_on_401: Mutex::new(HashSet::new()),
                observer: None,
                requests: std::sync::atomic::AtomicUsize::new(0),
            }),
        }
    }

    /// Reports each [`Step`] to `observer`. Call before sharing the client.
    pub fn with_observer(mut self, observer: Observer) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.observer = Some(observer);
        }
        self
    }

    /// Signs `private_key_jwt` client assertions with `signer`. Call before sharing.
    pub fn with_assertion_signer(mut self, signer: Arc<dyn AssertionSigner>) -> Self {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.signer = Some(signer);
        }
        self
    }

    /// HTTP requests this client has sent to authorization and discovery endpoints.
    pub fn requests_sent(&self) -> usize {
        self.inner
            .requests
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The store.
    pub fn store(&self) -> &Arc<S> {
        &self.inner.store
    }

    fn observe(&self, step: Step) {
        if let Some(o) = &self.inner.observer {
            o(&step);
        }
    }

    fn store_err(e: S::Error) -> ClientError {
        ClientError::Store(Box::new(e))
    }

    async fn send(
        &self,
        req: http::Request<Vec<u8>>,
    ) -> Result<http::Response<bytes::Bytes>, ClientError> {
        self.observe(Step::Request {
            method: req.method().to_string(),
            url: req.uri().to_string(),
        });
        self.inner
            .requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let resp = self
            .inner
            .fetcher
            .fetch(req)
            .await
            .map_err(ClientError::Fetch)?;
        self.observe(Step::Response {
            status: resp.status().as_u16(),
        });
        Ok(resp)
    }

    /// The access token to send to `server` now, refreshing it first when it expires
    /// within the configured margin; `None` when there is no credential (the first
    /// request goes out without one and its 401 starts the flow).
    pub async fn access_token(&self, server: &ResourceUri) -> Result<Option<String>, ClientError> {
        let key = server.as_str();
        let Some(cred) = self.inner.store.credential(key).map_err(Self::store_err)? else {
            return Ok(None);
        };
        if cred
            .tokens
            .needs_refresh(now(), self.inner.config.refresh_ahead)
            && cred.tokens.refresh_token.is_some()
        {
            let old = cred.tokens.access_token.expose().to_owned();
            if let Some(c) = self.refresh(server, &old).await? {
                return Ok(Some(c.tokens.access_token.expose().to_owned()));
            }
            return Ok(None);
        }
        Ok(Some(cred.tokens.access_token.expose().to_owned()))
    }

    /// Handles a `401` or `403` from `server` for a request sent with `rejected` (the
    /// token, or `None`), given the response headers. `operation` names what was being
    /// done (the JSON-RPC method or tool) for the step-up retry cap. Returns the token
    /// to retry with.
    ///
    /// - 401: a refresh when the rejected token is the stored one and has a refresh
    ///   token (once per token), otherwise the whole flow from the challenge;
    /// - 403 `insufficient_scope`: step-up, asking for the union of the held and the
    ///   challenged scopes, at most twice per operation (MCP-SCOPE-13/14);
    /// - 403 otherwise: [`ClientError::Forbidden`].
    pub async fn handle_challenge(
        &self,
        server: &ResourceUri,
        status: StatusCode,
        headers: &HeaderMap,
        rejected: Option<&str>,
        operation: &str,
    ) -> Result<String, ClientError> {
        let params = headers
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| parse_www_authenticate(v.as_bytes()).ok())
            .find_map(|c| bearer_params(&c));
        self.observe(Step::Challenged {
            status: status.as_u16(),
            error: params.as_ref().and_then(|p| p.error.clone()),
            scope: params.as_ref().and_then(|p| p.scope.clone()),
            resource_metadata: params.as_ref().and_then(|p| p.resource_metadata.clone()),
        });
        let key = server.as_str();
        let stored = self.inner.store.credential(key).map_err(Self::store_err)?;
        if status == StatusCode::FORBIDDEN {
            let insufficient = params
                .as_ref()
                .is_some_and(|p| p.error.as_deref() == Some("insufficient_scope"));
            if !insufficient {
                return Err(ClientError::Forbidden);
            }
            if !lock(&self.inner.step_up).try_step_up(key, operation) {
                return Err(ClientError::StepUpLimit);
            }
            // What was asked for and what was granted (a server may grant less, or
            // drop `offline_access` from the token's scope).
            let held = stored.as_ref().map(|c| {
                mcp_oauth_client_flow::scope_union(
                    c.requested_scope.as_deref().unwrap_or(""),
                    c.tokens.scope.as_deref().unwrap_or(""),
                )
                .unwrap_or_default()
            });
            return self
                .authorize(
                    server,
                    params.as_ref(),
                    held.or_else(|| Some(String::new())),
                )
                .await;
        }
        if let (Some(cred), Some(rejected)) = (&stored, rejected)
            && cred.tokens.refresh_token.is_some()
            && cred.tokens.access_token.expose() == rejected
            && lock(&self.inner.refreshed_on_401).insert(fingerprint(rejected))
            && let Some(c) = self.refresh(server, rejected).await?
        {
            let token = c.tokens.access_token.expose().to_owned();
            lock(&self.inner.refreshed_on_401).insert(fingerprint(&token));
            return Ok(token);
        }
        // A fresh start: what discovery learnt before may be stale (the server may have
        // moved to another authorization server).
        lock(&self.inner.discovered).remove(key);
        self.authorize(server, params.as_ref(), None).await
    }

    /// The operation succeeded: its step-up count starts again.
    pub fn operation_succeeded(&self, server: &ResourceUri, operation: &str) {
        lock(&self.inner.step_up).succeeded(server.as_str(), operation);
    }

    /// Runs the whole flow for `server` (discovery, registration, authorization, token)
    /// and stores the result. `held` is set for step-up (the scopes to keep).
    pub async fn authorize(
        &self,
        server: &ResourceUri,
        challenge: Option<&BearerParams>,
        held: Option<String>,
    ) -> Result<String, ClientError> {
        let key = server.as_str();
        let store = &self.inner.store;
        let previous = store.credential(key).map_err(Self::store_err)?;
        let mut flow = AuthFlow::new(self.inner.config.clone(), server.clone(), challenge)
            .map_err(ClientError::Flow)?
            .with_registered_clients(store.clients().map_err(Self::store_err)?)
            .with_held_scope(held.clone())
            .prefer_issuer(previous.as_ref().map(|c| c.issuer.clone()));
        if held.is_some()
            && let Some(d) = lock(&self.inner.discovered).get(key).cloned()
        {
            flow = flow.with_discovered(d);
        }
        let mut rng = crate::sys::rng();
        loop {
            match flow.poll_action(now(), &mut rng) {
                Action::Send(req) => {
                    let resp = self.send(req).await?;
                    // A failure is reported by the next poll.
                    let _ = flow.handle_response(now(), resp.status(), resp.body());
                }
                Action::Redirect(url) => {
                    self.observe(Step::Authorize { url: url.clone() });
                    let callback = self
                        .inner
                        .agent
                        .authorize(&url)
                        .await
                        .map_err(ClientError::Agent)?;
                    if flow.handle_callback(&callback).is_ok() {
                        self.observe(Step::Callback);
                    }
                }
                Action::Done(a) => {
                    let issuer = a.issuer().to_owned();
                    if a.new_registration {
                        store
                            .save_client(&issuer, &a.client)
                            .map_err(Self::store_err)?;
                    }
                    if let Some(p) = &previous
                        && p.issuer != issuer
                    {
                        self.observe(Step::Discarded {
                            reason: format!(
                                "the server now uses {issuer}; tokens from {} are not sent there",
                                p.issuer
                            ),
                        });
                    }
                    let omit = self
                        .inner
                        .config
                        .issuers
                        .iter()
                        .any(|(i, o)| *i == issuer && o.omit_resource);
                    let cred = Credential::from_authorized(&a, !omit);
                    store.save_credential(key, &cred).map_err(Self::store_err)?;
                    lock(&self.inner.discovered).insert(key.to_owned(), a.discovered.clone());
                    self.observe(Step::Authorized {
                        issuer,
                        scope: a.tokens.scope.clone(),
                        refresh_token: a.tokens.refresh_token.is_some(),
                    });
                    return Ok(a.tokens.access_token.expose().to_owned());
                }
                Action::Failed(e) => return Err(ClientError::Flow(e)),
                Action::Pending => {
                    return Err(ClientError::Flow(FlowError::UnexpectedInput));
                }
                _ => return Err(ClientError::Flow(FlowError::UnexpectedInput)),
            }
        }
    }

    fn key_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        lock(&self.inner.locks)
            .entry(key.to_owned())
            .or_default()
            .clone()
    }

    /// Refreshes the credential for `server` whose access token was `old`, once:
    /// tasks of this process queue on a per-credential lock and processes sharing the
    /// store on its [`lock_credential`](CredentialStore::lock_credential); whoever comes
    /// second re-reads the store and uses the tokens the first one got, so a rotating
    /// refresh token is spent exactly once. After `invalid_grant` the store is read
    /// again (another process may have rotated it) before the credential is dropped.
    /// `Ok(None)`: no usable credential; run the flow.
    pub async fn refresh(
        &self,
        server: &ResourceUri,
        old: &str,
    ) -> Result<Option<Credential>, ClientError> {
        let key = server.as_str().to_owned();
        let task_lock = self.key_lock(&key);
        let _task = task_lock.lock().await;
        let store = self.inner.store.clone();
        let k = key.clone();
        let _process = tokio::task::spawn_blocking(move || store.lock_credential(&k))
            .await
            .map_err(|e| ClientError::Store(Box::new(e)))?
            .map_err(Self::store_err)?;
        for attempt in 0..2 {
            let Some(cred) = self.inner.store.credential(&key).map_err(Self::store_err)? else {
                return Ok(None);
            };
            if cred.tokens.access_token.expose() != old {
                self.observe(Step::Refreshed { spent: false });
                return Ok(Some(cred));
            }
            let client: Option<RegisteredClient> = self
                .inner
                .store
                .client(&cred.issuer)
                .map_err(Self::store_err)?;
            let signer_auth = self
                .inner
                .signer
                .as_ref()
                .filter(|_| cred.auth_method == "private_key_jwt")
                .map(|s| ClientAuth::PrivateKeyJwt(s.clone()));
            let mut jti = [0u8; 16];
            fill(&mut jti);
            let Some(req) =
                cred.refresh_request(client.as_ref(), signer_auth.as_ref(), now(), &jti)
            else {
                return Ok(None);
            };
            let req = req.map_err(ClientError::Token)?;
            let resp = self.send(req).await?;
            match parse_token_response(
                resp.status(),
                resp.body(),
                now(),
                cred.tokens.scope.as_deref(),
                cred.tokens.refresh_token.as_ref(),
            ) {
                Ok(tokens) => {
                    let mut updated = cred.clone();
                    updated.tokens = tokens;
                    self.inner
                        .store
                        .save_credential(&key, &updated)
                        .map_err(Self::store_err)?;
                    self.observe(Step::Refreshed { spent: true });
                    return Ok(Some(updated));
                }
                Err(e) if e.is_invalid_grant() && attempt == 0 => {
                    // Someone may have rotated it without the lock (another store user):
                    // read again; if unchanged, the credential is dead.
                    let again = self.inner.store.credential(&key).map_err(Self::store_err)?;
                    if again.as_ref().map(|c| &c.tokens.refresh_token)
                        != Some(&cred.tokens.refresh_token)
                    {
                        continue;
                    }
                    self.inner
                        .store
                        .remove_credential(&key)
                        .map_err(Self::store_err)?;
                    self.observe(Step::Discarded {
                        reason: "the refresh token was refused (invalid_grant)".into(),
                    });
                    return Ok(None);
                }
                Err(e) if e.is_invalid_grant() => return Ok(None),
                Err(e) => return Err(ClientError::Token(e)),
            }
        }
        Ok(None)
    }

    /// A `client_credentials` token for a machine client (no user, no browser), stored
    /// like any other credential. `client` is the pre-registered client; `auth` how it
    /// authenticates (a secret, or a signer for `private_key_jwt`).
    pub async fn client_credentials(
        &self,
        server: &ResourceUri,
        client: &RegisteredClient,
        auth: &ClientAuth,
        scope: Option<&str>,
    ) -> Result<String, ClientError> {
        // Discovery alone, through the flow: run it until it wants to register.
        let d = self.discover(server).await?;
        let mut jti = [0u8; 16];
        fill(&mut jti);
        let token_endpoint = d.metadata.token_endpoint.clone().unwrap_or_default();
        let req = token_request(
            &token_endpoint,
            &TokenClient {
                client_id: &client.client_id,
                auth,
                issuer: &d.metadata.issuer,
            },
            &Grant::ClientCredentials { scope },
            Some(&d.resource),
            now(),
            &jti,
        )
        .map_err(ClientError::Token)?;
        let resp = self.send(req).await?;
        let tokens = parse_token_response(resp.status(), resp.body(), now(), scope, None)
            .map_err(ClientError::Token)?;
        let token = tokens.access_token.expose().to_owned();
        let cred = Credential::new(&d, &client.client_id, auth.method(), tokens);
        self.inner
            .store
            .save_credential(server.as_str(), &cred)
            .map_err(Self::store_err)?;
        Ok(token)
    }

    /// Discovery only: protected resource metadata and authorization server metadata.
    pub async fn discover(&self, server: &ResourceUri) -> Result<Discovered, ClientError> {
        if let Some(d) = lock(&self.inner.discovered).get(server.as_str()).cloned() {
            return Ok(d);
        }
        let mut flow = AuthFlow::new(self.inner.config.clone(), server.clone(), None)
            .map_err(ClientError::Flow)?;
        let mut rng = crate::sys::rng();
        loop {
            if let Some(d) = flow.discovered() {
                let d = d.clone();
                lock(&self.inner.discovered).insert(server.as_str().to_owned(), d.clone());
                return Ok(d);
            }
            match flow.poll_action(now(), &mut rng) {
                Action::Send(req) => {
                    let resp = self.send(req).await?;
                    let _ = flow.handle_response(now(), resp.status(), resp.body());
                }
                Action::Failed(e) => return Err(ClientError::Flow(e)),
                _ => return Err(ClientError::Flow(FlowError::UnexpectedInput)),
            }
        }
    }
}
