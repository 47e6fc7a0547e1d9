//! One refresh of one credential (RFC 6749 §6), spent at most once: the driver holds the
//! credential's locks (its tasks and, through the store, other processes) while it runs
//! this machine, reads the store when asked, and sends what it is given.

use std::sync::Arc;

use http::StatusCode;
use mcp_oauth_common::AccessToken;
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::RegisteredClient;
use mcp_oauth_pkce::CryptoRng;

use crate::store::Credential;
use crate::token::{AssertionSigner, ClientAuth, TokenError, parse_token_response};

/// What the driver does next for a [`RefreshFlow`].
#[derive(Debug)]
#[non_exhaustive]
pub enum RefreshStep {
    /// Read the credential again (and the client registered at its issuer) and call
    /// [`RefreshFlow::handle_stored`].
    ReadStore,
    /// Send this token request (no redirects), then call [`RefreshFlow::handle_response`].
    Send(http::Request<Vec<u8>>),
    /// The refresh worked: save this credential, then use it.
    Save(Box<Credential>),
    /// Another task or process refreshed it first: use this credential as stored.
    AlreadyRefreshed(Box<Credential>),
    /// The refresh token was refused (`invalid_grant`) and nobody rotated it meanwhile:
    /// remove the stored credential, then run the flow.
    Discard,
    /// No usable credential (none stored, no refresh token, or refused twice): run the
    /// authorization flow.
    Reauthorize,
    /// The refresh failed for another reason.
    Failed(TokenError),
}

#[derive(Debug)]
enum State {
    /// Reading the store for attempt `0` or `1`.
    Read(u8),
    /// Waiting for the response to the request built from this credential.
    Sent(Box<Credential>, u8),
    /// After `invalid_grant`: reading the store to see whether someone rotated it.
    Reread(Box<Credential>),
    Over,
}

/// Refreshes the credential whose access token was `old`, exactly once across everyone
/// sharing the store: whoever comes second finds the new tokens and uses them; after
/// `invalid_grant` the store is read again, since another process may have rotated the
/// refresh token without the lock, before the credential is declared dead.
///
/// The driver reads the store first and calls [`handle_stored`](Self::handle_stored).
#[derive(Debug)]
pub struct RefreshFlow {
    old: AccessToken,
    state: State,
}

impl RefreshFlow {
    /// A refresh of the credential whose access token is `old`.
    pub fn new(old: &str) -> Self {
        RefreshFlow {
            old: AccessToken::new(old.to_owned()),
            state: State::Read(0),
        }
    }

    /// Feeds the store's credential and the client registered at its issuer (for its
    /// secret). `signer` signs `private_key_jwt` assertions for a credential that uses
    /// that method; `rng` gives the assertion's `jti`.
    pub fn handle_stored<R: CryptoRng + ?Sized>(
        &mut self,
        now: UnixTime,
        stored: Option<Credential>,
        client: Option<&RegisteredClient>,
        signer: Option<&Arc<dyn AssertionSigner>>,
        rng: &mut R,
    ) -> RefreshStep {
        let attempt = match core::mem::replace(&mut self.state, State::Over) {
            State::Read(n) => n,
            State::Reread(sent) => {
                let rotated = stored.as_ref().map(|c| &c.tokens.refresh_token)
                    != Some(&sent.tokens.refresh_token);
                if !rotated {
                    return RefreshStep::Discard;
                }
                1
            }
            State::Sent(..) | State::Over => {
                return RefreshStep::Failed(TokenError::InvalidResponse);
            }
        };
        let Some(cred) = stored else {
            return RefreshStep::Reauthorize;
        };
        if cred.tokens.access_token != self.old {
            return RefreshStep::AlreadyRefreshed(Box::new(cred));
        }
        let auth = signer
            .filter(|_| cred.auth_method == "private_key_jwt")
            .map(|s| ClientAuth::PrivateKeyJwt(s.clone()));
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        match cred.refresh_request(client, auth.as_ref(), now, &jti) {
            None => RefreshStep::Reauthorize,
            Some(Err(e)) => RefreshStep::Failed(e),
            Some(Ok(req)) => {
                self.state = State::Sent(Box::new(cred), attempt);
                RefreshStep::Send(req)
            }
        }
    }

    /// Feeds the token endpoint's response. A response nobody asked for is
    /// [`TokenError::InvalidResponse`].
    pub fn handle_response(
        &mut self,
        now: UnixTime,
        status: StatusCode,
        body: &[u8],
    ) -> RefreshStep {
        let State::Sent(cred, attempt) = core::mem::replace(&mut self.state, State::Over) else {
            return RefreshStep::Failed(TokenError::InvalidResponse);
        };
        match parse_token_response(
            status,
            body,
            now,
            cred.tokens.scope.as_deref(),
            cred.tokens.refresh_token.as_ref(),
        ) {
            Ok(tokens) => {
                let mut updated = cred;
                updated.tokens = tokens;
                RefreshStep::Save(updated)
            }
            Err(e) if e.is_invalid_grant() && attempt == 0 => {
                self.state = State::Reread(cred);
                RefreshStep::ReadStore
            }
            Err(e) if e.is_invalid_grant() => RefreshStep::Reauthorize,
            Err(e) => RefreshStep::Failed(e),
        }
    }
}
