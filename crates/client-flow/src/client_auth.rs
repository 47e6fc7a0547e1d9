//! How the client authenticates at the token endpoint (RFC 6749 §2.3, RFC 7591 §2,
//! OIDC Core §9): the method to register with and the [`ClientAuth`] a registration
//! implies. [`ClientAuth`] and the `private_key_jwt` signing hook
//! ([`AssertionSigner`](crate::AssertionSigner)) live beside the token request that uses them.

use mcp_oauth_as_metadata::AuthorizationServerMetadata;
use mcp_oauth_dcr::RegisteredClient;

use crate::token::ClientAuth;

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
