#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use http::{Response, StatusCode, header};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::ClientMetadata;
use mcp_oauth_jwt_validate::crypto::{Es256Signer, Ring};
use mcp_oauth_jwt_validate::{KeySet, KeySetLimits, Policy, Validator};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_resource_indicators::url::{Url, form_urlencoded};
use proptest::prelude::*;
use serde_json::{Value, json};
use sha2::Digest as _;

use super::*;

const ISS: &str = "https://auth.example.com";
const MCP: &str = "https://mcp.example.com/mcp";
const NOW: UnixTime = UnixTime(1_800_000_000);
const REDIRECT: &str = "http://127.0.0.1:8765/callback";

/// The AS's signer: the seam's ES256 signer, with a fixed `kid`.
fn es256() -> Box<dyn TokenSigner> {
    Box::new(Es256Signer::generate().unwrap().with_kid("as-1"))
}

fn server() -> AuthorizationServer<MemoryStorage> {
    server_with(Box::new(AutoApprove {
        subject: "alice".into(),
    }))
}

fn server_with(consent: Box<dyn Consent>) -> AuthorizationServer<MemoryStorage> {
    server_from(config(), consent)
}

/// The test settings: one resource; the configured client `rs` (a resource server) may
/// introspect.
fn config() -> AsConfig {
    AsConfig::new(ISS)
        .resource(ResourceUri::parse(MCP).unwrap(), ["mcp:read", "mcp:write"])
        .introspection_client("rs")
}

fn server_from(config: AsConfig, consent: Box<dyn Consent>) -> AuthorizationServer<MemoryStorage> {
    AuthorizationServer::new(config, MemoryStorage::new(), es256(), consent).unwrap()
}

struct Counter(u8);
impl Counter {
    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut b = [0u8; N];
        for x in &mut b {
            self.0 = self.0.wrapping_add(1);
            *x = self.0;
        }
        b
    }
}

fn json_of(r: &Response<Vec<u8>>) -> Value {
    serde_json::from_slice(r.body()).unwrap()
}

fn register(s: &AuthorizationServer<MemoryStorage>, e: &mut Counter, method: &str) -> Value {
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": method,
                      "grant_types": ["authorization_code", "refresh_token"],
                      "client_name": "test"});
    let r = s.register(NOW, None, None, body.to_string().as_bytes(), &e.bytes());
    assert_eq!(
        r.status(),
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(r.body())
    );
    json_of(&r)
}

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9zt0-MA6vT9_xPeJc0Bj7qVuGA7LSiPsM";

fn challenge() -> String {
    URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(VERIFIER.as_bytes()))
}

fn authorize_query(client_id: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("code_challenge", &challenge())
        .append_pair("code_challenge_method", "S256")
        .append_pair("state", "xyz")
        .append_pair("resource", MCP)
        .append_pair("scope", "mcp:read offline_access")
        .finish()
}

fn location(o: &AuthorizeOutcome) -> Url {
    match o {
        AuthorizeOutcome::Redirect(r) => {
            assert_eq!(r.status(), StatusCode::FOUND);
            Url::parse(r.headers()[header::LOCATION].to_str().unwrap()).unwrap()
        }
        other => panic!("expected a redirect, got {other:?}"),
    }
}

fn q(u: &Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

fn code_for(s: &AuthorizationServer<MemoryStorage>, e: &mut Counter, client_id: &str) -> String {
    let u = location(&s.authorize(NOW, &authorize_query(client_id), None, &e.bytes()));
    assert_eq!(
        q(&u, "iss").as_deref(),
        Some(ISS),
        "RFC 9207 iss on the response"
    );
    assert_eq!(q(&u, "state").as_deref(), Some("xyz"));
    q(&u, "code").unwrap()
}

fn form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
        .into_bytes()
}

/// A `refresh_token` grant by the public client `client_id` at `NOW`, with `extra`
/// parameters (`scope`, `resource`) after the three it always sends.
fn refresh(
    s: &AuthorizationServer<MemoryStorage>,
    e: &mut Counter,
    client_id: &str,
    rt: &str,
    extra: &[(&str, &str)],
) -> Response<Vec<u8>> {
    refresh_at(s, e, NOW, client_id, rt, extra)
}

/// [`refresh`] at another time.
fn refresh_at(
    s: &AuthorizationServer<MemoryStorage>,
    e: &mut Counter,
    at: UnixTime,
    client_id: &str,
    rt: &str,
    extra: &[(&str, &str)],
) -> Response<Vec<u8>> {
    let mut pairs = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", rt),
        ("client_id", client_id),
    ];
    pairs.extend_from_slice(extra);
    s.token(at, None, &form(&pairs), &e.bytes())
}

fn exchange(
    s: &AuthorizationServer<MemoryStorage>,
    e: &mut Counter,
    client_id: &str,
    code: &str,
    at: UnixTime,
) -> Response<Vec<u8>> {
    s.token(
        at,
        None,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("code_verifier", VERIFIER),
            ("client_id", client_id),
            ("resource", MCP),
        ]),
        &e.bytes(),
    )
}

fn validate(
    s: &AuthorizationServer<MemoryStorage>,
    token: &str,
) -> mcp_oauth_jwt_validate::AuthContext {
    let jwks = json_of(&s.jwks_response());
    let keys = KeySet::from_value(&jwks, &Ring, &KeySetLimits::default()).unwrap();
    let v = Validator::new(Policy::new(ISS, &ResourceUri::parse(MCP).unwrap()).rfc9068_strict());
    v.validate(token, &keys, NOW).unwrap()
}

fn introspect_active(
    s: &AuthorizationServer<MemoryStorage>,
    _client_id: &str,
    token: &str,
) -> bool {
    // Introspection is for confidential callers (resource servers).
    let md: ClientMetadata = serde_json::from_value(json!({
        "token_endpoint_auth_method": "client_secret_basic", "grant_types": ["client_credentials"]
    }))
    .unwrap();
    s.storage().put_client(StoredClient::new(
        "rs",
        Some(sha2::Sha256::digest(b"rs-secret").into()),
        md,
    ));
    let basic = format!("Basic {}", STANDARD.encode("rs:rs-secret"));
    let r = s.introspect(NOW, Some(&basic), &form(&[("token", token)]));
    assert_eq!(r.status(), StatusCode::OK);
    json_of(&r)["active"] == json!(true)
}

/// Whether a refresh token would still be accepted: known, not rotated, its grant not
/// revoked.
fn refresh_live(s: &AuthorizationServer<MemoryStorage>, rt: &str) -> bool {
    s.storage()
        .refresh(&sha2::Sha256::digest(rt.as_bytes()).into())
        .is_some_and(|r| !r.rotated && !s.storage().family_revoked(&r.family))
}

/// A public client configured out of band (trusted: errors are redirected to it).
fn configure_public(s: &AuthorizationServer<MemoryStorage>, id: &str) {
    let md: ClientMetadata = serde_json::from_value(json!({
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
        "grant_types": ["authorization_code", "refresh_token"], "client_name": "configured"
    }))
    .unwrap();
    s.storage().put_client(StoredClient::new(id, None, md));
}

fn cimd_document(url: &str) -> mcp_oauth_dcr::CheckedDocument {
    let doc = json!({"client_id": url, "client_name": "C", "redirect_uris": [REDIRECT],
                     "token_endpoint_auth_method": "none",
                     "grant_types": ["authorization_code", "refresh_token"],
                     "unknown": vec![0; 1000]});
    mcp_oauth_dcr::CimdPolicy::new()
        .check(
            url,
            StatusCode::OK,
            &http::HeaderMap::new(),
            doc.to_string().as_bytes(),
            NOW,
        )
        .unwrap()
}

mod flow;
mod hardening;
mod registration;
mod router;
