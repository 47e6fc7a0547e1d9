//! The whole authorization as one sans-IO state machine: from a challenge (or a cold
//! start) to a token. The caller drives it:
//!
//! ```text
//! loop {
//!     match flow.poll_action(now, &mut rng) {
//!         Action::Send(req)     => flow.handle_response(now, status, &body),  // do the HTTP request
//!         Action::Redirect(url) => flow.handle_callback(now, &callback_url),   // user agent
//!         Action::Done(auth)    => break,                                      // save, use
//!         Action::Failed(e)     => return Err(e),
//!         Action::Pending       => unreachable for a well-behaved driver,
//!     }
//! }
//! ```

use core::fmt;

use http::{Method, Request, StatusCode, header};
use mcp_oauth_as_metadata::{
    AsMetadataError, AuthorizationServerMetadata, LegacyDiscovery, discovery_urls,
};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::{
    RegisteredClient, RegistrationError, RegistrationRoute, choose_registration,
    parse_registration_response, registration_request,
};
use mcp_oauth_pkce::CryptoRng;
use mcp_oauth_prm_metadata::{BearerParams, Candidate, PrmError, ProtectedResourceMetadata};
use mcp_oauth_resource_indicators::ResourceUri;

use crate::authorize::{AuthorizationRequest, PendingAuthorization};
use crate::callback::AuthorizationCode;
use crate::client_auth::{client_auth, pick_auth_method};
use crate::config::ClientConfig;
use crate::scope::{scope_union, select_scope};
use crate::token::{Grant, TokenClient, TokenSet, parse_token_response, token_request};

/// What discovery learnt: the resource, its metadata, the authorization server chosen.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Discovered {
    /// The canonical resource to ask tokens for (the document's `resource`).
    pub resource: ResourceUri,
    /// The protected resource metadata (`None` in 2025-03-26 legacy mode).
    pub prm: Option<ProtectedResourceMetadata>,
    /// The validated authorization server metadata.
    pub metadata: AuthorizationServerMetadata,
    /// Whether the metadata was assumed (2025-03-26 default endpoints).
    pub legacy: bool,
}

/// The flow's result.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Authorized {
    /// What discovery learnt (reuse it for step-up: [`AuthFlow::with_discovered`]).
    pub discovered: Discovered,
    /// The client used. Save it under the issuer when [`new_registration`](Self::new_registration).
    pub client: RegisteredClient,
    /// Whether `client` was registered by this flow.
    pub new_registration: bool,
    /// The scope the authorization request asked for.
    pub requested_scope: Option<String>,
    /// The tokens.
    pub tokens: TokenSet,
}

impl Authorized {
    /// The issuer the tokens are from.
    pub fn issuer(&self) -> &str {
        &self.discovered.metadata.issuer
    }
}

/// What the driver does next.
#[derive(Debug)]
#[non_exhaustive]
pub enum Action {
    /// Perform this HTTP request (no redirects), then call [`AuthFlow::handle_response`].
    Send(Request<Vec<u8>>),
    /// Send the user agent to this URL, then call [`AuthFlow::handle_callback`] with the
    /// URL it was redirected to.
    Redirect(String),
    /// Done.
    Done(Box<Authorized>),
    /// Failed; the flow is over.
    Failed(FlowError),
    /// Waiting for a response or callback the driver has not delivered.
    Pending,
}

enum Stage {
    Prm {
        candidates: Vec<Candidate>,
        next: usize,
        all_not_found: bool,
        last: Option<PrmError>,
        status: Option<u16>,
    },
    Asm {
        resource: ResourceUri,
        prm: Box<ProtectedResourceMetadata>,
        servers: Vec<String>,
        server: usize,
        urls: Vec<String>,
        next: usize,
        last: Option<AsMetadataError>,
    },
    Legacy,
    Register(Box<Discovered>),
    Authorize(Box<Discovered>, Box<RegisteredClient>),
    Callback(
        Box<Discovered>,
        Box<RegisteredClient>,
        Box<PendingAuthorization>,
    ),
    Token(
        Box<Discovered>,
        Box<RegisteredClient>,
        Box<PendingAuthorization>,
    ),
    Done(Box<Authorized>),
    Failed(FlowError),
    Over,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Waiting {
    Nothing,
    Response,
    Callback,
}

/// The MCP client authorization flow (module docs show the driver loop).
pub struct AuthFlow {
    config: ClientConfig,
    server: ResourceUri,
    challenge_scope: Option<String>,
    held_scope: Option<String>,
    known: Vec<(String, RegisteredClient)>,
    prefer: Option<String>,
    stage: Stage,
    waiting: Waiting,
    new_registration: bool,
    requested_scope: Option<String>,
    code: Option<AuthorizationCode>,
    sent: usize,
}

impl fmt::Debug for AuthFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthFlow")
            .field("server", &self.server)
            .field("requests_sent", &self.sent)
            .finish_non_exhaustive()
    }
}

impl AuthFlow {
    /// A flow for the MCP server at `server`, started by a challenge's parameters (from a
    /// 401, or a 403 `insufficient_scope` for step-up) or cold (`None`).
    pub fn new(
        config: ClientConfig,
        server: ResourceUri,
        challenge: Option<&BearerParams>,
    ) -> Result<Self, FlowError> {
        let candidates = mcp_oauth_prm_metadata::discovery_candidates(
            &server,
            challenge.and_then(|c| c.resource_metadata.as_deref()),
        )
        .map_err(|e| FlowError::NoResourceMetadata {
            last: Some(e),
            status: None,
        })?;
        Ok(AuthFlow {
            config,
            server,
            challenge_scope: challenge.and_then(|c| c.scope.clone()),
            held_scope: None,
            known: Vec::new(),
            prefer: None,
            stage: Stage::Prm {
                candidates,
                next: 0,
                all_not_found: true,
                last: None,
                status: None,
            },
            waiting: Waiting::Nothing,
            new_registration: false,
            requested_scope: None,
            code: None,
            sent: 0,
        })
    }

    /// Skips discovery: reuse what an earlier flow learnt (step-up, re-authorization).
    pub fn with_discovered(mut self, discovered: Discovered) -> Self {
        self.stage = Stage::Register(Box::new(discovered));
        self
    }

    /// Clients registered earlier, by issuer (from the credential store, MCP-REG-4). A
    /// client is only ever used at the issuer it is listed under (MCP-REG-5).
    pub fn with_registered_clients<I: IntoIterator<Item = (String, RegisteredClient)>>(
        mut self,
        clients: I,
    ) -> Self {
        self.known.extend(clients);
        self
    }

    /// The scopes already granted or requested (step-up asks for their union with the
    /// challenge's, MCP-SCOPE-4).
    pub fn with_held_scope(mut self, scope: Option<String>) -> Self {
        self.held_scope = scope;
        self
    }

    /// Try this issuer first when the metadata lists several (the one that worked last
    /// time; MCP-DISC-4).
    pub fn prefer_issuer(mut self, issuer: Option<String>) -> Self {
        self.prefer = issuer;
        self
    }

    /// What discovery learnt, once it has finished (before registration starts).
    pub fn discovered(&self) -> Option<&Discovered> {
        match &self.stage {
            Stage::Register(d) if self.waiting == Waiting::Nothing => Some(d),
            _ => None,
        }
    }

    /// HTTP requests emitted so far.
    pub fn requests_sent(&self) -> usize {
        self.sent
    }

    fn get(&mut self, url: &str) -> Action {
        let mut b = Request::builder()
            .method(Method::GET)
            .uri(url)
            .header(header::ACCEPT, "application/json");
        if let Some(v) = &self.config.protocol_version {
            b = b.header("mcp-protocol-version", v.as_str());
        }
        match b.body(Vec::new()) {
            Ok(r) => self.send(r),
            // A URL that parsed as a ResourceUri but not as an http::Uri: treat it as a
            // failed fetch.
            Err(_) => self.fail(FlowError::UnexpectedInput),
        }
    }

    fn send(&mut self, r: Request<Vec<u8>>) -> Action {
        self.waiting = Waiting::Response;
        self.sent += 1;
        Action::Send(r)
    }

    fn fail(&mut self, e: FlowError) -> Action {
        self.stage = Stage::Over;
        self.waiting = Waiting::Nothing;
        Action::Failed(e)
    }

    /// What to do next. `rng` gives the PKCE verifier, `state` and assertion ids.
    pub fn poll_action<R: CryptoRng + ?Sized>(&mut self, now: UnixTime, rng: &mut R) -> Action {
        if self.waiting != Waiting::Nothing {
            return Action::Pending;
        }
        match &mut self.stage {
            Stage::Prm {
                candidates,
                next,
                last,
                status,
                all_not_found,
            } => match candidates.get(*next) {
                Some(c) => {
                    let url = c.url.clone();
                    self.get(&url)
                }
                None if *all_not_found && self.config.legacy_discovery => {
                    self.stage = Stage::Legacy;
                    let url = LegacyDiscovery::new(&self.server).metadata_url();
                    self.get(&url)
                }
                None => {
                    let e = FlowError::NoResourceMetadata {
                        last: last.take(),
                        status: *status,
                    };
                    self.fail(e)
                }
            },
            Stage::Asm {
                urls, next, last, ..
            } => match urls.get(*next) {
                Some(u) => {
                    let u = u.clone();
                    self.get(&u)
                }
                None => {
                    let e = FlowError::NoAuthorizationServer { last: last.take() };
                    self.fail(e)
                }
            },
            Stage::Legacy => Action::Pending,
            Stage::Register(_) => self.register(rng),
            Stage::Authorize(..) => self.authorize(rng),
            Stage::Callback(..) => Action::Pending,
            Stage::Token(..) => self.token(now, rng),
            Stage::Done(_) => match core::mem::replace(&mut self.stage, Stage::Over) {
                Stage::Done(a) => Action::Done(a),
                _ => Action::Pending,
            },
            Stage::Failed(_) => match core::mem::replace(&mut self.stage, Stage::Over) {
                Stage::Failed(e) => Action::Failed(e),
                _ => Action::Pending,
            },
            Stage::Over => Action::Pending,
        }
    }

    /// Feeds the response to the last [`Action::Send`]. Redirects are not followed by
    /// the driver: a 3xx is a failed fetch here.
    /// An error ends the flow (the next poll repeats it as [`Action::Failed`]).
    pub fn handle_response(
        &mut self,
        now: UnixTime,
        status: StatusCode,
        body: &[u8],
    ) -> Result<(), FlowError> {
        if self.waiting != Waiting::Response {
            return Err(FlowError::UnexpectedInput);
        }
        self.waiting = Waiting::Nothing;
        let r = self.response(now, status, body);
        if let Err(e) = &r {
            self.stage = Stage::Failed(e.clone());
        }
        r
    }

    /// Feeds the URL the user agent was redirected to after an [`Action::Redirect`].
    pub fn handle_callback(&mut self, callback: &str) -> Result<(), FlowError> {
        if self.waiting != Waiting::Callback {
            return Err(FlowError::UnexpectedInput);
        }
        self.waiting = Waiting::Nothing;
        match core::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Callback(d, c, p) => match p.check_callback(callback) {
                Ok(code) => {
                    self.code = Some(code);
                    self.stage = Stage::Token(d, c, p);
                    Ok(())
                }
                Err(e) => {
                    self.stage = Stage::Failed(FlowError::Callback(e.clone()));
                    Err(FlowError::Callback(e))
                }
            },
            other => {
                self.stage = other;
                Err(FlowError::UnexpectedInput)
            }
        }
    }
}

mod discovery;
mod error;
mod grant;

pub use error::FlowError;
