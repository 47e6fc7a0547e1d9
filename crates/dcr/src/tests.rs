#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use http::{HeaderMap, HeaderValue, StatusCode};
use mcp_oauth_common::UnixTime;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::*;

fn validate(v: Value) -> Result<ClientMetadata, Rejection> {
    RegistrationPolicy::new().validate(&serde_json::to_vec(&v).unwrap())
}

/// The whole field set, built by the client side, passes the AS side unchanged.
#[test]
fn client_request_round_trips_through_the_server() {
    let mut m = ClientMetadata::native_public_client(
        "Example MCP client",
        [
            "http://127.0.0.1/callback",
            "http://[::1]/callback",
            "com.example.mcp:/oauth",
            "https://app.example.com/cb",
        ],
    );
    // MCP-RT-6: the client registers the refresh_token grant (and the code grant).
    assert_eq!(
        m.grant_types.as_deref(),
        Some(&["authorization_code".to_owned(), "refresh_token".to_owned()][..])
    );
    m.client_uri = Some("https://example.com".into());
    m.logo_uri = Some("https://example.com/logo.png".into());
    m.scope = Some("mcp:read mcp:write".into());
    m.contacts = Some(vec!["ops@example.com".into()]);
    m.tos_uri = Some("https://example.com/tos".into());
    m.policy_uri = Some("https://example.com/privacy".into());
    m.jwks_uri = Some("https://example.com/jwks.json".into());
    m.software_id = Some("4NRB1-0XZABZI9E6-5SM3R".into());
    m.software_version = Some("1.2.3".into());
    m.extra.insert("client_name#fr".into(), json!("Client MCP"));
    let req = registration_request(
        "https://as.example.com/register",
        &m,
        Some(&AccessToken::new("iat-123")),
    )
    .unwrap();
    assert_eq!(req.headers()["authorization"], "Bearer iat-123");
    assert_eq!(req.headers()["content-type"], "application/json");
    let registered = RegistrationPolicy::new().validate(req.body()).unwrap();
    assert_eq!(registered, m);

    // The server answers with what it registered; the client reads it back.
    let mut resp: Map<String, Value> = serde_json::from_slice(&registered.to_json()).unwrap();
    resp.insert("client_id".into(), json!("s6BhdRkqt3"));
    resp.insert("client_id_issued_at".into(), json!(2_893_256_800u64));
    let client =
        parse_registration_response(StatusCode::CREATED, &serde_json::to_vec(&resp).unwrap())
            .unwrap();
    assert_eq!(client.client_id, "s6BhdRkqt3");
    assert_eq!(client.metadata, m);
    assert!(!client.secret_expired(UnixTime(u64::MAX)));
}

#[test]
fn rfc7591_defaults_are_applied() {
    let m = validate(json!({"redirect_uris": ["https://client.example.org/callback"]})).unwrap();
    assert_eq!(
        m.token_endpoint_auth_method.as_deref(),
        Some("client_secret_basic")
    );
    assert_eq!(m.grant_types.unwrap(), ["authorization_code"]);
    assert_eq!(m.response_types.unwrap(), ["code"]);
    let m = validate(json!({"grant_types": ["client_credentials"], "response_types": [], "token_endpoint_auth_method": "client_secret_post"})).unwrap();
    assert!(m.redirect_uris.is_none());
}

#[test]
fn one_rejection_per_rule() {
    use RegistrationErrorCode::{InvalidClientMetadata as Meta, InvalidRedirectUri as Redirect};
    let r = |v: Value| validate(v).unwrap_err().code;
    let cb = json!(["https://client.example/cb"]);
    assert_eq!(
        r(json!({})),
        Redirect,
        "authorization_code needs redirect_uris"
    );
    assert_eq!(r(json!({"redirect_uris": []})), Redirect);
    assert_eq!(
        r(json!({"redirect_uris": cb, "grant_types": ["implicit"], "response_types": ["token"]})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "grant_types": ["password"]})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "response_types": ["code", "token"]})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "grant_types": ["refresh_token"]})),
        Meta,
        "code response without the grant"
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "grant_types": ["urn:example:custom"]})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "token_endpoint_auth_method": "magic"})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "token_endpoint_auth_method": "private_key_jwt"})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "jwks": {"keys": []}, "jwks_uri": "https://c.example/jwks"})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "logo_uri": "javascript:alert(1)"})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": cb, "application_type": "desktop"})),
        Meta
    );
    assert_eq!(
        r(json!({"redirect_uris": "https://client.example/cb"})),
        Meta,
        "wrong JSON type"
    );
    assert_eq!(r(json!({"redirect_uris": cb, "client_name": 7})), Meta);
    assert_eq!(r(json!(["https://client.example/cb"])), Meta);
    let many: Vec<String> = (0..11).map(|i| format!("https://c.example/{i}")).collect();
    assert_eq!(r(json!({"redirect_uris": many})), Redirect);
    let big = RegistrationPolicy::new()
        .validate(&vec![b' '; 20_000])
        .unwrap_err();
    assert_eq!(big.code, Meta);
    // The 400 body is RFC 7591 §3.2.2's.
    let resp = validate(json!({})).unwrap_err().response();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: Value = serde_json::from_slice(resp.body()).unwrap();
    assert_eq!(body["error"], "invalid_redirect_uri");
    assert!(body["error_description"].is_string());
}

#[test]
fn redirect_uri_rules() {
    let p = RedirectPolicy::default();
    for (uri, kind) in [
        (
            "https://claude.ai/api/mcp/auth_callback",
            RedirectKind::Https,
        ),
        ("https://vscode.dev/redirect", RedirectKind::Https),
        ("http://127.0.0.1:33418/", RedirectKind::Loopback),
        (
            "http://localhost:6274/oauth/callback",
            RedirectKind::Loopback,
        ),
        ("http://[::1]/cb", RedirectKind::Loopback),
        ("com.example.app:/oauth2redirect", RedirectKind::PrivateUse),
        (
            "com.googleusercontent.apps.123:/cb?x=1",
            RedirectKind::PrivateUse,
        ),
    ] {
        assert_eq!(p.check(uri), Ok(kind), "{uri}");
    }
    for (uri, err) in [
        ("https://a.example/cb#x", RedirectError::Fragment),
        ("http://a.example/cb", RedirectError::InsecureOrMalformed),
        ("http://10.0.0.1/cb", RedirectError::InsecureOrMalformed),
        (
            "https://user@a.example/cb",
            RedirectError::InsecureOrMalformed,
        ),
        ("/cb", RedirectError::NotAbsolute),
        ("cb", RedirectError::NotAbsolute),
        ("https://a.example/c b", RedirectError::NotAbsolute),
        ("javascript:alert(1)", RedirectError::DangerousScheme),
        ("data:text/html,x", RedirectError::DangerousScheme),
        ("file:///etc/passwd", RedirectError::DangerousScheme),
        (
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            RedirectError::SchemeNotReverseDomain,
        ),
        ("myapp://cb", RedirectError::SchemeNotReverseDomain),
    ] {
        assert_eq!(p.check(uri), Err(err.clone()), "{uri}");
        assert!(!err.to_string().is_empty());
    }
    assert_eq!(
        p.clone().max_len(10).check("https://a.example/cb"),
        Err(RedirectError::TooLong)
    );
    let relaxed = RedirectPolicy::default().insecure_allow_dotless_private_schemes();
    assert_eq!(
        relaxed.check("cursor://anysphere.cursor-retrieval/oauth/callback"),
        Ok(RedirectKind::PrivateUse)
    );
    assert_eq!(
        relaxed.check("javascript:alert(1)"),
        Err(RedirectError::DangerousScheme)
    );
}

#[test]
fn redirect_matching() {
    let reg = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
    let r = reg(&[
        "http://127.0.0.1/cb",
        "http://[::1]:8080/cb?a=1",
        "https://app.example/cb",
        "http://localhost:3000/cb",
    ]);
    for ok in [
        "http://127.0.0.1/cb",
        "http://127.0.0.1:1/cb",
        "http://127.0.0.1:65535/cb",
        "http://[::1]/cb?a=1",
        "http://[::1]:9/cb?a=1",
        "https://app.example/cb",
        "http://localhost:3000/cb",
    ] {
        assert!(redirect_matches(&r, ok), "{ok}");
    }
    for bad in [
        "http://127.0.0.1/cb/",
        "http://127.0.0.1:80x/cb",
        "http://127.0.0.1.evil.example/cb",
        "http://127.0.0.2/cb",
        "https://127.0.0.1/cb",
        "http://[::1]/cb",
        "https://app.example/cb/",
        "https://APP.example/cb",
        "https://app.example/cb?x",
        "http://localhost:3001/cb",
        "http://localhost/cb",
        "http://127.0.0.1:123456/cb",
    ] {
        assert!(!redirect_matches(&r, bad), "{bad}");
    }
}

#[test]
fn registration_responses() {
    let ok = |s: StatusCode, b: &str| parse_registration_response(s, b.as_bytes());
    let c = ok(
        StatusCode::CREATED,
        r#"{"client_id":"a","client_secret":"s3cr3t","client_secret_expires_at":0}"#,
    )
    .unwrap();
    assert!(!c.secret_expired(UnixTime(u64::MAX)), "0 means never");
    assert!(!format!("{c:?}").contains("s3cr3t"));
    assert_eq!(c.client_secret.as_ref().unwrap().expose(), "s3cr3t");
    let c = ok(
        StatusCode::CREATED,
        r#"{"client_id":"a","client_secret":"s","client_secret_expires_at":100}"#,
    )
    .unwrap();
    assert!(c.secret_expired(UnixTime(100)) && !c.secret_expired(UnixTime(99)));
    assert!(ok(StatusCode::OK, r#"{"client_id":"a"}"#).is_ok());
    let e = ok(
        StatusCode::BAD_REQUEST,
        r#"{"error":"invalid_redirect_uri","error_description":"no"}"#,
    )
    .unwrap_err();
    assert_eq!(e.code(), Some(RegistrationErrorCode::InvalidRedirectUri));
    assert!(e.to_string().contains("invalid_redirect_uri"));
    let e = ok(StatusCode::BAD_REQUEST, r#"{"error":"invalid_request"}"#).unwrap_err();
    assert_eq!(
        e,
        RegistrationError::Rejected {
            code: "invalid_request".into(),
            description: None
        }
    );
    for (s, b) in [
        (StatusCode::CREATED, r#"{}"#),
        (StatusCode::CREATED, r#"{"client_id":""}"#),
        (StatusCode::CREATED, r#"{"client_id":7}"#),
        (StatusCode::CREATED, r#"["client_id"]"#),
        (StatusCode::CREATED, ""),
        (StatusCode::NO_CONTENT, ""),
        (
            StatusCode::CREATED,
            r#"{"client_id":"a","client_secret_expires_at":"0"}"#,
        ),
        (StatusCode::BAD_REQUEST, "<html>"),
        (StatusCode::UNAUTHORIZED, r#"{"error":"invalid_token"}"#),
        (StatusCode::INTERNAL_SERVER_ERROR, r#"{"client_id":"a"}"#),
    ] {
        assert_eq!(
            ok(s, b).unwrap_err(),
            RegistrationError::InvalidResponse,
            "{s} {b}"
        );
    }
}

#[test]
fn client_id_metadata_documents() {
    let url = "https://app.example.com/oauth/client.json";
    let m = ClientMetadata::native_public_client("App", ["http://127.0.0.1/cb"]);
    let doc = client_id_metadata_document(url, &m).unwrap();
    let now = UnixTime(1_000);
    let checked = CimdPolicy::new()
        .check(url, StatusCode::OK, &HeaderMap::new(), &doc, now)
        .unwrap();
    assert_eq!(checked.metadata.client_name.as_deref(), Some("App"));
    assert_eq!(checked.cache_until, Some(UnixTime(1_000 + 3600)));
    let h = |v: &str| {
        let mut m = HeaderMap::new();
        m.insert("cache-control", HeaderValue::from_str(v).unwrap());
        m
    };
    let c = |hv: &str| {
        CimdPolicy::new()
            .check(url, StatusCode::OK, &h(hv), &doc, now)
            .unwrap()
            .cache_until
    };
    assert_eq!(c("max-age=5"), Some(UnixTime(1_060)));
    assert_eq!(c("max-age=999999"), Some(UnixTime(1_000 + 86_400)));
    assert_eq!(c("no-store"), None);

    for bad in [
        "http://app.example.com/client.json",
        "https://app.example.com",
        "https://app.example.com/",
        "https://app.example.com/a/../client.json",
        "https://app.example.com/./client.json",
        "https://app.example.com/client.json#x",
        "https://u@app.example.com/client.json",
        "https://app.example.com/client.json?v=1",
        "https://APP.example.com/client.json",
    ] {
        assert_eq!(
            validate_client_id_url(bad),
            Err(CimdError::InvalidClientIdUrl),
            "{bad}"
        );
    }
    assert!(validate_client_id_url("https://app.example.com:8443/c").is_ok());
    let mut secret = m.clone();
    secret.token_endpoint_auth_method = Some("client_secret_basic".into());
    assert_eq!(
        client_id_metadata_document(url, &secret),
        Err(CimdError::SharedSecret)
    );
    let mut unnamed = m.clone();
    unnamed.client_name = None;
    assert_eq!(
        client_id_metadata_document(url, &unnamed),
        Err(CimdError::MissingMember("client_name"))
    );

    let check = |v: Value| {
        CimdPolicy::new().check(
            url,
            StatusCode::OK,
            &HeaderMap::new(),
            &serde_json::to_vec(&v).unwrap(),
            now,
        )
    };
    let base =
        json!({"client_id": url, "client_name": "App", "redirect_uris": ["http://127.0.0.1/cb"]});
    assert!(check(base.clone()).is_ok());
    let mut v = base.clone();
    v["client_id"] = json!("https://app.example.com/oauth/client.json/");
    assert_eq!(check(v).unwrap_err(), CimdError::ClientIdMismatch);
    let mut v = base.clone();
    v["client_secret"] = json!("x");
    assert_eq!(check(v).unwrap_err(), CimdError::SharedSecret);
    let mut v = base.clone();
    v["token_endpoint_auth_method"] = json!("client_secret_post");
    assert_eq!(check(v).unwrap_err(), CimdError::SharedSecret);
    let mut v = base.clone();
    v["redirect_uris"] = json!(["http://evil.example/cb"]);
    assert_eq!(check(v).unwrap_err(), CimdError::InvalidRedirectUri);
    let mut v = base.clone();
    v.as_object_mut().unwrap().remove("redirect_uris");
    assert_eq!(
        check(v).unwrap_err(),
        CimdError::MissingMember("redirect_uris")
    );
    let mut v = base.clone();
    v["pad"] = json!("x".repeat(6000));
    assert_eq!(check(v).unwrap_err(), CimdError::InvalidDocument);
    assert_eq!(
        CimdPolicy::new()
            .check(url, StatusCode::FOUND, &HeaderMap::new(), b"", now)
            .unwrap_err(),
        CimdError::Status(302)
    );
    assert_eq!(
        CimdError::InvalidRedirectUri.registration_code(),
        RegistrationErrorCode::InvalidRedirectUri
    );
    assert!(!FETCH_RULES.is_empty());
}

#[test]
fn registration_priority() {
    use RegistrationRoute::*;
    let reg = Some("https://as.example/register");
    assert_eq!(
        choose_registration(true, true, Some(true), reg),
        PreRegistered
    );
    assert_eq!(
        choose_registration(false, true, Some(true), reg),
        ClientIdMetadataDocument
    );
    assert_eq!(choose_registration(false, true, None, reg), Dynamic);
    assert_eq!(choose_registration(false, false, Some(true), reg), Dynamic);
    assert_eq!(choose_registration(false, true, Some(false), None), AskUser);
}

struct Statements;
impl SoftwareStatementVerifier for Statements {
    fn verify(&self, statement: &str) -> Result<Map<String, Value>, RegistrationErrorCode> {
        match statement {
            "good" => Ok(
                json!({"client_name": "From statement", "software_id": "sid"})
                    .as_object()
                    .cloned()
                    .unwrap(),
            ),
            "unapproved" => Err(RegistrationErrorCode::UnapprovedSoftwareStatement),
            _ => Err(RegistrationErrorCode::InvalidSoftwareStatement),
        }
    }
}

#[test]
fn software_statement_hook() {
    let p = RegistrationPolicy::new().software_statements(Box::new(Statements));
    let body = |s: &str| {
        serde_json::to_vec(&json!({"redirect_uris": ["https://c.example/cb"], "client_name": "Plain", "software_statement": s})).unwrap()
    };
    let m = p.validate(&body("good")).unwrap();
    assert_eq!(m.client_name.as_deref(), Some("From statement"));
    assert_eq!(
        p.validate(&body("unapproved")).unwrap_err().code,
        RegistrationErrorCode::UnapprovedSoftwareStatement
    );
    assert_eq!(
        p.validate(&body("forged")).unwrap_err().code,
        RegistrationErrorCode::InvalidSoftwareStatement
    );
    // Without a hook the statement is carried but not applied.
    let m = RegistrationPolicy::new().validate(&body("forged")).unwrap();
    assert_eq!(m.client_name.as_deref(), Some("Plain"));
}

struct Tokens;
impl InitialAccessTokenVerifier for Tokens {
    fn verify(&self, token: &str) -> bool {
        token == "iat-good"
    }
}

#[test]
fn initial_access_token_hook() {
    let body = serde_json::to_vec(&json!({"redirect_uris": ["https://c.example/cb"]})).unwrap();
    let open = RegistrationPolicy::new();
    assert!(open.validate_request(None, &body).is_ok());
    let closed = RegistrationPolicy::new().initial_access_tokens(Box::new(Tokens));
    assert!(
        closed
            .validate_request(Some("Bearer iat-good"), &body)
            .is_ok()
    );
    assert!(
        closed
            .validate_request(Some("bearer iat-good"), &body)
            .is_ok()
    );
    for bad in [
        None,
        Some("Bearer iat-bad"),
        Some("Basic iat-good"),
        Some("Bearer "),
        Some("iat-good"),
    ] {
        assert_eq!(
            closed.validate_request(bad, &body).unwrap_err(),
            RegistrationRequestError::Unauthorized,
            "{bad:?}"
        );
    }
    let refused = closed
        .validate_request(Some("Bearer iat-good"), b"{}")
        .unwrap_err();
    assert!(
        matches!(refused, RegistrationRequestError::Rejected(r) if r.code == RegistrationErrorCode::InvalidRedirectUri)
    );
}

proptest! {
    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), s in ".{0,80}") {
        let _ = RegistrationPolicy::new().validate(&bytes);
        let _ = parse_registration_response(StatusCode::CREATED, &bytes);
        let _ = parse_registration_response(StatusCode::BAD_REQUEST, &bytes);
        let _ = RedirectPolicy::default().check(&s);
        let _ = redirect_matches(std::slice::from_ref(&s), &s);
        let _ = validate_client_id_url(&s);
    }

    /// A registered URI always matches itself; a loopback-IP URI matches with any port.
    #[test]
    fn redirect_match_properties(path in "(/[a-z0-9._~-]{1,6}){0,3}", port in 1u16..=65535, host in prop_oneof![Just("127.0.0.1"), Just("[::1]")]) {
        let registered = format!("http://{host}{path}");
        prop_assert!(redirect_matches(std::slice::from_ref(&registered), &registered));
        let requested = format!("http://{host}:{port}{path}");
        prop_assert!(redirect_matches(std::slice::from_ref(&registered), &requested));
        let other = format!("http://{host}:{port}{path}x");
        prop_assert!(!redirect_matches(&[registered], &other));
    }

    /// Build → validate round trip for generated native clients.
    #[test]
    fn native_clients_round_trip(name in "[ -~]{1,20}", ports in proptest::collection::vec(1u16..=65535, 1..4), scope in proptest::option::of("[a-z:]{1,8}( [a-z:]{1,8}){0,2}")) {
        let uris: Vec<String> = ports.iter().map(|p| format!("http://127.0.0.1:{p}/callback")).collect();
        let mut m = ClientMetadata::native_public_client(name, uris);
        m.scope = scope;
        let back = RegistrationPolicy::new().validate(&m.to_json()).unwrap();
        prop_assert_eq!(back, m);
    }
}
