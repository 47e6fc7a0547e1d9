//! The authorization server's endpoints fed arbitrary requests: the authorization query,
//! and the token, registration, revocation and introspection bodies with an arbitrary
//! `Authorization` header. Invariants: no panic; the token endpoint never answers 200 to
//! a request that presents no code, refresh token or client secret that this server
//! issued (it has issued none).
#![no_main]
#![forbid(unsafe_code)]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use mcp_oauth_authorization_server::{
    AsConfig, AuthorizationServer, AutoApprove, MemoryStorage, TokenSigner,
};
use mcp_oauth_common::UnixTime;
use mcp_oauth_resource_indicators::ResourceUri;

#[derive(Debug)]
struct NoKey;
impl TokenSigner for NoKey {
    fn alg(&self) -> mcp_oauth_jwt_validate::Algorithm {
        mcp_oauth_jwt_validate::Algorithm::ES256
    }
    fn kid(&self) -> Option<&str> {
        Some("k")
    }
    fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn sign(&self, input: &[u8]) -> Result<Vec<u8>, mcp_oauth_jwt_validate::SignError> {
        Ok(input.iter().take(64).copied().collect())
    }
}

fn server() -> &'static AuthorizationServer<MemoryStorage> {
    static S: OnceLock<AuthorizationServer<MemoryStorage>> = OnceLock::new();
    S.get_or_init(|| {
        let config = AsConfig::new("https://as.example.com").resource(
            ResourceUri::parse("https://mcp.example.com/mcp").expect("fixed"),
            ["mcp:read"],
        );
        AuthorizationServer::new(
            config,
            MemoryStorage::new(),
            Box::new(NoKey),
            Box::new(AutoApprove {
                subject: "u".into(),
            }),
        )
        .expect("a fixed, valid issuer")
    })
}

fuzz_target!(|data: &[u8]| {
    let s = server();
    let now = UnixTime(1_800_000_000);
    let (head, body) = data.split_at(data.len().min(64));
    let header = String::from_utf8_lossy(head);
    let auth = (!header.is_empty()).then_some(header.as_ref());
    let _ = s.authorize(now, &String::from_utf8_lossy(body), None, &[7; 64]);
    let r = s.token(now, auth, body, &[9; 64]);
    assert_ne!(
        r.status(),
        http::StatusCode::OK,
        "a token for nothing issued"
    );
    let _ = s.register(now, None, auth, body, &[3; 48]);
    let _ = s.revoke(now, auth, body);
    let _ = s.introspect(now, auth, body);
});
