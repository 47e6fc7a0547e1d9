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
use mcp_oauth_jwt::crypto::Ring;
use mcp_oauth_jwt::{KeySet, KeySetLimits, Policy, Validator};
use mcp_oauth_resource::ResourceUri;
use mcp_oauth_resource::url::{Url, form_urlencoded};
use proptest::prelude::*;
use ring::rand::SystemRandom;
use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair as _};
use serde_json::{Value, json};
use sha2::Digest as _;

use super::*;

const ISS: &str = "https://auth.example.com";
const MCP: &str = "https://mcp.example.com/mcp";
const NOW: UnixTime = UnixTime(1_800_000_000);
const REDIRECT: &str = "http://127.0.0.1:8765/callback";

struct Es256(EcdsaKeyPair, SystemRandom);

impl TokenSigner for Es256 {
    fn alg(&self) -> &str {
        "ES256"
    }
    fn kid(&self) -> &str {
        "as-1"
    }
    fn public_jwk(&self) -> Value {
        let p = self.0.public_key().as_ref();
        let b = |v: &[u8]| URL_SAFE_NO_PAD.encode(v);
        json!({"kty": "EC", "crv": "P-256", "x": b(&p[1..33]), "y": b(&p[33..65]),
               "kid": "as-1", "alg": "ES256", "use": "sig"})
    }
    fn sign(&self, input: &[u8]) -> Option<Vec<u8>> {
        self.0
            .sign(&self.1, input)
            .ok()
            .map(|s| s.as_ref().to_vec())
    }
}

fn server() -> AuthorizationServer<MemoryStorage> {
    server_with(Box::new(AutoApprove {
        subject: "alice".into(),
    }))
}

fn server_with(consent: Box<dyn Consent>) -> AuthorizationServer<MemoryStorage> {
    let rng = SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
    let kp =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    let config =
        AsConfig::new(ISS).resource(ResourceUri::parse(MCP).unwrap(), ["mcp:read", "mcp:write"]);
    AuthorizationServer::new(
        config,
        MemoryStorage::new(),
        Box::new(Es256(kp, rng)),
        consent,
    )
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
    let r = s.register(NOW, None, body.to_string().as_bytes(), &e.bytes());
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

fn validate(s: &AuthorizationServer<MemoryStorage>, token: &str) -> mcp_oauth_jwt::AuthContext {
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

    let refresh = |s: &AuthorizationServer<MemoryStorage>, e: &mut Counter, rt: &str| {
        s.token(
            NOW,
            None,
            &form(&[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", &id),
                ("resource", MCP),
            ]),
            &e.bytes(),
        )
    };
    let r = refresh(&s, &mut e, &rt1);
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
    let r = refresh(&s, &mut e, &rt1);
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert_eq!(json_of(&r)["error"], "invalid_grant");
    assert_eq!(
        json_of(&refresh(&s, &mut e, &rt2))["error"],
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
    assert!(!introspect_active(&s, &id, rt));
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
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let query = authorize_query(&id).replace("mcp.example.com", "other.example.com");
    let u = location(&s.authorize(NOW, &query, None, &e.bytes()));
    assert_eq!(q(&u, "error").as_deref(), Some("invalid_target"));
    assert_eq!(q(&u, "iss").as_deref(), Some(ISS));
    assert_eq!(q(&u, "state").as_deref(), Some("xyz"));

    let code = code_for(&s, &mut e, &id);
    let r = s.token(
        NOW,
        None,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("client_id", &id),
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
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let no_pkce = authorize_query(&id).replace("code_challenge", "x_code_challenge");
    let u = location(&s.authorize(NOW, &no_pkce, None, &e.bytes()));
    assert_eq!(q(&u, "error").as_deref(), Some("invalid_request"));
    let plain =
        authorize_query(&id).replace("code_challenge_method=S256", "code_challenge_method=plain");
    let u = location(&s.authorize(NOW, &plain, None, &e.bytes()));
    assert!(q(&u, "error").is_some());
    let bad_scope = authorize_query(&id).replace("mcp%3Aread", "admin");
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
    assert!(!introspect_active(&s, &id, rt));
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
        let _ = s.register(NOW, None, &body, &e.bytes());
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
    let refresh = |s: &AuthorizationServer<MemoryStorage>,
                   e: &mut Counter,
                   rt: &str,
                   extra: &[(&str, &str)]| {
        let mut pairs = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", id.as_str()),
        ];
        pairs.extend_from_slice(extra);
        json_of(&s.token(NOW, None, &form(&pairs), &e.bytes()))
    };
    assert_eq!(
        refresh(&s, &mut e, &rt, &[("scope", "mcp:write")])["error"],
        "invalid_scope"
    );
    assert_eq!(
        refresh(
            &s,
            &mut e,
            &rt,
            &[("resource", "https://other.example.com/mcp")]
        )["error"],
        "invalid_target"
    );
    // Canonically equal resource spellings are the same resource.
    let t = refresh(
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
    let t = refresh(&s, &mut e, &rt2, &[]);
    assert_eq!(t["scope"], "mcp:read offline_access", "{t}");
}
