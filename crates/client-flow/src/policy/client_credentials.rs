//! The `client_credentials` grant (RFC 6749 §4.4) for machine clients: no user, no
//! browser; a pre-registered client authenticates and gets a token for the resource.

use http::{Request, StatusCode};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::RegisteredClient;
use mcp_oauth_pkce::CryptoRng;

use crate::flow::Discovered;
use crate::store::Credential;
use crate::token::{
    ClientAuth, Grant, TokenClient, TokenError, parse_token_response, token_request,
};

/// One `client_credentials` token request and its response, for the server `discovered`
/// describes. The token is bound to the resource (MCP-RES-1).
#[derive(Debug, Clone, Copy)]
pub struct ClientCredentialsGrant<'a> {
    discovered: &'a Discovered,
    client: &'a RegisteredClient,
    auth: &'a ClientAuth,
    scope: Option<&'a str>,
}

impl<'a> ClientCredentialsGrant<'a> {
    /// `client` (pre-registered at the discovered issuer) authenticating with `auth`,
    /// asking for `scope`.
    pub fn new(
        discovered: &'a Discovered,
        client: &'a RegisteredClient,
        auth: &'a ClientAuth,
        scope: Option<&'a str>,
    ) -> Self {
        ClientCredentialsGrant {
            discovered,
            client,
            auth,
            scope,
        }
    }

    /// The token request; `rng` gives a `private_key_jwt` assertion's `jti`.
    pub fn build_request<R: CryptoRng + ?Sized>(
        &self,
        now: UnixTime,
        rng: &mut R,
    ) -> Result<Request<Vec<u8>>, TokenError> {
        let m = &self.discovered.metadata;
        let mut jti = [0u8; 16];
        rng.fill_bytes(&mut jti);
        token_request(
            m.token_endpoint.as_deref().unwrap_or_default(),
            &TokenClient {
                client_id: &self.client.client_id,
                auth: self.auth,
                issuer: &m.issuer,
            },
            &Grant::ClientCredentials { scope: self.scope },
            Some(&self.discovered.resource),
            now,
            &jti,
        )
    }

    /// The credential to store from the token endpoint's response.
    pub fn handle_response(
        &self,
        now: UnixTime,
        status: StatusCode,
        body: &[u8],
    ) -> Result<Credential, TokenError> {
        let tokens = parse_token_response(status, body, now, self.scope, None)?;
        Ok(Credential::new(
            self.discovered,
            &self.client.client_id,
            self.auth.method(),
            tokens,
        ))
    }
}
