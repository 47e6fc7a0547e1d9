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

/// The whole code flow, then refresh rotation, then reuse detection.
#[test]
fn code_flow_refresh_rotation_and_reuse() {
    let s = server();
    let mut e = Counter(0);
    let c = register(&s, &mut e, "none");
    let id = c["client_id"].as_str().unwrap().to_owned();
    assert!(
        c.get("client_secret").is_none(),
        "public clients get no secret"
    );
    let code = code_for(&s, &mut e, &id);
    assert!(
        URL_SAFE_NO_PAD.decode(&code).unwrap().len() >= 16,
        "≥128 bits"
    );

    let r = exchange(&s, &mut e, &id, &code, NOW);
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(r.body())
    );
    assert_eq!(r.headers()[header::CACHE_CONTROL], "no-store");
    let t = json_of(&r);
    let ctx = validate(&s, t["access_token"].as_str().unwrap());
    assert_eq!(ctx.subject(), Some("alice"));
    assert_eq!(ctx.client_id(), Some(id.as_str()));
    assert!(ctx.has_scopes(&["mcp:read"]));
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();

    let r = refresh(&s, &mut e, &id, &rt1, &[("resource", MCP)]);
    assert_eq!(r.status(), StatusCode::OK);
    let t2 = json_of(&r);
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated");
    assert!(introspect_active(
        &s,
        &id,
        t2["access_token"].as_str().unwrap()
    ));

    // Reuse of rt1: invalid_grant, and the whole grant goes (rt2 and the access tokens).
    let r = refresh(&s, &mut e, &id, &rt1, &[("resource", MCP)]);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&r)["error"], "invalid_grant");
    assert_eq!(
        json_of(&refresh(&s, &mut e, &id, &rt2, &[("resource", MCP)]))["error"],
        "invalid_grant"
    );
    assert!(!introspect_active(
        &s,
        &id,
        t2["access_token"].as_str().unwrap()
    ));
    assert!(!introspect_active(
        &s,
        &id,
        t["access_token"].as_str().unwrap()
    ));
}

/// A replayed code: invalid_grant, and the tokens the first use issued are revoked.
/// The token endpoint speaks the shared wire vocabulary: its success body reads back as
/// `mcp_oauth_common::TokenResponse` and its refusals as `ErrorResponse` with a typed code
/// (issue 15 item 4), so the client parses exactly what the server writes.
#[test]
fn token_endpoint_bodies_are_the_shared_wire_types() {
    use mcp_oauth_common::{ErrorCode, ErrorResponse, TokenResponse};
    let s = server();
    let mut e = Counter(0);
    let c = register(&s, &mut e, "none");
    let id = c["client_id"].as_str().unwrap().to_owned();
    let code = code_for(&s, &mut e, &id);
    let r = exchange(&s, &mut e, &id, &code, NOW);
    let t = TokenResponse::parse(r.body()).unwrap();
    assert!(t.is_token_type("Bearer"));
    assert!(t.expires_in.is_some_and(|s| s > 0));
    assert!(
        t.scope
            .as_deref()
            .unwrap()
            .split(' ')
            .any(|s| s == "mcp:read")
    );
    let rt = t.refresh_token.clone().unwrap();
    assert!(!rt.is_empty() && !t.access_token.is_empty());
    assert!(!format!("{t:?}").contains(rt.expose()), "Debug redacts");

    let again = exchange(&s, &mut e, &id, &code, NOW);
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    let err = ErrorResponse::parse(again.body()).unwrap();
    assert_eq!(err.error, ErrorCode::InvalidGrant);
    let r = s.token(
        NOW,
        None,
        &form(&[("grant_type", "password"), ("client_id", &id)]),
        &[7; 64],
    );
    // Not among the client's registered grant types.
    assert_eq!(
        ErrorResponse::parse(r.body()).unwrap().error,
        ErrorCode::UnauthorizedClient
    );
    let r = s.token(NOW, None, &form(&[("grant_type", "password")]), &[7; 64]);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        ErrorResponse::parse(r.body()).unwrap().error,
        ErrorCode::InvalidClient
    );
}

#[test]
fn code_replay_revokes_what_it_issued() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let first = json_of(&exchange(&s, &mut e, &id, &code, NOW));
    let at = first["access_token"].as_str().unwrap().to_owned();
    assert!(introspect_active(&s, &id, &at));
    let again = exchange(&s, &mut e, &id, &code, NOW);
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&again)["error"], "invalid_grant");
    assert!(!introspect_active(&s, &id, &at));
    let rt = first["refresh_token"].as_str().unwrap();
    assert!(!refresh_live(&s, rt));
}

#[test]
fn expired_code_and_pkce_mismatch() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let r = exchange(&s, &mut e, &id, &code, NOW.add_secs(61));
    assert_eq!(json_of(&r)["error"], "invalid_grant");

    let code = code_for(&s, &mut e, &id);
    let r = s.token(
        NOW,
        None,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-0123",
            ),
            ("client_id", &id),
        ]),
        &e.bytes(),
    );
    assert_eq!(json_of(&r)["error"], "invalid_grant");
    // Without a verifier at all.
    let code = code_for(&s, &mut e, &id);
    let r = s.token(
        NOW,
        None,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &id),
        ]),
        &e.bytes(),
    );
    assert_eq!(json_of(&r)["error"], "invalid_request");
}

/// RFC 6749 §4.1.2.1: an unregistered redirect URI is never redirected to.
/// The consent step sees who asks, for what, and where the browser goes next (the
/// redirect URI, already matched), so a consent page can show a self-registered
/// client's destination; a refusal goes back as `access_denied`.
#[test]
fn consent_sees_the_request_and_its_destination() {
    struct Record(std::sync::Mutex<Vec<ConsentRequest>>);
    impl Consent for std::sync::Arc<Record> {
        fn decide(&self, request: &ConsentRequest) -> ConsentDecision {
            self.0.lock().unwrap().push(request.clone());
            ConsentDecision::Deny
        }
    }
    let seen = std::sync::Arc::new(Record(std::sync::Mutex::new(Vec::new())));
    let s = server_with(Box::new(seen.clone()));
    let mut e = Counter(0);
    let client = register(&s, &mut e, "none");
    let id = client["client_id"].as_str().unwrap();
    let u = location(&s.authorize(NOW, &authorize_query(id), None, &e.bytes()));
    assert_eq!(q(&u, "error").as_deref(), Some("access_denied"));
    assert_eq!(q(&u, "state").as_deref(), Some("xyz"));
    let seen = seen.0.lock().unwrap();
    let r = seen.first().unwrap();
    assert_eq!(seen.len(), 1);
    assert_eq!(r.client_id, id);
    assert_eq!(r.client_name.as_deref(), Some("test"));
    assert_eq!(r.resource, MCP);
    assert_eq!(r.redirect_uri, REDIRECT);
    assert_eq!(r.scopes, ["mcp:read", "offline_access"]);
}

#[test]
fn redirect_uri_mismatch_is_not_redirected() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = authorize_query(&id).replace("callback", "evil");
    match s.authorize(NOW, &query, None, &e.bytes()) {
        AuthorizeOutcome::ErrorPage(r) => assert_eq!(r.status(), StatusCode::BAD_REQUEST),
        other => panic!("{other:?}"),
    }
    // Loopback: another port is the same redirect URI (RFC 8252 §7.3).
    let query = authorize_query(&id).replace("8765", "9999");
    assert!(matches!(
        s.authorize(NOW, &query, None, &e.bytes()),
        AuthorizeOutcome::Redirect(_)
    ));
    // Unknown client: an error page too.
    assert!(matches!(
        s.authorize(NOW, &authorize_query("nobody"), None, &e.bytes()),
        AuthorizeOutcome::ErrorPage(_)
    ));
}

/// RFC 8707: a resource this server does not serve, or another resource at the token
/// endpoint than at the authorization endpoint, is `invalid_target`.
#[test]
fn wrong_resource() {
    let s = server();
    let mut e = Counter(0);
    // A configured client: its errors are redirected (a self-registered one's are shown).
    let id = "app";
    configure_public(&s, id);
    let query = authorize_query(id).replace("mcp.example.com", "other.example.com");
    let u = location(&s.authorize(NOW, &query, None, &e.bytes()));
    assert_eq!(q(&u, "error").as_deref(), Some("invalid_target"));
    assert_eq!(q(&u, "iss").as_deref(), Some(ISS));
    assert_eq!(q(&u, "state").as_deref(), Some("xyz"));

    let code = code_for(&s, &mut e, id);
    let r = s.token(
        NOW,
        None,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("client_id", id),
            ("resource", "https://other.example.com/mcp"),
        ]),
        &e.bytes(),
    );
    assert_eq!(json_of(&r)["error"], "invalid_target");
}

#[test]
fn pkce_is_required_and_plain_refused() {
    let s = server();
    let mut e = Counter(0);
    let id = "app";
    configure_public(&s, id);
    let no_pkce = authorize_query(id).replace("code_challenge", "x_code_challenge");
    let u = location(&s.authorize(NOW, &no_pkce, None, &e.bytes()));
    assert_eq!(q(&u, "error").as_deref(), Some("invalid_request"));
    let plain =
        authorize_query(id).replace("code_challenge_method=S256", "code_challenge_method=plain");
    let u = location(&s.authorize(NOW, &plain, None, &e.bytes()));
    assert!(q(&u, "error").is_some());
    let bad_scope = authorize_query(id).replace("mcp%3Aread", "admin");
    let u = location(&s.authorize(NOW, &bad_scope, None, &e.bytes()));
    assert_eq!(q(&u, "error").as_deref(), Some("invalid_scope"));
}

/// Client authentication: Basic with RFC 6749 form-encoding, post, wrong secrets.
#[test]
fn client_authentication() {
    let s = server();
    let mut e = Counter(0);
    // A configured confidential client whose id and secret need form-encoding.
    let secret = "p+ss:w%rd &more";
    let md: ClientMetadata = serde_json::from_value(json!({
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["client_credentials"]
    }))
    .unwrap();
    s.storage().put_client(StoredClient::new(
        "svc:1",
        Some(sha2::Sha256::digest(secret.as_bytes()).into()),
        md,
    ));
    let enc = |v: &str| form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let basic = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc("svc:1"), enc(secret)))
    );
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("scope", "mcp:read"),
        ("resource", MCP),
    ]);
    let r = s.token(NOW, Some(&basic), &body, &e.bytes());
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(r.body())
    );
    let ctx = validate(&s, json_of(&r)["access_token"].as_str().unwrap());
    assert_eq!(ctx.client_id(), Some("svc:1"));

    let wrong = format!(
        "Basic {}",
        STANDARD.encode(format!("{}:{}", enc("svc:1"), "nope"))
    );
    let r = s.token(NOW, Some(&wrong), &body, &e.bytes());
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&r)["error"], "invalid_client");
    assert!(r.headers().contains_key(header::WWW_AUTHENTICATE));
    // The registered method is basic: the secret in the body is refused.
    let post = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "svc:1"),
        ("client_secret", secret),
    ]);
    assert_eq!(
        s.token(NOW, None, &post, &e.bytes()).status(),
        StatusCode::UNAUTHORIZED
    );

    // DCR with client_secret_post: a secret is issued once, and authenticates in the
    // body (an unknown code is then invalid_grant, not invalid_client).
    let c = register(&s, &mut e, "client_secret_post");
    let (id, sec) = (
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", "nope"),
        ("client_id", id),
        ("client_secret", sec),
    ]);
    assert_eq!(
        json_of(&s.token(NOW, None, &body, &e.bytes()))["error"],
        "invalid_grant"
    );
    let body = form(&[
        ("grant_type", "authorization_code"),
        ("code", "nope"),
        ("client_id", id),
        ("client_secret", "x"),
    ]);
    assert_eq!(
        json_of(&s.token(NOW, None, &body, &e.bytes()))["error"],
        "invalid_client"
    );
    // A self-registered client cannot use client_credentials (no user, no consent).
    let body = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", id),
        ("client_secret", sec),
    ]);
    assert_eq!(
        json_of(&s.token(NOW, None, &body, &e.bytes()))["error"],
        "unauthorized_client"
    );
    let r = s.register(
        NOW,
        None,
        None,
        json!({"grant_types": ["client_credentials"], "response_types": [],
               "token_endpoint_auth_method": "client_secret_post"})
        .to_string()
        .as_bytes(),
        &e.bytes(),
    );
    assert_eq!(
        r.status(),
        StatusCode::BAD_REQUEST,
        "registration for client_credentials is refused"
    );
    // Public clients cannot introspect.
    let pubc = register(&s, &mut e, "none");
    let r = s.introspect(
        NOW,
        None,
        &form(&[
            ("client_id", pubc["client_id"].as_str().unwrap()),
            ("token", "x"),
        ]),
    );
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
}

#[test]
fn revocation_revokes_the_grant() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let t = json_of(&exchange(&s, &mut e, &id, &code, NOW));
    let rt = t["refresh_token"].as_str().unwrap();
    let r = s.revoke(NOW, None, &form(&[("client_id", &id), ("token", rt)]));
    assert_eq!(r.status(), StatusCode::OK);
    assert!(!refresh_live(&s, rt));
    assert!(!introspect_active(
        &s,
        &id,
        t["access_token"].as_str().unwrap()
    ));
    // Unknown tokens: still 200 (RFC 7009 §2.2).
    assert_eq!(
        s.revoke(NOW, None, &form(&[("client_id", &id), ("token", "junk")]))
            .status(),
        StatusCode::OK
    );
}

#[test]
fn metadata_and_duplicate_parameters() {
    let s = server();
    let m = s.metadata();
    assert_eq!(m.issuer, ISS);
    assert_eq!(m.authorization_response_iss_parameter_supported, Some(true));
    assert_eq!(
        m.code_challenge_methods_supported,
        Some(vec!["S256".to_owned()])
    );
    // The metadata validates as an MCP client would check it.
    mcp_oauth_as_metadata::Validation::new()
        .validate(&m.to_json(), ISS)
        .unwrap();
    let mut e = Counter(0);
    let body = b"grant_type=authorization_code&grant_type=client_credentials&client_id=x";
    assert_eq!(
        json_of(&s.token(NOW, None, body, &e.bytes()))["error"],
        "invalid_request"
    );
}

/// A client ID metadata document: the server asks for it, then uses it.
#[test]
fn cimd_clients() {
    let s = server();
    let mut e = Counter(0);
    let url = "https://client.example.com/metadata.json";
    match s.authorize(NOW, &authorize_query(url), None, &e.bytes()) {
        AuthorizeOutcome::FetchClientMetadata { url: u } => assert_eq!(u, url),
        other => panic!("{other:?}"),
    }
    let doc = json!({"client_id": url, "client_name": "C", "redirect_uris": [REDIRECT],
                     "token_endpoint_auth_method": "none"});
    let checked = mcp_oauth_dcr::CimdPolicy::new()
        .check(
            url,
            StatusCode::OK,
            &http::HeaderMap::new(),
            doc.to_string().as_bytes(),
            NOW,
        )
        .unwrap();
    let u = location(&s.authorize(NOW, &authorize_query(url), Some(&checked), &e.bytes()));
    let code = q(&u, "code").unwrap();
    assert_eq!(
        exchange(&s, &mut e, url, &code, NOW).status(),
        StatusCode::OK
    );
}

proptest! {
    #[test]
    fn endpoints_never_panic(body in proptest::collection::vec(any::<u8>(), 0..300), query in ".{0,300}") {
        let s = server();
        let mut e = Counter(0);
        let _ = s.token(NOW, None, &body, &e.bytes());
        let _ = s.token(NOW, Some(&String::from_utf8_lossy(&body)), b"grant_type=refresh_token", &e.bytes());
        let _ = s.authorize(NOW, &query, None, &e.bytes());
        let _ = s.register(NOW, None, None, &body, &e.bytes());
        let _ = s.introspect(NOW, None, &body);
        let _ = s.revoke(NOW, None, &body);
    }
}

/// A refused refresh (bad scope, other resource) does not spend the token, and narrowing
/// the scope narrows the access token only (RFC 6749 §6).
#[test]
fn refused_refresh_spends_nothing_and_narrowing_keeps_the_grant() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let rt = json_of(&exchange(&s, &mut e, &id, &code, NOW))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let refresh_json =
        |s: &AuthorizationServer<MemoryStorage>,
         e: &mut Counter,
         rt: &str,
         extra: &[(&str, &str)]| json_of(&refresh(s, e, &id, rt, extra));
    assert_eq!(
        refresh_json(&s, &mut e, &rt, &[("scope", "mcp:write")])["error"],
        "invalid_scope"
    );
    assert_eq!(
        refresh_json(
            &s,
            &mut e,
            &rt,
            &[("resource", "https://other.example.com/mcp")]
        )["error"],
        "invalid_target"
    );
    // Canonically equal resource spellings are the same resource.
    let t = refresh_json(
        &s,
        &mut e,
        &rt,
        &[
            ("scope", "mcp:read"),
            ("resource", "HTTPS://MCP.example.com/mcp"),
        ],
    );
    assert_eq!(t["scope"], "mcp:read", "{t}");
    let rt2 = t["refresh_token"].as_str().unwrap().to_owned();
    // The new refresh token still carries the whole grant.
    let t = refresh_json(&s, &mut e, &rt2, &[]);
    assert_eq!(t["scope"], "mcp:read offline_access", "{t}");
}

// ------------------------------------------------------------- hardening: registration

/// A registration body of `len` bytes or so: a valid public client plus unknown members
/// (arrays of small numbers, the cheapest bytes to send and the dearest to keep as JSON
/// values).
fn padded_registration(len: usize) -> Vec<u8> {
    let mut v = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                       "grant_types": ["authorization_code", "refresh_token"],
                       "client_name": "padded", "application_type": "native"});
    let mut i = 0;
    while v.to_string().len() < len - 700 {
        v[format!("x{i}")] = json!(vec![0; 300]);
        i += 1;
    }
    v.to_string().into_bytes()
}

/// DCR-6: unknown metadata members are ignored, not stored: a 16 KiB registration of
/// unknown members costs the server the few known members only, and the response
/// (which echoes what was registered, DCR-11) does not carry them either. Old code kept
/// every member (`ClientMetadata::extra`) for ever.
#[test]
fn registration_stores_known_members_only_dcr_6() {
    let s = server();
    let mut e = Counter(0);
    let body = padded_registration(16 * 1024 - 16);
    assert!(body.len() <= 16 * 1024 && body.len() > 15 * 1024);
    let r = s.register(NOW, None, None, &body, &e.bytes());
    assert_eq!(r.status(), StatusCode::CREATED);
    let reply = json_of(&r);
    assert!(reply.get("x0").is_none(), "unknown members are not echoed");
    assert_eq!(reply["client_name"], "padded");
    let stored = s
        .storage()
        .client(reply["client_id"].as_str().unwrap())
        .unwrap();
    assert!(stored.metadata.extra.is_empty());
    let kept = serde_json::to_vec(&stored.metadata).unwrap().len();
    assert!(
        kept < 512,
        "{kept} bytes of metadata kept for a {} byte request",
        body.len()
    );
}

/// Known members with unbounded lists or strings are bounded: more than `MAX_CONTACTS`
/// contacts, or a member over `MAX_METADATA_STRING` bytes, is `invalid_client_metadata`;
/// repeated grant types are kept once. Old code stored them all.
#[test]
fn registration_bounds_lists_and_strings() {
    let s = server();
    let mut e = Counter(0);
    let base = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                      "grant_types": ["authorization_code", "refresh_token"]});
    let with = |k: &str, v: Value| {
        let mut b = base.clone();
        b[k] = v;
        b.to_string().into_bytes()
    };
    for body in [
        with("contacts", json!(vec!["a@example.com"; MAX_CONTACTS + 1])),
        with("contacts", json!(vec![""; 4000])),
        with("client_name", json!("n".repeat(MAX_METADATA_STRING + 1))),
        with("software_id", json!("n".repeat(MAX_METADATA_STRING + 1))),
    ] {
        let r = s.register(NOW, None, None, &body, &e.bytes());
        assert_eq!(r.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json_of(&r)["error"], "invalid_client_metadata");
    }
    let repeated = with(
        "grant_types",
        json!(
            vec!["refresh_token"; 1000]
                .into_iter()
                .chain(["authorization_code"])
                .collect::<Vec<_>>()
        ),
    );
    let r = s.register(NOW, None, None, &repeated, &e.bytes());
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(
        json_of(&r)["grant_types"],
        json!(["refresh_token", "authorization_code"])
    );
    assert_eq!(
        s.storage().client_count(),
        1,
        "only the valid one is stored"
    );
}

fn register_from(
    s: &AuthorizationServer<MemoryStorage>,
    e: &mut Counter,
    source: &str,
) -> Response<Vec<u8>> {
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                      "grant_types": ["authorization_code", "refresh_token"]});
    s.register(
        NOW,
        Some(source.parse().unwrap()),
        None,
        body.to_string().as_bytes(),
        &e.bytes(),
    )
}

fn retry_after(r: &Response<Vec<u8>>) -> u64 {
    r.headers()[header::RETRY_AFTER]
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// DCR-8 (open registration, rate-limited): pending registrations are bounded per source
/// (an IPv6 /64 is one source) and clients in total; beyond, `429` with `Retry-After`
/// and an OAuth error body. Old code registered every request.
#[test]
fn registrations_are_limited_per_source_and_in_total_dcr_8() {
    let mut c = config();
    c.max_pending_registrations_per_source = 2;
    c.max_registered_clients = 4;
    let s = server_from(
        c,
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    );
    let mut e = Counter(0);
    assert_eq!(
        register_from(&s, &mut e, "2001:db8::1").status(),
        StatusCode::CREATED
    );
    assert_eq!(
        register_from(&s, &mut e, "2001:db8::2").status(),
        StatusCode::CREATED
    );
    // A third address of the same /64 is the same source.
    let r = register_from(&s, &mut e, "2001:db8::ffff:3");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(json_of(&r)["error"], "temporarily_unavailable");
    assert_eq!(
        retry_after(&r),
        24 * 3600,
        "when the oldest pending one is forgotten"
    );
    // Another /64, and an IPv4 source: their own budgets.
    assert_eq!(
        register_from(&s, &mut e, "2001:db8:0:1::1").status(),
        StatusCode::CREATED
    );
    assert_eq!(
        register_from(&s, &mut e, "192.0.2.1").status(),
        StatusCode::CREATED
    );
    // The total is reached, whatever the source (unknown sources included).
    let r = register_from(&s, &mut e, "192.0.2.2");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(retry_after(&r) > 0);
    let body = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none"});
    let r = s.register(NOW, None, None, body.to_string().as_bytes(), &e.bytes());
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(s.storage().client_count(), 4);
}

/// A registration that completes a grant is no longer pending: it leaves its source's
/// count (a household behind one address registers one client per app, and uses them).
#[test]
fn a_used_registration_frees_its_sources_budget() {
    let mut c = config();
    c.max_pending_registrations_per_source = 1;
    let s = server_from(
        c,
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    );
    let mut e = Counter(0);
    let r = register_from(&s, &mut e, "192.0.2.1");
    let id = json_of(&r)["client_id"].as_str().unwrap().to_owned();
    assert_eq!(
        register_from(&s, &mut e, "192.0.2.1").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let code = code_for(&s, &mut e, &id);
    assert_eq!(
        exchange(&s, &mut e, &id, &code, NOW).status(),
        StatusCode::OK
    );
    assert!(s.storage().client(&id).unwrap().granted);
    assert_eq!(
        register_from(&s, &mut e, "192.0.2.1").status(),
        StatusCode::CREATED
    );
}

/// Registrations that never complete a grant are forgotten after
/// `unused_registration_ttl` (24 h); those that did are kept, and so is a configured
/// client. Old code's `purge` never touched clients.
#[test]
fn unused_registrations_are_purged_used_ones_kept() {
    let s = server();
    let mut e = Counter(0);
    configure_public(&s, "app");
    let unused = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let used = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &used);
    assert_eq!(
        exchange(&s, &mut e, &used, &code, NOW).status(),
        StatusCode::OK
    );
    s.storage().purge(NOW.add_secs(24 * 3600 - 1));
    assert!(s.storage().client(&unused).is_some(), "not yet");
    s.storage().purge(NOW.add_secs(24 * 3600));
    assert!(s.storage().client(&unused).is_none());
    assert!(s.storage().client(&used).is_some());
    assert!(s.storage().client("app").is_some());
    // Far in the future (every token long expired): a used client is still kept.
    s.storage().purge(NOW.add_secs(365 * 24 * 3600));
    assert!(s.storage().client(&used).is_some());
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

/// MCP-CIMD-10 / CIMD-6: a client ID metadata document is kept until its `cache_until`
/// (1 h by default), then forgotten, unless a code or refresh token issued to it is still
/// stored: the token endpoint does not fetch documents, so the client's refresh keeps
/// working. Unknown members of the document are not kept. Old code kept every document
/// for ever, unknown members included.
#[test]
fn cimd_documents_are_purged_unless_a_grant_needs_them() {
    let s = server();
    let mut e = Counter(0);
    let (idle, busy) = (
        "https://idle.example.com/client.json",
        "https://busy.example.com/client.json",
    );
    // `idle` only asks (and gets a code it never redeems).
    let u = location(&s.authorize(
        NOW,
        &authorize_query(idle),
        Some(&cimd_document(idle)),
        &e.bytes(),
    ));
    assert!(q(&u, "code").is_some());
    assert!(s.storage().client(idle).unwrap().metadata.extra.is_empty());
    // `busy` redeems its code and holds a refresh token.
    let u = location(&s.authorize(
        NOW,
        &authorize_query(busy),
        Some(&cimd_document(busy)),
        &e.bytes(),
    ));
    let t = json_of(&exchange(&s, &mut e, busy, &q(&u, "code").unwrap(), NOW));
    let rt = t["refresh_token"].as_str().unwrap().to_owned();
    // The idle client's unredeemed code keeps it an hour past the code's expiry.
    let later = NOW.add_secs(2 * 3600);
    s.storage().purge(later);
    assert!(
        s.storage().client(idle).is_none(),
        "stale and unused: forgotten"
    );
    assert!(
        s.storage().client(busy).is_some(),
        "kept for its refresh token"
    );
    let r = refresh_at(&s, &mut e, later, busy, &rt, &[]);
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(r.body())
    );
    // A stale document is fetched again for a new authorization.
    assert!(matches!(
        s.authorize(later, &authorize_query(busy), None, &e.bytes()),
        AuthorizeOutcome::FetchClientMetadata { .. }
    ));
}

/// The number of stored documents is bounded: beyond `max_metadata_documents` a new one
/// gets an error page (a stale one is replaced in place).
#[test]
fn cimd_documents_are_bounded() {
    let mut c = config();
    c.max_metadata_documents = 1;
    let s = server_from(
        c,
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    );
    let mut e = Counter(0);
    let (a, b) = (
        "https://a.example.com/client.json",
        "https://b.example.com/client.json",
    );
    location(&s.authorize(
        NOW,
        &authorize_query(a),
        Some(&cimd_document(a)),
        &e.bytes(),
    ));
    match s.authorize(
        NOW,
        &authorize_query(b),
        Some(&cimd_document(b)),
        &e.bytes(),
    ) {
        AuthorizeOutcome::ErrorPage(r) => assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE),
        other => panic!("{other:?}"),
    }
    // `a` again, stale: replaced, not refused.
    let later = NOW.add_secs(3601);
    location(&s.authorize(
        later,
        &authorize_query(a),
        Some(&cimd_document(a)),
        &e.bytes(),
    ));
}

/// A revoked grant's marker lives as long as the grant's longest-lived token would have
/// (here the refresh token, 30 days), then `purge` forgets it. Old code kept every marker
/// for ever (`UnixTime::MAX`).
#[test]
fn revoked_family_markers_expire_with_the_family() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let t = json_of(&exchange(&s, &mut e, &id, &code, NOW));
    let rt = t["refresh_token"].as_str().unwrap();
    let family = s
        .storage()
        .refresh(&sha2::Sha256::digest(rt.as_bytes()).into())
        .unwrap()
        .family;
    let r = s.revoke(NOW, None, &form(&[("client_id", &id), ("token", rt)]));
    assert_eq!(r.status(), StatusCode::OK);
    assert!(s.storage().family_revoked(&family));
    let refresh_expiry = NOW.add_secs(30 * 24 * 3600);
    s.storage().purge(UnixTime(refresh_expiry.as_secs() - 1));
    assert!(
        s.storage().family_revoked(&family),
        "kept while a token could live"
    );
    s.storage().purge(refresh_expiry);
    assert!(
        !s.storage().family_revoked(&family),
        "forgotten with the family"
    );
}

/// A token of a revoked grant issued concurrently with the revocation (stored after it)
/// is born revoked and keeps the marker as long as it lives.
#[test]
fn a_token_stored_after_revocation_is_born_dead() {
    let st = MemoryStorage::new();
    st.revoke_family("f", NOW);
    let exp = NOW.add_secs(REVOCATION_GRACE * 10);
    st.put_access("j", "f", exp);
    st.purge(NOW.add_secs(REVOCATION_GRACE + 1));
    assert!(st.access_revoked("j"));
    assert!(st.family_revoked("f"));
    st.purge(exp);
    assert!(!st.family_revoked("f"));
}

/// Memory per registration, before (every member kept as parsed JSON, what the old code
/// stored) and after: run with
/// `cargo test -p mcp-oauth-authorization-server --lib memory_per_registration -- --ignored --nocapture`.
/// Reads the resident set size from `/proc/self/statm` (Linux).
#[test]
#[ignore = "a measurement, printed; run it alone"]
fn memory_per_registration() {
    fn rss() -> usize {
        let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
        let pages: usize = statm.split(' ').nth(1).unwrap().parse().unwrap();
        pages * 4096
    }
    const N: usize = 2000;
    let body = padded_registration(16 * 1024 - 16);
    let mut c = config();
    c.max_registered_clients = N;
    let s = server_from(
        c,
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    );
    let policy = AsConfig::new(ISS).registration;
    let mut e = Counter(0);
    let start = rss();
    let mut first = None;
    for _ in 0..N {
        let r = s.register(NOW, None, None, &body, &e.bytes());
        assert_eq!(r.status(), StatusCode::CREATED);
        first.get_or_insert_with(|| json_of(&r)["client_id"].as_str().unwrap().to_owned());
    }
    let after = (rss() - start) / N;
    let start = rss();
    let old: Vec<ClientMetadata> = (0..N).map(|_| policy.validate(&body).unwrap()).collect();
    let before = (rss() - start) / N;
    let kept_now = s
        .storage()
        .client(&first.unwrap())
        .unwrap()
        .metadata
        .to_json()
        .len();
    println!(
        "{} byte registration: before {} KiB resident per client ({} bytes of JSON kept), after {} bytes resident per client ({} bytes of JSON kept)",
        body.len(),
        before / 1024,
        old.first().map(|m| m.to_json().len()).unwrap_or_default(),
        after,
        kept_now,
    );
}

// ------------------------------------------------------- hardening: open redirector

/// BCP-1, RFC 9700 §4.11.2: once the redirect URI of a client that registered itself
/// (RFC 7591, or a metadata document) matches, errors before the user interacted are
/// shown, not redirected: anyone can register `https://evil.example/…`. A configured
/// client's errors are still redirected, and so is a refusal at the consent step. Old
/// code redirected them all.
#[test]
fn untrusted_clients_errors_are_shown_not_redirected_bcp_1() {
    let s = server();
    let mut e = Counter(0);
    let dcr = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cimd = "https://client.example.com/metadata.json";
    let bad = |id: &str| {
        [
            authorize_query(id).replace("response_type=code", "response_type=x"),
            authorize_query(id).replace("code_challenge", "x_code_challenge"),
            authorize_query(id).replace("mcp.example.com", "other.example.com"),
            authorize_query(id).replace("mcp%3Aread", "admin"),
        ]
    };
    for query in bad(&dcr) {
        match s.authorize(NOW, &query, None, &e.bytes()) {
            AuthorizeOutcome::ErrorPage(r) => {
                assert_eq!(r.status(), StatusCode::BAD_REQUEST);
                assert!(r.headers().get(header::LOCATION).is_none());
            }
            other => panic!("{query}: {other:?}"),
        }
    }
    for query in bad(cimd) {
        assert!(matches!(
            s.authorize(NOW, &query, Some(&cimd_document(cimd)), &e.bytes()),
            AuthorizeOutcome::ErrorPage(_)
        ));
    }
    configure_public(&s, "app");
    for query in bad("app") {
        let u = location(&s.authorize(NOW, &query, None, &e.bytes()));
        assert!(q(&u, "error").is_some());
        assert_eq!(q(&u, "state").as_deref(), Some("xyz"));
    }
    // The success path of a self-registered client still redirects.
    assert!(
        q(
            &location(&s.authorize(NOW, &authorize_query(&dcr), None, &e.bytes())),
            "code"
        )
        .is_some()
    );
}

// ---------------------------------------------------------- hardening: introspection

fn put_confidential(s: &AuthorizationServer<MemoryStorage>, id: &str, secret: &str) {
    let md: ClientMetadata = serde_json::from_value(json!({
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"]
    }))
    .unwrap();
    s.storage().put_client(StoredClient::new(
        id,
        Some(sha2::Sha256::digest(secret.as_bytes()).into()),
        md,
    ));
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// RFC 7662 §4: only the resource servers named in `introspection_clients` may
/// introspect; any other client, even a confidential one that authenticates, gets
/// `403 unauthorized_client`. Old code answered any confidential client (anyone can
/// register one).
#[test]
fn only_configured_introspection_clients_may_introspect() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let at = json_of(&exchange(&s, &mut e, &id, &code, NOW))["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = form(&[("token", &at)]);
    // A self-registered confidential client.
    let c = register(&s, &mut e, "client_secret_basic");
    let dcr = basic(
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let r = s.introspect(NOW, Some(&dcr), &body);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(&r)["error"], "unauthorized_client");
    // A configured confidential client not named.
    put_confidential(&s, "other", "other-secret");
    let r = s.introspect(NOW, Some(&basic("other", "other-secret")), &body);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Wrong secret: 401.
    put_confidential(&s, "rs", "rs-secret");
    let r = s.introspect(NOW, Some(&basic("rs", "nope")), &body);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&r)["error"], "invalid_client");
    // The named one.
    assert!(introspect_active(&s, &id, &at));
}

/// A refresh token is not an access token: introspected by a resource server (not its
/// client) it is `{"active": false}`; its own client (when allowed to introspect) sees it
/// active. `token_type_hint` is a hint: the other kind is still looked up (RFC 7662
/// §2.1). Old code answered a refresh token active, with `aud`, `scope` and `sub`, to any
/// caller.
#[test]
fn refresh_tokens_are_introspected_only_by_their_client() {
    let c = config().introspection_client("app");
    let s = server_from(
        c,
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    );
    let mut e = Counter(0);
    put_confidential(&s, "rs", "rs-secret");
    put_confidential(&s, "app", "app-secret");
    let code = code_for(&s, &mut e, "app");
    let r = s.token(
        NOW,
        Some(&basic("app", "app-secret")),
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ]),
        &e.bytes(),
    );
    let t = json_of(&r);
    let (at, rt) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    let ask = |who: &str, secret: &str, token: &str, hint: Option<&str>| {
        let mut pairs = vec![("token", token)];
        if let Some(h) = hint {
            pairs.push(("token_type_hint", h));
        }
        let r = s.introspect(NOW, Some(&basic(who, secret)), &form(&pairs));
        assert_eq!(r.status(), StatusCode::OK);
        json_of(&r)
    };
    for hint in [
        None,
        Some("refresh_token"),
        Some("access_token"),
        Some("junk"),
    ] {
        assert_eq!(
            ask("rs", "rs-secret", rt, hint),
            json!({"active": false}),
            "{hint:?}"
        );
        let own = ask("app", "app-secret", rt, hint);
        assert_eq!(own["active"], true, "{hint:?}");
        assert_eq!(own["token_type"], "refresh_token");
        // An access token is found whatever the hint says.
        let a = ask("rs", "rs-secret", at, hint);
        assert_eq!(a["active"], true, "{hint:?}");
        assert_eq!(a["token_type"], "Bearer");
    }
}

// ------------------------------------------------------------ hardening: code replay

/// O21-13: a replayed code revokes the grant only when the replay itself proves the
/// requester (the client, the redirect URI, the PKCE verifier); an invalid replay (a
/// leaked code without its verifier, another client, another redirect URI) gets an
/// error and revokes nothing. Old code revoked before any check.
#[test]
fn invalid_code_replay_revokes_nothing_o21_13() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let t = json_of(&exchange(&s, &mut e, &id, &code, NOW));
    let (at, rt) = (
        t["access_token"].as_str().unwrap().to_owned(),
        t["refresh_token"].as_str().unwrap().to_owned(),
    );
    let replay = |e: &mut Counter, pairs: &[(&str, &str)]| {
        let mut all = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        all.extend_from_slice(pairs);
        json_of(&s.token(NOW, None, &form(&all), &e.bytes()))
    };
    let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-0123";
    for (pairs, error) in [
        (vec![("client_id", id.as_str())], "invalid_request"),
        (
            vec![("client_id", id.as_str()), ("code_verifier", wrong)],
            "invalid_grant",
        ),
        (
            vec![("client_id", other.as_str()), ("code_verifier", VERIFIER)],
            "invalid_grant",
        ),
        (
            vec![
                ("client_id", id.as_str()),
                ("code_verifier", VERIFIER),
                ("redirect_uri", "http://127.0.0.1:8765/other"),
            ],
            "invalid_grant",
        ),
    ] {
        assert_eq!(replay(&mut e, &pairs)["error"], error, "{pairs:?}");
        assert!(
            introspect_active(&s, &id, &at),
            "{pairs:?} revoked the grant"
        );
        assert!(refresh_live(&s, &rt), "{pairs:?} revoked the grant");
    }
    // A valid replay (the code leaked with its verifier): the grant goes.
    let r = replay(&mut e, &[("client_id", &id), ("code_verifier", VERIFIER)]);
    assert_eq!(r["error"], "invalid_grant");
    assert!(!introspect_active(&s, &id, &at));
    assert!(!refresh_live(&s, &rt));
}

/// A failed PKCE check spends the code (documented on `token`): no second guess at the
/// verifier, and the later correct use is a replay that issues nothing.
#[test]
fn a_failed_pkce_check_spends_the_code() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let r = s.token(
        NOW,
        None,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &id),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-0123",
            ),
        ]),
        &e.bytes(),
    );
    assert_eq!(json_of(&r)["error"], "invalid_grant");
    let r = exchange(&s, &mut e, &id, &code, NOW);
    assert_eq!(json_of(&r)["error"], "invalid_grant");
}

/// MCP-CIMD-10 / CIMD-6: within its `cache_until` a client ID metadata document is used
/// again without a fetch; a fetch that failed or a document that was invalid is never
/// kept, so the next authorization asks for it again.
#[test]
fn cimd_documents_are_reused_while_fresh_and_errors_never_cached() {
    let s = server();
    let mut e = Counter(0);
    let url = "https://client.example.com/metadata.json";
    // A 404, or a document for another client_id: the adapter shows an error and never
    // hands the core a document, so nothing is stored and the next request asks again.
    let policy = mcp_oauth_dcr::CimdPolicy::new();
    let empty = http::HeaderMap::new();
    assert!(
        policy
            .check(url, StatusCode::NOT_FOUND, &empty, b"{}", NOW)
            .is_err()
    );
    let other = json!({"client_id": "https://evil.example/c.json", "client_name": "C",
                       "redirect_uris": [REDIRECT]});
    assert!(
        policy
            .check(
                url,
                StatusCode::OK,
                &empty,
                other.to_string().as_bytes(),
                NOW
            )
            .is_err()
    );
    for _ in 0..2 {
        assert!(matches!(
            s.authorize(NOW, &authorize_query(url), None, &e.bytes()),
            AuthorizeOutcome::FetchClientMetadata { .. }
        ));
        assert!(s.storage().client(url).is_none());
    }
    // A good document with `max-age=600`: used again without a fetch until then.
    let mut headers = http::HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, "max-age=600".parse().unwrap());
    let doc = json!({"client_id": url, "client_name": "C", "redirect_uris": [REDIRECT],
                     "token_endpoint_auth_method": "none"});
    let checked = policy
        .check(
            url,
            StatusCode::OK,
            &headers,
            doc.to_string().as_bytes(),
            NOW,
        )
        .unwrap();
    assert_eq!(checked.cache_until, Some(NOW.add_secs(600)));
    assert!(
        q(
            &location(&s.authorize(NOW, &authorize_query(url), Some(&checked), &e.bytes())),
            "code"
        )
        .is_some()
    );
    let soon = NOW.add_secs(599);
    assert!(
        q(
            &location(&s.authorize(soon, &authorize_query(url), None, &e.bytes())),
            "code"
        )
        .is_some()
    );
    assert!(matches!(
        s.authorize(NOW.add_secs(601), &authorize_query(url), None, &e.bytes()),
        AuthorizeOutcome::FetchClientMetadata { .. }
    ));
}

/// ASM-1: the server refuses an issuer that is not https (http on loopback), or that has a
/// query or a fragment; before, any string was published and signed into tokens.
#[test]
fn the_issuer_must_be_an_https_url_without_query_or_fragment() {
    let keys = es256;
    let consent = || {
        Box::new(AutoApprove {
            subject: "a".into(),
        })
    };
    for bad in [
        "auth.example.com",
        "http://auth.example.com",
        "https://auth.example.com?tenant=1",
        "https://auth.example.com#x",
        "ftp://auth.example.com",
        "",
    ] {
        let r =
            AuthorizationServer::new(AsConfig::new(bad), MemoryStorage::new(), keys(), consent());
        assert!(
            matches!(r, Err(AsConfigError::Issuer(_))),
            "{bad:?} accepted"
        );
        assert!(!r.unwrap_err().to_string().is_empty());
    }
    for good in ["https://auth.example.com/tenant", "http://127.0.0.1:9000"] {
        assert!(
            AuthorizationServer::new(AsConfig::new(good), MemoryStorage::new(), keys(), consent())
                .is_ok(),
            "{good} refused"
        );
    }
}

/// PKCE-8: the `code_challenge` never leaves the server: not in the redirect, the token
/// response, introspection or the access token.
#[test]
fn the_code_challenge_is_never_exposed() {
    let s = server();
    let mut e = Counter(0);
    let c = register(&s, &mut e, "none");
    let id = c["client_id"].as_str().unwrap().to_owned();
    let ch = challenge();
    let redirect = s.authorize(NOW, &authorize_query(&id), None, &e.bytes());
    let AuthorizeOutcome::Redirect(r) = &redirect else {
        panic!("{redirect:?}")
    };
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(!location.contains(&ch), "{location}");
    let u = Url::parse(&location).unwrap();
    let t = exchange(&s, &mut e, &id, &q(&u, "code").unwrap(), NOW);
    let body = String::from_utf8_lossy(t.body()).into_owned();
    assert!(!body.contains(&ch));
    let access = json_of(&t)["access_token"].as_str().unwrap().to_owned();
    let claims = access.split('.').nth(1).unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert!(
        !claims.contains(&ch) && !claims.contains("code_challenge"),
        "{claims}"
    );
}

/// O21-15: a refresh token is bound to its client: another client (here another public
/// client, which needs no secret) presenting it gets `invalid_grant`, and the token is not
/// spent for its owner.
#[test]
fn refresh_tokens_are_bound_to_their_client() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let thief = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let rt = json_of(&exchange(&s, &mut e, &id, &code, NOW))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        json_of(&refresh(&s, &mut e, &thief, &rt, &[]))["error"],
        "invalid_grant"
    );
    assert!(refresh_live(&s, &rt), "the thief's attempt spent the token");
    assert!(json_of(&refresh(&s, &mut e, &id, &rt, &[]))["access_token"].is_string());
}

fn routed(
    s: &AuthorizationServer<MemoryStorage>,
    e: &mut Counter,
    method: &str,
    uri: &str,
    body: &[u8],
) -> Response<Vec<u8>> {
    let req = http::Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_vec())
        .unwrap();
    match s.handle(NOW, &req, None, &e.bytes(), None) {
        Handled::Respond(r) => r,
        other => panic!("{other:?}"),
    }
}

/// One function routes every endpoint by method and path under the issuer (so adapters
/// and the world test share it): metadata at the RFC 8414 §3.1 well-known URL, unknown
/// paths 404, a known path with the wrong method 405 with `Allow`.
#[test]
fn one_router_for_every_endpoint() {
    let s = server();
    let e = &mut Counter(0);
    let m = routed(
        &s,
        e,
        "GET",
        "https://auth.example.com/.well-known/oauth-authorization-server",
        b"",
    );
    assert_eq!(m.status(), StatusCode::OK);
    assert_eq!(json_of(&m)["issuer"], ISS);
    assert_eq!(
        routed(&s, e, "GET", "https://auth.example.com/jwks", b"").status(),
        StatusCode::OK
    );
    let reg = json!({"redirect_uris": [REDIRECT], "token_endpoint_auth_method": "none",
                     "grant_types": ["authorization_code", "refresh_token"], "client_name": "t"});
    let r = routed(
        &s,
        e,
        "POST",
        "https://auth.example.com/register",
        reg.to_string().as_bytes(),
    );
    assert_eq!(r.status(), StatusCode::CREATED);
    let client_id = json_of(&r)["client_id"].as_str().unwrap().to_owned();
    let a = routed(
        &s,
        e,
        "GET",
        &format!(
            "https://auth.example.com/authorize?{}",
            authorize_query(&client_id)
        ),
        b"",
    );
    assert_eq!(a.status(), StatusCode::FOUND);
    let loc = Url::parse(a.headers()["location"].to_str().unwrap()).unwrap();
    let code = q(&loc, "code").unwrap();
    let t = routed(
        &s,
        e,
        "POST",
        "https://auth.example.com/token",
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT),
            ("client_id", &client_id),
            ("code_verifier", VERIFIER),
            ("resource", MCP),
        ]),
    );
    assert_eq!(
        t.status(),
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(t.body())
    );
    assert!(json_of(&t)["access_token"].is_string());
    let wrong = routed(&s, e, "GET", "https://auth.example.com/token", b"");
    assert_eq!(wrong.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(wrong.headers()["allow"], "POST");
    for unknown in [
        "https://auth.example.com/",
        "https://auth.example.com/tokens",
        "https://auth.example.com/.well-known/oauth-authorization-server/x",
        "https://auth.example.com/.well-known/openid-configuration",
    ] {
        assert_eq!(
            routed(&s, e, "GET", unknown, b"").status(),
            StatusCode::NOT_FOUND,
            "{unknown}"
        );
    }
}

/// An issuer with a path: endpoints live below it, the metadata at the path-inserted
/// well-known URL (RFC 8414 §3.1), and the bare paths are not the server's.
#[test]
fn the_router_honours_the_issuer_path() {
    let s = server_from(
        AsConfig::new("https://auth.example.com/tenant-1")
            .resource(ResourceUri::parse(MCP).unwrap(), ["mcp:read"]),
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    );
    let e = &mut Counter(0);
    let m = routed(
        &s,
        e,
        "GET",
        "https://auth.example.com/.well-known/oauth-authorization-server/tenant-1",
        b"",
    );
    assert_eq!(json_of(&m)["issuer"], "https://auth.example.com/tenant-1");
    assert_eq!(
        routed(&s, e, "GET", "https://auth.example.com/tenant-1/jwks", b"").status(),
        StatusCode::OK
    );
    assert_eq!(
        routed(&s, e, "GET", "https://auth.example.com/jwks", b"").status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        routed(
            &s,
            e,
            "GET",
            "https://auth.example.com/.well-known/oauth-authorization-server",
            b""
        )
        .status(),
        StatusCode::NOT_FOUND
    );
}
