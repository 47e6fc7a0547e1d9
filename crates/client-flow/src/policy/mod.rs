//! The client's token policy as sans-IO decisions: which token to send, when to refresh
//! it, what a `401` or `403` calls for, when held credentials are dropped. The driver
//! asks ([`TokenPolicy::decide_token`]), feeds what happened
//! ([`TokenPolicy::handle_challenge`], [`TokenPolicy::handle_refreshed`],
//! [`TokenPolicy::handle_success`]) and performs the IO each answer names; the refresh
//! itself is the small machine [`RefreshFlow`], the machine-client grant
//! [`ClientCredentialsGrant`].
//!
//! ```
//! use mcp_oauth_client_flow::{TokenDecision, TokenPolicy, UnixTime};
//! let policy = TokenPolicy::new(60);
//! assert_eq!(policy.decide_token(UnixTime::from_secs(0), None), TokenDecision::NoCredential);
//! ```

use core::fmt;
use std::collections::HashSet;

use http::StatusCode;
use mcp_oauth_common::UnixTime;
use mcp_oauth_prm_metadata::{BearerError, BearerParams, bearer_params, parse_www_authenticate};
use mcp_oauth_resource_indicators::ResourceUri;
use sha2::{Digest as _, Sha256};

use crate::config::ClientConfig;
use crate::flow::{AuthFlow, Authorized, Discovered, FlowError};
use crate::scope::scope_union;
use crate::store::{Credential, StepUpLimiter};

mod client_credentials;
mod refresh;
#[cfg(test)]
mod tests;

pub use client_credentials::ClientCredentialsGrant;
pub use refresh::{RefreshFlow, RefreshStep};

/// How many rejected tokens [`TokenPolicy`] remembers as "refreshed once already"
/// before it starts again (a bound on memory, not a behaviour a caller sees in practice).
const MAX_REMEMBERED: usize = 4096;

/// What to do with the credential held for a server before sending it a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenDecision {
    /// Nothing is held: send the request without a token (its `401` starts the flow).
    NoCredential,
    /// Send the held access token.
    Use,
    /// The token expires within the margin (or has) and a refresh token is held: refresh
    /// first ([`RefreshFlow`]), then send the new token.
    Refresh,
    /// The token expires within the margin (or has) and cannot be refreshed: it is not
    /// sent; send the request without one (its `401` starts the flow) or run the flow.
    Reauthorize,
}

/// Why the client gives up on a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum GiveUp {
    /// This operation already stepped up the maximum number of times (MCP-SCOPE-14).
    StepUpLimit,
    /// A `403` with another error than `insufficient_scope`: more authorization will not
    /// help.
    Forbidden,
}

/// A run of the authorization flow the policy asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reauthorize {
    /// The challenge that started it (its `resource_metadata` and `scope` steer the flow).
    pub challenge: Option<BearerParams>,
    /// For step-up: the scopes held so far, asked for again with the challenged ones
    /// (MCP-SCOPE-13). `None` for a fresh start.
    pub held_scope: Option<String>,
}

impl Reauthorize {
    /// A fresh start from `challenge`.
    pub fn fresh(challenge: Option<BearerParams>) -> Self {
        Reauthorize {
            challenge,
            held_scope: None,
        }
    }

    /// A step-up keeping `held_scope`.
    pub fn step_up(challenge: Option<BearerParams>, held_scope: String) -> Self {
        Reauthorize {
            challenge,
            held_scope: Some(held_scope),
        }
    }

    /// Whether this is a step-up.
    pub fn is_step_up(&self) -> bool {
        self.held_scope.is_some()
    }

    /// Whether what discovery learnt before may be reused: for a step-up, yes (same
    /// server, same authorization server); a fresh start discovers again, since the
    /// server may have moved to another authorization server (MCP-REG-5).
    pub fn reuses_discovery(&self) -> bool {
        self.is_step_up()
    }

    /// The flow to run: this challenge and held scope, the registrations known per
    /// issuer, the issuer of the `previous` credential tried first, and `discovered`
    /// reused when [`reuses_discovery`](Self::reuses_discovery) allows it.
    pub fn build_flow(
        &self,
        config: ClientConfig,
        server: ResourceUri,
        known_clients: Vec<(String, mcp_oauth_dcr::RegisteredClient)>,
        previous: Option<&Credential>,
        discovered: Option<Discovered>,
    ) -> Result<AuthFlow, FlowError> {
        let mut flow = AuthFlow::new(config, server, self.challenge.as_ref())?
            .with_registered_clients(known_clients)
            .with_held_scope(self.held_scope.clone())
            .prefer_issuer(previous.map(|c| c.issuer.clone()));
        if self.reuses_discovery()
            && let Some(d) = discovered
        {
            flow = flow.with_discovered(d);
        }
        Ok(flow)
    }
}

/// What a `401` or `403` calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ChallengeDecision {
    /// Refresh the held credential ([`RefreshFlow`]) and retry with the new token (report
    /// it with [`TokenPolicy::handle_refreshed`]); when the refresh yields no credential,
    /// run `otherwise`.
    Refresh {
        /// The flow to run when the refresh gives nothing.
        otherwise: Reauthorize,
    },
    /// Run the authorization flow (a fresh start, or a step-up).
    Authorize(Reauthorize),
    /// Stop: the error to report.
    GiveUp(GiveUp),
}

/// A `401` or `403` from the MCP server, as the policy needs it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Rejection<'a> {
    /// The server's key in the store (its canonical URL).
    pub server: &'a str,
    /// What was being done (the JSON-RPC method or tool): step-up is capped per operation.
    pub operation: &'a str,
    /// `401`, `403` (any other status is handled as `401`).
    pub status: StatusCode,
    /// The parsed Bearer challenge ([`bearer_challenge`]).
    pub challenge: Option<&'a BearerParams>,
    /// The credential held for the server now (read from the store).
    pub held: Option<&'a Credential>,
    /// The access token the refused request carried, if any.
    pub rejected: Option<&'a str>,
}

impl<'a> Rejection<'a> {
    /// A rejection of a request to `server` for `operation` with `status`.
    pub fn new(server: &'a str, operation: &'a str, status: StatusCode) -> Self {
        Rejection {
            server,
            operation,
            status,
            challenge: None,
            held: None,
            rejected: None,
        }
    }

    /// With the parsed challenge.
    pub fn with_challenge(mut self, challenge: Option<&'a BearerParams>) -> Self {
        self.challenge = challenge;
        self
    }

    /// With the credential held now.
    pub fn with_held(mut self, held: Option<&'a Credential>) -> Self {
        self.held = held;
        self
    }

    /// With the token the request carried.
    pub fn with_rejected(mut self, rejected: Option<&'a str>) -> Self {
        self.rejected = rejected;
        self
    }
}

/// The server now uses another authorization server than the one that issued the held
/// credential: the credential is discarded, never sent there (MCP-REG-5, MCP-TOK-4).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct IssuerChanged {
    /// The issuer of the discarded credential.
    pub from: String,
    /// The issuer now in use.
    pub to: String,
}

impl fmt::Display for IssuerChanged {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the server now uses {}; tokens from {} are not sent there",
            self.to, self.from
        )
    }
}

/// Whether the `held` credential must be discarded because `issuer` now serves the
/// server (issuers compared byte for byte).
pub fn decide_issuer(held: Option<&Credential>, issuer: &str) -> Option<IssuerChanged> {
    let held = held?;
    (held.issuer != issuer).then(|| IssuerChanged {
        from: held.issuer.clone(),
        to: issuer.to_owned(),
    })
}

/// What to keep from a finished flow.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Completion {
    /// The credential to save under the server's key.
    pub credential: Credential,
    /// Whether to save the flow's client under its issuer (a new registration, MCP-REG-4).
    pub save_client: bool,
    /// The held credential it replaces came from another issuer.
    pub discarded: Option<IssuerChanged>,
}

/// What to store after the flow finished with `authorized`, given the `previous`
/// credential: the new credential (sending `resource` on refresh unless the issuer is
/// configured to omit it), the registration when new, and the issuer change if any.
pub fn decide_completion(
    config: &ClientConfig,
    previous: Option<&Credential>,
    authorized: &Authorized,
) -> Completion {
    let issuer = authorized.issuer();
    Completion {
        credential: Credential::from_authorized(authorized, config.sends_resource(issuer)),
        save_client: authorized.new_registration,
        discarded: decide_issuer(previous, issuer),
    }
}

/// The first Bearer challenge's parameters across a response's `WWW-Authenticate`
/// values (RFC 9110 §11.6.1: several headers, several challenges per header); values
/// that do not parse are skipped.
pub fn bearer_challenge<'a, I>(values: I) -> Option<BearerParams>
where
    I: IntoIterator<Item = &'a [u8]>,
{
    values
        .into_iter()
        .filter_map(|v| parse_www_authenticate(v).ok())
        .find_map(|c| bearer_params(&c))
}

fn fingerprint(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// The client's token policy for every server it talks to: refresh ahead of expiry,
/// `401` → refresh once then re-authorize, `403 insufficient_scope` → step-up with the
/// union of scopes at most `max` times per operation (MCP-SCOPE-13/14). Owns no clock:
/// every decision that depends on time takes `now`.
#[derive(Debug, Clone)]
pub struct TokenPolicy {
    refresh_ahead: u64,
    step_up: StepUpLimiter,
    /// Tokens a `401` already refreshed (SHA-256 of each, never the token itself).
    refreshed_on_401: HashSet<[u8; 32]>,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        Self::new(60)
    }
}

impl TokenPolicy {
    /// A policy refreshing `refresh_ahead` seconds before expiry, stepping up at most
    /// twice per operation.
    pub fn new(refresh_ahead: u64) -> Self {
        TokenPolicy {
            refresh_ahead,
            step_up: StepUpLimiter::default(),
            refreshed_on_401: HashSet::new(),
        }
    }

    /// The policy `config` asks for ([`ClientConfig::refresh_ahead`]).
    pub fn for_config(config: &ClientConfig) -> Self {
        Self::new(config.refresh_ahead)
    }

    /// At most `max` step-ups per server and operation.
    pub fn with_step_up_limit(mut self, max: u32) -> Self {
        self.step_up = StepUpLimiter::new(max);
        self
    }

    /// The refresh margin, in seconds.
    pub fn refresh_ahead(&self) -> u64 {
        self.refresh_ahead
    }

    /// What to do with `held` before a request at `now`. A token within the margin is
    /// never used: it is refreshed when it can be, otherwise not sent.
    pub fn decide_token(&self, now: UnixTime, held: Option<&Credential>) -> TokenDecision {
        let Some(c) = held else {
            return TokenDecision::NoCredential;
        };
        if !c.tokens.needs_refresh(now, self.refresh_ahead) {
            TokenDecision::Use
        } else if c.tokens.refresh_token.is_some() {
            TokenDecision::Refresh
        } else {
            TokenDecision::Reauthorize
        }
    }

    /// What a `401` or `403` calls for:
    ///
    /// - `403` with `insufficient_scope` (from the parsed challenge): step-up, asking for
    ///   what was requested and granted so far plus the challenged scopes, unless this
    ///   operation already did it the maximum number of times (MCP-SCOPE-13/14);
    /// - `403` otherwise: give up ([`GiveUp::Forbidden`]);
    /// - `401` for the held token, with a refresh token, not refreshed on a `401` before:
    ///   refresh, else a fresh start.
    pub fn handle_challenge(&mut self, r: &Rejection<'_>) -> ChallengeDecision {
        let challenge = r.challenge.cloned();
        if r.status == StatusCode::FORBIDDEN {
            let insufficient = r
                .challenge
                .and_then(BearerParams::bearer_error)
                .is_some_and(|e| e == BearerError::InsufficientScope);
            if !insufficient {
                return ChallengeDecision::GiveUp(GiveUp::Forbidden);
            }
            if !self.step_up.try_step_up(r.server, r.operation) {
                return ChallengeDecision::GiveUp(GiveUp::StepUpLimit);
            }
            // What was asked for and what was granted (a server may grant less, or drop
            // `offline_access` from the token's scope).
            let held = r
                .held
                .and_then(|c| {
                    scope_union(
                        c.requested_scope.as_deref().unwrap_or(""),
                        c.tokens.scope.as_deref().unwrap_or(""),
                    )
                })
                .unwrap_or_default();
            return ChallengeDecision::Authorize(Reauthorize::step_up(challenge, held));
        }
        if let (Some(c), Some(rejected)) = (r.held, r.rejected)
            && c.tokens.refresh_token.is_some()
            && c.tokens.access_token.expose() == rejected
            && self.remember(rejected)
        {
            return ChallengeDecision::Refresh {
                otherwise: Reauthorize::fresh(challenge),
            };
        }
        ChallengeDecision::Authorize(Reauthorize::fresh(challenge))
    }

    /// A [`ChallengeDecision::Refresh`] gave `token`: a `401` for it is not answered with
    /// another refresh (the server refuses fresh tokens; re-authorize instead).
    pub fn handle_refreshed(&mut self, token: &str) {
        self.remember(token);
    }

    /// The operation succeeded: its step-up count starts again.
    pub fn handle_success(&mut self, server: &str, operation: &str) {
        self.step_up.succeeded(server, operation);
    }

    /// Records `token` as refreshed on a `401`; whether it was new.
    fn remember(&mut self, token: &str) -> bool {
        if self.refreshed_on_401.len() >= MAX_REMEMBERED {
            self.refreshed_on_401.clear();
        }
        self.refreshed_on_401.insert(fingerprint(token))
    }
}
