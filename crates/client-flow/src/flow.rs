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
    ClientMetadata, RegisteredClient, RegistrationError, RegistrationRoute, choose_registration,
    parse_registration_response, registration_request,
};
use mcp_oauth_pkce::CryptoRng;
use mcp_oauth_prm_metadata::{BearerParams, Candidate, PrmError, ProtectedResourceMetadata};
use mcp_oauth_resource_indicators::ResourceUri;

use crate::authorize::{AuthorizationRequest, AuthorizeError, PendingAuthorization};
use crate::callback::{AuthorizationCode, CallbackError};
use crate::scope::{scope_union, select_scope};
use crate::token::{
    ClientAuth, Grant, TokenClient, TokenError, TokenSet, parse_token_response, token_request,
};

/// Per-issuer adjustments for authorization servers that bend the rules. Each is named
/// for what it gives up.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct IssuerOptions {
    /// Send no `resource` parameter (Entra ID v2 rejects it; the token's audience then
    /// comes from the scope). Gives up RFC 8707 audience binding at this issuer.
    pub omit_resource: bool,
    /// Extra authorization parameters, e.g. Auth0's `audience`.
    pub extra_params: Vec<(String, String)>,
    /// A fixed scope to request instead of the selected one (Entra: `{app}/.default`).
    pub scope: Option<String>,
    /// **Dangerous**: treat metadata without `code_challenge_methods_supported` as S256
    /// (see [`mcp_oauth_as_metadata::Validation::dangerous_assume_s256_for_issuer`]).
    pub dangerous_assume_s256: bool,
    /// An RFC 7591 initial access token for dynamic registration (Okta).
    pub initial_access_token: Option<mcp_oauth_dcr::Secret>,
}

impl IssuerOptions {
    /// Send no `resource` parameter ([`omit_resource`](Self::omit_resource)).
    pub fn without_resource(mut self) -> Self {
        self.omit_resource = true;
        self
    }

    /// An extra authorization parameter.
    pub fn extra_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra_params.push((name.into(), value.into()));
        self
    }

    /// A fixed scope.
    pub fn with_scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into());
        self
    }

    /// **Dangerous**: assume S256 for this issuer ([`dangerous_assume_s256`](Self::dangerous_assume_s256)).
    pub fn dangerous_assuming_s256(mut self) -> Self {
        self.dangerous_assume_s256 = true;
        self
    }

    /// An initial access token for dynamic registration.
    pub fn with_initial_access_token(mut self, token: mcp_oauth_dcr::Secret) -> Self {
        self.initial_access_token = Some(token);
        self
    }
}

/// What the client is and how it behaves. Built once, shared by every flow.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ClientConfig {
    /// The metadata sent in dynamic registration (`redirect_uris` must hold
    /// [`redirect_uri`](Self::redirect_uri)).
    pub metadata: ClientMetadata,
    /// The redirect URI used in authorization requests.
    pub redirect_uri: String,
    /// The client ID metadata document URL this client publishes, if any.
    pub cimd_url: Option<String>,
    /// Pre-registered clients, by issuer (MCP-REG-3, MCP-REG-4).
    pub preregistered: Vec<(String, RegisteredClient)>,
    /// Per-issuer adjustments.
    pub issuers: Vec<(String, IssuerOptions)>,
    /// Ask for `offline_access` when the authorization server lists it (default on).
    pub want_refresh_token: bool,
    /// Fall back to the 2025-03-26 discovery when the server has no protected resource
    /// metadata (default on).
    pub legacy_discovery: bool,
    /// `MCP-Protocol-Version` to send on discovery requests, if any.
    pub protocol_version: Option<String>,
    /// Refresh this many seconds before expiry (default 60).
    pub refresh_ahead: u64,
}

impl ClientConfig {
    /// A public native client (RFC 8252) with this name and loopback redirect URI.
    pub fn native(client_name: &str, redirect_uri: &str) -> Self {
        ClientConfig {
            metadata: ClientMetadata::native_public_client(client_name, [redirect_uri]),
            redirect_uri: redirect_uri.to_owned(),
            cimd_url: None,
            preregistered: Vec::new(),
            issuers: Vec::new(),
            want_refresh_token: true,
            legacy_discovery: true,
            protocol_version: None,
            refresh_ahead: 60,
        }
    }

    /// Adds a pre-registered client for `issuer`.
    pub fn preregistered(mut self, issuer: impl Into<String>, client: RegisteredClient) -> Self {
        self.preregistered.push((issuer.into(), client));
        self
    }

    /// Sets the options for `issuer`.
    pub fn issuer_options(mut self, issuer: impl Into<String>, options: IssuerOptions) -> Self {
        self.issuers.push((issuer.into(), options));
        self
    }

    fn options(&self, issuer: &str) -> Option<&IssuerOptions> {
        self.issuers
            .iter()
            .find(|(i, _)| i == issuer)
            .map(|(_, o)| o)
    }
}

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

/// Why the flow failed.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FlowError {
    /// No usable protected resource metadata (every candidate failed).
    NoResourceMetadata {
        /// The last document error, when a document was found.
        last: Option<PrmError>,
        /// The last HTTP status, when no document was read.
        status: Option<u16>,
    },
    /// No listed authorization server gave usable metadata.
    NoAuthorizationServer {
        /// The last metadata error (e.g. an issuer mismatch, no S256).
        last: Option<AsMetadataError>,
    },
    /// No way to get a client id at this issuer (no pre-registration, no CIMD support,
    /// no registration endpoint): configure one (MCP-REG-2 step 4).
    NoClient {
        /// The issuer.
        issuer: String,
    },
    /// Dynamic registration failed.
    Registration(RegistrationError),
    /// The authorization request could not be built.
    Authorize(AuthorizeError),
    /// The callback was refused.
    Callback(CallbackError),
    /// The token request failed.
    Token(TokenError),
    /// A response arrived that the flow did not ask for.
    UnexpectedInput,
}

impl fmt::Display for FlowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FlowError::NoResourceMetadata { last: Some(e), .. } => write!(f, "{e}"),
            FlowError::NoResourceMetadata { status, .. } => write!(
                f,
                "no protected resource metadata found (last status {})",
                status.map_or_else(|| "none".to_owned(), |s| s.to_string())
            ),
            FlowError::NoAuthorizationServer { last: Some(e) } => {
                write!(f, "no usable authorization server: {e}")
            }
            FlowError::NoAuthorizationServer { last: None } => {
                f.write_str("no usable authorization server metadata found")
            }
            FlowError::NoClient { issuer } => write!(
                f,
                "{issuer} offers no registration and no client is configured for it"
            ),
            FlowError::Registration(e) => write!(f, "{e}"),
            FlowError::Authorize(e) => write!(f, "{e}"),
            FlowError::Callback(e) => write!(f, "{e}"),
            FlowError::Token(e) => write!(f, "{e}"),
            FlowError::UnexpectedInput => f.write_str("input the flow did not ask for"),
        }
    }
}

impl std::error::Error for FlowError {}

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

    fn register<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Action {
        let Stage::Register(d) = core::mem::replace(&mut self.stage, Stage::Over) else {
            return Action::Pending;
        };
        let issuer = d.metadata.issuer.clone();
        let known = self
            .config
            .preregistered
            .iter()
            .chain(self.known.iter())
            .find(|(i, _)| *i == issuer)
            .map(|(_, c)| c.clone());
        let route = choose_registration(
            known.is_some(),
            self.config.cimd_url.is_some(),
            d.metadata.client_id_metadata_document_supported,
            d.metadata.registration_endpoint.as_deref(),
        );
        match (route, known) {
            (RegistrationRoute::PreRegistered, Some(c)) => {
                self.stage = Stage::Authorize(d, Box::new(c));
                self.authorize(rng)
            }
            (RegistrationRoute::ClientIdMetadataDocument, _) => {
                let mut md = self.config.metadata.clone();
                md.token_endpoint_auth_method = Some("none".to_owned());
                let c = RegisteredClient::new(self.config.cimd_url.clone().unwrap_or_default())
                    .with_metadata(md);
                self.stage = Stage::Authorize(d, Box::new(c));
                self.authorize(rng)
            }
            (RegistrationRoute::Dynamic, _) => {
                let endpoint = d.metadata.registration_endpoint.clone().unwrap_or_default();
                let mut md = self.config.metadata.clone();
                md.token_endpoint_auth_method = Some(
                    pick_auth_method(md.token_endpoint_auth_method.as_deref(), &d.metadata)
                        .to_owned(),
                );
                let iat = self
                    .config
                    .options(&issuer)
                    .and_then(|o| o.initial_access_token.clone());
                match registration_request(&endpoint, &md, iat.as_ref()) {
                    Ok(r) => {
                        self.stage = Stage::Register(d);
                        self.new_registration = true;
                        self.send(r)
                    }
                    Err(_) => {
                        self.fail(FlowError::Registration(RegistrationError::InvalidResponse))
                    }
                }
            }
            _ => self.fail(FlowError::NoClient { issuer }),
        }
    }

    fn authorize<R: CryptoRng + ?Sized>(&mut self, rng: &mut R) -> Action {
        let Stage::Authorize(d, c) = core::mem::replace(&mut self.stage, Stage::Over) else {
            return Action::Pending;
        };
        let m = &d.metadata;
        let opts = self.config.options(&m.issuer).cloned().unwrap_or_default();
        let scope = match (&opts.scope, &self.held_scope, &self.challenge_scope) {
            (Some(s), _, _) => Some(s.clone()),
            (None, Some(held), Some(ch)) => scope_union(held, ch),
            _ => select_scope(
                self.challenge_scope.as_deref(),
                d.prm.as_ref().and_then(|p| p.scopes_supported.as_deref()),
                m.scopes_supported.as_deref(),
                self.config.want_refresh_token,
            ),
        };
        let resource = (!opts.omit_resource).then_some(&d.resource);
        let req = AuthorizationRequest {
            authorization_endpoint: m.authorization_endpoint.as_deref().unwrap_or_default(),
            issuer: &m.issuer,
            iss_supported: m.authorization_response_iss_parameter_supported == Some(true),
            client_id: &c.client_id,
            redirect_uri: &self.config.redirect_uri,
            resource,
            scope: scope.as_deref(),
            extra: &opts.extra_params,
        };
        match req.build(rng) {
            Ok((url, pending)) => {
                self.requested_scope = scope;
                self.stage = Stage::Callback(d, c, Box::new(pending));
                self.waiting = Waiting::Callback;
                Action::Redirect(url)
            }
            Err(e) => self.fail(FlowError::Authorize(e)),
        }
    }

    fn token<R: CryptoRng + ?Sized>(&mut self, now: UnixTime, rng: &mut R) -> Action {
        let (Stage::Token(d, c, p), Some(code)) = (&self.stage, &self.code) else {
            return Action::Pending;
        };
        let auth = client_auth(c, &d.metadata);
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        let r = token_request(
            d.metadata.token_endpoint.as_deref().unwrap_or_default(),
            &TokenClient {
                client_id: &c.client_id,
                auth: &auth,
                issuer: &d.metadata.issuer,
            },
            &Grant::AuthorizationCode {
                code,
                verifier: p.verifier(),
                redirect_uri: &p.redirect_uri,
            },
            p.resource.as_ref(),
            now,
            &jti,
        );
        match r {
            Ok(r) => self.send(r),
            Err(e) => self.fail(FlowError::Token(e)),
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

    fn response(
        &mut self,
        now: UnixTime,
        status: StatusCode,
        body: &[u8],
    ) -> Result<(), FlowError> {
        match core::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Prm {
                candidates,
                next,
                mut all_not_found,
                mut last,
                ..
            } => {
                let c = candidates.get(next);
                if status == StatusCode::OK
                    && let Some(c) = c
                {
                    match mcp_oauth_prm_metadata::Validation::new()
                        .validate(body, &c.expected_resource)
                    {
                        Ok(prm) => {
                            return self.start_asm(prm);
                        }
                        Err(e) => {
                            all_not_found = false;
                            last = Some(e);
                        }
                    }
                } else if status != StatusCode::NOT_FOUND {
                    all_not_found = false;
                }
                self.stage = Stage::Prm {
                    candidates,
                    next: next + 1,
                    all_not_found,
                    last,
                    status: Some(status.as_u16()),
                };
                Ok(())
            }
            Stage::Asm {
                resource,
                prm,
                servers,
                server,
                urls,
                next,
                mut last,
            } => {
                let issuer = servers.get(server).cloned().unwrap_or_default();
                if status == StatusCode::OK {
                    let mut v = mcp_oauth_as_metadata::Validation::new();
                    if self
                        .config
                        .options(&issuer)
                        .is_some_and(|o| o.dangerous_assume_s256)
                    {
                        v = v.dangerous_assume_s256_for_issuer(issuer.clone());
                    }
                    match v.validate(body, &issuer) {
                        Ok(metadata) => {
                            self.stage = Stage::Register(Box::new(Discovered {
                                resource,
                                prm: Some(*prm),
                                metadata,
                                legacy: false,
                            }));
                            return Ok(());
                        }
                        Err(e) => {
                            // MCP-ASMD-6: a document for another issuer (or one that
                            // fails the PKCE rules) is never used; this server is done.
                            last = Some(e);
                            return self.next_server(resource, prm, servers, server + 1, last);
                        }
                    }
                }
                if next + 1 < urls.len() {
                    self.stage = Stage::Asm {
                        resource,
                        prm,
                        servers,
                        server,
                        urls,
                        next: next + 1,
                        last,
                    };
                    Ok(())
                } else {
                    self.next_server(resource, prm, servers, server + 1, last)
                }
            }
            Stage::Legacy => {
                let legacy = LegacyDiscovery::new(&self.server);
                let metadata = if status == StatusCode::OK {
                    match mcp_oauth_as_metadata::Validation::new().validate(body, legacy.issuer()) {
                        Ok(m) => m,
                        Err(e) => {
                            self.stage = Stage::Over;
                            return Err(FlowError::NoAuthorizationServer { last: Some(e) });
                        }
                    }
                } else if status == StatusCode::NOT_FOUND {
                    legacy.default_metadata()
                } else {
                    self.stage = Stage::Over;
                    return Err(FlowError::NoAuthorizationServer { last: None });
                };
                self.stage = Stage::Register(Box::new(Discovered {
                    resource: self.server.clone(),
                    prm: None,
                    metadata,
                    legacy: true,
                }));
                Ok(())
            }
            Stage::Register(d) => match parse_registration_response(status, body) {
                Ok(c) => {
                    self.stage = Stage::Authorize(d, Box::new(c));
                    Ok(())
                }
                Err(e) => Err(FlowError::Registration(e)),
            },
            Stage::Token(d, c, p) => {
                match parse_token_response(status, body, now, self.requested_scope.as_deref(), None)
                {
                    Ok(tokens) => {
                        self.stage = Stage::Done(Box::new(Authorized {
                            discovered: *d,
                            client: *c,
                            new_registration: self.new_registration,
                            requested_scope: self.requested_scope.clone(),
                            tokens,
                        }));
                        drop(p);
                        Ok(())
                    }
                    Err(e) => Err(FlowError::Token(e)),
                }
            }
            other => {
                self.stage = other;
                Err(FlowError::UnexpectedInput)
            }
        }
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

    fn start_asm(&mut self, prm: ProtectedResourceMetadata) -> Result<(), FlowError> {
        let resource = match ResourceUri::parse(&prm.resource) {
            Ok(r) => r,
            Err(_) => {
                return Err(FlowError::NoResourceMetadata {
                    last: None,
                    status: Some(200),
                });
            }
        };
        let mut servers = prm.authorization_servers.clone().unwrap_or_default();
        if let Some(p) = &self.prefer
            && let Some(i) = servers.iter().position(|s| s == p)
        {
            let s = servers.remove(i);
            servers.insert(0, s);
        }
        self.next_server(resource, Box::new(prm), servers, 0, None)
    }

    fn next_server(
        &mut self,
        resource: ResourceUri,
        prm: Box<ProtectedResourceMetadata>,
        servers: Vec<String>,
        mut server: usize,
        mut last: Option<AsMetadataError>,
    ) -> Result<(), FlowError> {
        while let Some(issuer) = servers.get(server) {
            match discovery_urls(issuer) {
                Ok(urls) => {
                    self.stage = Stage::Asm {
                        resource,
                        prm,
                        servers,
                        server,
                        urls,
                        next: 0,
                        last,
                    };
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    server += 1;
                }
            }
        }
        Err(FlowError::NoAuthorizationServer { last })
    }
}

/// The `token_endpoint_auth_method` to register with: the configured one when the
/// server lists it (or lists nothing), else the first of `none`,
/// `client_secret_basic`, `client_secret_post` that it lists.
pub fn pick_auth_method<'a>(
    configured: Option<&'a str>,
    m: &'a AuthorizationServerMetadata,
) -> &'a str {
    let supported = m.token_endpoint_auth_methods_supported.as_deref();
    let wanted = configured.unwrap_or("none");
    match supported {
        None => wanted,
        Some(list) if list.iter().any(|s| s == wanted) => wanted,
        Some(list) => ["none", "client_secret_basic", "client_secret_post"]
            .into_iter()
            .find(|c| list.iter().any(|s| s == c))
            .unwrap_or(wanted),
    }
}

/// How `client` authenticates at this server: the registered method; for a client with
/// a secret and no method (pre-registered), `client_secret_basic` unless the server lists
/// only `client_secret_post`.
pub fn client_auth(c: &RegisteredClient, m: &AuthorizationServerMetadata) -> ClientAuth {
    let method = c
        .metadata
        .token_endpoint_auth_method
        .as_deref()
        .or_else(|| {
            let list = m.token_endpoint_auth_methods_supported.as_deref()?;
            let basic = list.iter().any(|s| s == "client_secret_basic");
            let post = list.iter().any(|s| s == "client_secret_post");
            (post && !basic).then_some("client_secret_post")
        });
    ClientAuth::for_client(method, c.client_secret.as_ref())
}
