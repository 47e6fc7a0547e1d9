//! The code flow, the token endpoint, consent, PKCE, client authentication, revocation
//! and metadata.

use super::*;

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
