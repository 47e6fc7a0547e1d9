//! The MCP client's driver: IO only. It runs [`mcp_oauth_client_flow::AuthFlow`] and
//! [`RefreshFlow`](mcp_oauth_client_flow::RefreshFlow) over the guarded [`Fetcher`], asks
//! [`TokenPolicy`] what each token and each challenge calls for (refresh ahead of expiry,
//! `401` → refresh once then re-authorize, `insufficient_scope` step-up), keeps tokens
//! in a [`CredentialStore`], single-flights refreshes across tasks and processes, and
//! reports [`Step`]s. The clock and entropy come from [`crate::sys`].

mod agent;
mod drive;
mod layer;
mod refresh;
#[cfg(feature = "rmcp-client")]
mod rmcp;
#[cfg(feature = "ring")]
mod signer;
mod store;
#[cfg(test)]
mod tests;

use core::fmt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use http::{HeaderMap, StatusCode, header};
use mcp_oauth_client_flow::{
    AssertionSigner, ChallengeDecision, ClientConfig, CredentialStore, Discovered, FlowError,
    GiveUp, Rejection, ResourceUri, TokenDecision, TokenError, TokenPolicy, bearer_challenge,
};

use crate::http::{FetchError, Fetcher};
use crate::sys::now;

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

struct Inner<S> {
    config: ClientConfig,
    fetcher: Fetcher,
    store: Arc<S>,
    agent: Arc<dyn UserAgent>,
    signer: Option<Arc<dyn AssertionSigner>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    discovered: Mutex<HashMap<String, Discovered>>,
    policy: Mutex<TokenPolicy>,
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
                policy: Mutex::new(TokenPolicy::for_config(&config)),
                config,
                fetcher,
                store,
                agent,
                signer: None,
                locks: Mutex::new(HashMap::new()),
                discovered: Mutex::new(HashMap::new()),
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
    /// within the configured margin; `None` when there is no usable credential (the
    /// request goes out without one and its 401 starts the flow).
    pub async fn access_token(&self, server: &ResourceUri) -> Result<Option<String>, ClientError> {
        let key = server.as_str();
        let held = self.inner.store.credential(key).map_err(Self::store_err)?;
        let decision = lock(&self.inner.policy).decide_token(now(), held.as_ref());
        let Some(cred) = held else {
            return Ok(None);
        };
        let token = cred.tokens.access_token.expose();
        match decision {
            TokenDecision::Use => Ok(Some(token.to_owned())),
            TokenDecision::Refresh => Ok(self
                .refresh(server, token)
                .await?
                .map(|c| c.tokens.access_token.expose().to_owned())),
            _ => Ok(None),
        }
    }

    /// Handles a `401` or `403` from `server` for a request sent with `rejected` (the
    /// token, or `None`), given the response headers. `operation` names what was being
    /// done (the JSON-RPC method or tool) for the step-up retry cap. Returns the token
    /// to retry with. What each challenge calls for is [`TokenPolicy::handle_challenge`]'s
    /// decision:
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
        let params = bearer_challenge(
            headers
                .get_all(header::WWW_AUTHENTICATE)
                .iter()
                .map(|v| v.as_bytes()),
        );
        self.observe(Step::Challenged {
            status: status.as_u16(),
            error: params.as_ref().and_then(|p| p.error.clone()),
            scope: params.as_ref().and_then(|p| p.scope.clone()),
            resource_metadata: params.as_ref().and_then(|p| p.resource_metadata.clone()),
        });
        let key = server.as_str();
        let held = self.inner.store.credential(key).map_err(Self::store_err)?;
        let rejection = Rejection::new(key, operation, status)
            .with_challenge(params.as_ref())
            .with_held(held.as_ref())
            .with_rejected(rejected);
        let decision = lock(&self.inner.policy).handle_challenge(&rejection);
        let reauthorize = match decision {
            ChallengeDecision::Refresh { otherwise } => {
                let old = rejected.unwrap_or_default();
                if let Some(c) = self.refresh(server, old).await? {
                    let token = c.tokens.access_token.expose().to_owned();
                    lock(&self.inner.policy).handle_refreshed(&token);
                    return Ok(token);
                }
                otherwise
            }
            ChallengeDecision::Authorize(r) => r,
            ChallengeDecision::GiveUp(GiveUp::StepUpLimit) => return Err(ClientError::StepUpLimit),
            _ => return Err(ClientError::Forbidden),
        };
        self.run_flow(server, &reauthorize).await
    }

    /// The operation succeeded: its step-up count starts again.
    pub fn operation_succeeded(&self, server: &ResourceUri, operation: &str) {
        lock(&self.inner.policy).handle_success(server.as_str(), operation);
    }
}
