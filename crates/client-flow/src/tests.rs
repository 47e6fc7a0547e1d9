#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use http::StatusCode;
use proptest::prelude::*;
use serde_json::json;

use super::*;

use mcp_oauth_tests::rng::CountingRng;

const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
const MCP: &str = "https://mcp.example.com/mcp";
const AS: &str = "https://as.example.com";

fn prm(resource: &str, servers: &[&str], scopes: Option<&[&str]>) -> Vec<u8> {
    let mut v = json!({"resource": resource, "authorization_servers": servers});
    if let Some(s) = scopes {
        v["scopes_supported"] = json!(s);
    }
    serde_json::to_vec(&v).unwrap()
}

fn asm(issuer: &str) -> serde_json::Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "registration_endpoint": format!("{issuer}/register"),
        "code_challenge_methods_supported": ["S256"],
        "response_types_supported": ["code"],
        "scopes_supported": ["mcp:read", "mcp:write", "offline_access"],
        "authorization_response_iss_parameter_supported": true,
    })
}

fn config() -> ClientConfig {
    ClientConfig::native("test client", "http://127.0.0.1:9999/cb")
}

fn server() -> ResourceUri {
    ResourceUri::parse(MCP).unwrap()
}

fn challenge(header: &str) -> BearerParams {
    bearer_params(&parse_www_authenticate(header.as_bytes()).unwrap()).unwrap()
}

/// Expects a `Send`; returns the request.
fn send(flow: &mut AuthFlow, rng: &mut CountingRng) -> http::Request<Vec<u8>> {
    match flow.poll_action(NOW, rng) {
        Action::Send(r) => r,
        other => panic!("expected a request, got {other:?}"),
    }
}

fn redirect(flow: &mut AuthFlow, rng: &mut CountingRng) -> url::Url {
    match flow.poll_action(NOW, rng) {
        Action::Redirect(u) => url::Url::parse(&u).unwrap(),
        other => panic!("expected a redirect, got {other:?}"),
    }
}

fn query(u: &url::Url, k: &str) -> Option<String> {
    u.query_pairs()
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

fn form(body: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn form_get(body: &[u8], k: &str) -> Option<String> {
    form(body).into_iter().find(|(n, _)| n == k).map(|(_, v)| v)
}

use mcp_oauth_resource_indicators::url;

/// The whole flow from a 401 with `resource_metadata`: PRM, AS metadata, DCR, the
/// redirect, the callback, the token request. MCP-DISC-7, MCP-REG-2, MCP-RES-1,
/// MCP-AUTHZ-1/9/12, MCP-SCOPE-6.
#[test]
fn full_flow_from_a_challenge() {
    let mut rng = CountingRng(0);
    let ch = challenge(
        r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp:read""#,
    );
    let mut flow = AuthFlow::new(config(), server(), Some(&ch)).unwrap();

    let r = send(&mut flow, &mut rng);
    assert_eq!(
        r.uri(),
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );
    flow.handle_response(
        NOW,
        StatusCode::OK,
        &prm(MCP, &[AS], Some(&["mcp:read", "mcp:write"])),
    )
    .unwrap();

    let r = send(&mut flow, &mut rng);
    assert_eq!(
        r.uri(),
        "https://as.example.com/.well-known/oauth-authorization-server"
    );
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&asm(AS)).unwrap())
        .unwrap();

    let r = send(&mut flow, &mut rng);
    assert_eq!(r.uri(), "https://as.example.com/register");
    let sent: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
    assert_eq!(sent["token_endpoint_auth_method"], "none");
    assert_eq!(sent["application_type"], "native");
    assert_eq!(sent["redirect_uris"], json!(["http://127.0.0.1:9999/cb"]));
    flow.handle_response(
        NOW,
        StatusCode::CREATED,
        br#"{"client_id":"c1","token_endpoint_auth_method":"none"}"#,
    )
    .unwrap();

    let u = redirect(&mut flow, &mut rng);
    assert_eq!(u.path(), "/authorize");
    assert_eq!(query(&u, "client_id").as_deref(), Some("c1"));
    assert_eq!(query(&u, "response_type").as_deref(), Some("code"));
    assert_eq!(query(&u, "code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(query(&u, "resource").as_deref(), Some(MCP));
    // The challenge's scope, plus offline_access because the AS lists it.
    assert_eq!(
        query(&u, "scope").as_deref(),
        Some("mcp:read offline_access")
    );
    let state = query(&u, "state").unwrap();
    let challenge_sent = query(&u, "code_challenge").unwrap();

    flow.handle_callback(&format!(
        "http://127.0.0.1:9999/cb?code=the-code&state={state}&iss=https%3A%2F%2Fas.example.com"
    ))
    .unwrap();

    let r = send(&mut flow, &mut rng);
    assert_eq!(r.uri(), "https://as.example.com/token");
    assert!(r.headers().get(http::header::AUTHORIZATION).is_none());
    let body = r.body().clone();
    assert_eq!(
        form_get(&body, "grant_type").as_deref(),
        Some("authorization_code")
    );
    assert_eq!(form_get(&body, "code").as_deref(), Some("the-code"));
    assert_eq!(form_get(&body, "client_id").as_deref(), Some("c1"));
    assert_eq!(form_get(&body, "resource").as_deref(), Some(MCP));
    assert_eq!(
        form_get(&body, "redirect_uri").as_deref(),
        Some("http://127.0.0.1:9999/cb")
    );
    let verifier = form_get(&body, "code_verifier").unwrap();
    mcp_oauth_pkce::CodeChallenge::parse_s256(&challenge_sent)
        .unwrap()
        .verify(&verifier)
        .unwrap();
    flow.handle_response(
        NOW,
        StatusCode::OK,
        br#"{"access_token":"at","token_type":"Bearer","expires_in":3600,"refresh_token":"rt"}"#,
    )
    .unwrap();
    match flow.poll_action(NOW, &mut rng) {
        Action::Done(a) => {
            assert_eq!(a.issuer(), AS);
            assert!(a.new_registration);
            assert_eq!(a.client.client_id, "c1");
            assert_eq!(a.tokens.access_token.expose(), "at");
            assert_eq!(a.tokens.expires_at, Some(NOW.add_secs(3600)));
            // The response named no scope: the requested one is recorded.
            assert_eq!(a.tokens.scope.as_deref(), Some("mcp:read offline_access"));
            let cred = Credential::from_authorized(&a, true);
            assert_eq!(cred.auth_method, "none");
            assert_eq!(cred.resource, MCP);
        }
        other => panic!("{other:?}"),
    }
    // Four requests: PRM, AS metadata, registration, token (the authorization is a redirect).
    assert_eq!(flow.requests_sent(), 4);
    assert!(matches!(flow.poll_action(NOW, &mut rng), Action::Pending));
}

fn run_to_redirect(flow: &mut AuthFlow, rng: &mut CountingRng, metadata: serde_json::Value) {
    let _ = send(flow, rng);
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS], None))
        .unwrap();
    let _ = send(flow, rng);
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&metadata).unwrap())
        .unwrap();
    let _ = send(flow, rng);
    flow.handle_response(NOW, StatusCode::CREATED, br#"{"client_id":"c1"}"#)
        .unwrap();
}

/// MCP-AUTHZ-12/14: a callback from another issuer, or one without `iss` when the AS
/// promised it, never reaches the token endpoint; neither does a wrong `state`.
#[test]
fn callback_failures_send_no_token_request() {
    for (cb, want) in [
        (
            "code=x&state={s}&iss=https%3A%2F%2Fevil.example",
            "issuer_mismatch",
        ),
        ("code=x&state={s}", "issuer_mismatch"),
        (
            "code=x&state=forged&iss=https%3A%2F%2Fas.example.com",
            "state_mismatch",
        ),
        ("code=x&iss=https%3A%2F%2Fas.example.com", "state_mismatch"),
        (
            "error=access_denied&state={s}&iss=https%3A%2F%2Fas.example.com",
            "access_denied",
        ),
        (
            "error=access_denied&state={s}&iss=https%3A%2F%2Fevil.example",
            "issuer_mismatch",
        ),
    ] {
        let mut rng = CountingRng(0);
        let mut flow = AuthFlow::new(config(), server(), None).unwrap();
        run_to_redirect(&mut flow, &mut rng, asm(AS));
        let u = redirect(&mut flow, &mut rng);
        let state = query(&u, "state").unwrap();
        let cb = format!("http://127.0.0.1:9999/cb?{}", cb.replace("{s}", &state));
        let err = flow.handle_callback(&cb).unwrap_err();
        match &err {
            FlowError::Callback(e) => assert_eq!(e.code(), want, "{cb}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(flow.poll_action(NOW, &mut rng), Action::Failed(_)));
        assert_eq!(flow.requests_sent(), 3, "no token request after {cb}");
    }
}

/// MCP-DISC-7: without a challenge URL, the path-inserted URL first, then the root one
/// (whose document names the origin).
#[test]
fn prm_falls_back_to_the_root() {
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    let r = send(&mut flow, &mut rng);
    assert_eq!(
        r.uri(),
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );
    flow.handle_response(NOW, StatusCode::NOT_FOUND, b"")
        .unwrap();
    let r = send(&mut flow, &mut rng);
    assert_eq!(
        r.uri(),
        "https://mcp.example.com/.well-known/oauth-protected-resource"
    );
    flow.handle_response(
        NOW,
        StatusCode::OK,
        &prm("https://mcp.example.com", &[AS], None),
    )
    .unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&asm(AS)).unwrap())
        .unwrap();
    assert_eq!(
        flow.discovered().unwrap().resource.as_str(),
        "https://mcp.example.com"
    );
}

/// RFC 9728 §3.3: a document for another resource is refused and nothing else happens.
#[test]
fn prm_for_another_resource_is_refused() {
    let mut rng = CountingRng(0);
    let ch = challenge(
        r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp""#,
    );
    let mut flow = AuthFlow::new(config(), server(), Some(&ch)).unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(
        NOW,
        StatusCode::OK,
        &prm("https://evil.example.com/mcp", &[AS], None),
    )
    .unwrap();
    match flow.poll_action(NOW, &mut rng) {
        Action::Failed(FlowError::NoResourceMetadata { last: Some(_), .. }) => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(flow.requests_sent(), 1);
}

/// MCP-DISC-4: the first authorization server that gives usable metadata; MCP-ASMD-6:
/// a document naming another issuer is never used.
#[test]
fn second_authorization_server_after_an_issuer_mismatch() {
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    let _ = send(&mut flow, &mut rng);
    let as2 = "https://as2.example.com";
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS, as2], None))
        .unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(
        NOW,
        StatusCode::OK,
        &serde_json::to_vec(&asm("https://attacker.example.com")).unwrap(),
    )
    .unwrap();
    let r = send(&mut flow, &mut rng);
    assert_eq!(
        r.uri(),
        "https://as2.example.com/.well-known/oauth-authorization-server"
    );
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&asm(as2)).unwrap())
        .unwrap();
    let r = send(&mut flow, &mut rng);
    assert_eq!(r.uri(), "https://as2.example.com/register");
}

/// MCP-ASMD-3: RFC 8414 path-inserted, then OIDC path-inserted, then OIDC appended.
#[test]
fn as_metadata_order_for_an_issuer_with_a_path() {
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    let _ = send(&mut flow, &mut rng);
    let issuer = "https://as.example.com/tenant1";
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[issuer], None))
        .unwrap();
    let mut urls = Vec::new();
    for _ in 0..2 {
        urls.push(send(&mut flow, &mut rng).uri().to_string());
        flow.handle_response(NOW, StatusCode::NOT_FOUND, b"")
            .unwrap();
    }
    urls.push(send(&mut flow, &mut rng).uri().to_string());
    assert_eq!(
        urls,
        [
            "https://as.example.com/.well-known/oauth-authorization-server/tenant1",
            "https://as.example.com/.well-known/openid-configuration/tenant1",
            "https://as.example.com/tenant1/.well-known/openid-configuration",
        ]
    );
    // The last candidate's 404 ends the flow: the error comes back at once, and again
    // from the next poll.
    assert!(
        flow.handle_response(NOW, StatusCode::NOT_FOUND, b"")
            .is_err()
    );
    assert!(matches!(
        flow.poll_action(NOW, &mut rng),
        Action::Failed(FlowError::NoAuthorizationServer { .. })
    ));
}

/// MCP-AUTHZ-4: no `code_challenge_methods_supported`, no flow (unless the issuer is
/// exempted by name).
#[test]
fn metadata_without_pkce_is_refused_unless_exempted() {
    let mut m = asm(AS);
    m.as_object_mut()
        .unwrap()
        .remove("code_challenge_methods_supported");
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS], None))
        .unwrap();
    let _ = send(&mut flow, &mut rng);
    assert!(
        flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&m).unwrap())
            .is_err()
    );
    assert!(matches!(
        flow.poll_action(NOW, &mut rng),
        Action::Failed(FlowError::NoAuthorizationServer { last: Some(_) })
    ));

    let opts = IssuerOptions {
        dangerous_assume_s256: true,
        ..IssuerOptions::default()
    };
    let mut flow = AuthFlow::new(config().issuer_options(AS, opts), server(), None).unwrap();
    run_to_redirect(&mut flow, &mut rng, m);
    let _ = redirect(&mut flow, &mut rng);
}

/// MCP-DISC-10 / 2025-03-26: no PRM at all → metadata at the server's origin, and the
/// default endpoints when that is missing too.
#[test]
fn legacy_discovery() {
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    for _ in 0..2 {
        let _ = send(&mut flow, &mut rng);
        flow.handle_response(NOW, StatusCode::NOT_FOUND, b"")
            .unwrap();
    }
    let r = send(&mut flow, &mut rng);
    assert_eq!(
        r.uri(),
        "https://mcp.example.com/.well-known/oauth-authorization-server"
    );
    flow.handle_response(NOW, StatusCode::NOT_FOUND, b"")
        .unwrap();
    let d = flow.discovered().unwrap();
    assert!(d.legacy);
    assert_eq!(
        d.metadata.token_endpoint.as_deref(),
        Some("https://mcp.example.com/token")
    );
    let r = send(&mut flow, &mut rng);
    assert_eq!(r.uri(), "https://mcp.example.com/register");
}

/// A server error on the PRM URL is not "no PRM": no legacy fallback.
#[test]
fn no_legacy_fallback_after_a_server_error() {
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::INTERNAL_SERVER_ERROR, b"")
        .unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::NOT_FOUND, b"")
        .unwrap();
    assert!(matches!(
        flow.poll_action(NOW, &mut rng),
        Action::Failed(FlowError::NoResourceMetadata { .. })
    ));
}

/// MCP-REG-2: pre-registered beats CIMD beats DCR; MCP-REG-5: a client registered at
/// one issuer is never used at another.
#[test]
fn registration_priority_and_issuer_binding() {
    let mut m = asm(AS);
    m["client_id_metadata_document_supported"] = json!(true);
    let cimd = "https://client.example.com/metadata.json";

    // CIMD over DCR.
    let mut c = config();
    c.cimd_url = Some(cimd.into());
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(c.clone(), server(), None).unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS], None))
        .unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&m).unwrap())
        .unwrap();
    let u = redirect(&mut flow, &mut rng);
    assert_eq!(query(&u, "client_id").as_deref(), Some(cimd));

    // Pre-registered over CIMD.
    let pre = RegisteredClient::new("pre").with_secret(ClientSecret::new("s"));
    let mut flow = AuthFlow::new(c.clone().preregistered(AS, pre.clone()), server(), None).unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS], None))
        .unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&m).unwrap())
        .unwrap();
    let u = redirect(&mut flow, &mut rng);
    assert_eq!(query(&u, "client_id").as_deref(), Some("pre"));

    // A client known for another issuer is not used: DCR at this one.
    let mut flow = AuthFlow::new(config(), server(), None)
        .unwrap()
        .with_registered_clients([("https://old-as.example.com".to_owned(), pre)]);
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS], None))
        .unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&asm(AS)).unwrap())
        .unwrap();
    let r = send(&mut flow, &mut rng);
    assert_eq!(r.uri(), "https://as.example.com/register");
}

/// No way to get a client id: a typed error, no request.
#[test]
fn no_registration_route() {
    let mut m = asm(AS);
    m.as_object_mut().unwrap().remove("registration_endpoint");
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS], None))
        .unwrap();
    let _ = send(&mut flow, &mut rng);
    flow.handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&m).unwrap())
        .unwrap();
    match flow.poll_action(NOW, &mut rng) {
        Action::Failed(FlowError::NoClient { issuer }) => assert_eq!(issuer, AS),
        other => panic!("{other:?}"),
    }
}

/// Entra: no `resource`, a fixed `.default` scope; Auth0: `audience`.
#[test]
fn issuer_options_shape_the_request() {
    let opts = IssuerOptions {
        omit_resource: true,
        extra_params: vec![("audience".into(), "https://api.example.com".into())],
        scope: Some("api://app/.default".into()),
        ..IssuerOptions::default()
    };
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config().issuer_options(AS, opts), server(), None).unwrap();
    run_to_redirect(&mut flow, &mut rng, asm(AS));
    let u = redirect(&mut flow, &mut rng);
    assert_eq!(query(&u, "resource"), None);
    assert_eq!(query(&u, "scope").as_deref(), Some("api://app/.default"));
    assert_eq!(
        query(&u, "audience").as_deref(),
        Some("https://api.example.com")
    );
    let state = query(&u, "state").unwrap();
    flow.handle_callback(&format!(
        "http://127.0.0.1:9999/cb?code=c&state={state}&iss=https%3A%2F%2Fas.example.com"
    ))
    .unwrap();
    let r = send(&mut flow, &mut rng);
    assert_eq!(form_get(r.body(), "resource"), None);

    // A hook cannot override what the flow owns.
    let opts = IssuerOptions {
        extra_params: vec![("redirect_uri".into(), "https://evil.example".into())],
        ..IssuerOptions::default()
    };
    let mut flow = AuthFlow::new(config().issuer_options(AS, opts), server(), None).unwrap();
    run_to_redirect(&mut flow, &mut rng, asm(AS));
    assert!(matches!(
        flow.poll_action(NOW, &mut rng),
        Action::Failed(FlowError::Authorize(AuthorizeError::ReservedParameter(_)))
    ));
}

/// MCP-SCOPE-4/13: step-up asks for the union, and reuses discovery.
#[test]
fn step_up_asks_for_the_union() {
    let mut rng = CountingRng(0);
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    run_to_redirect(&mut flow, &mut rng, asm(AS));
    let d = flow.discovered().cloned();
    assert!(d.is_none(), "registration already started");
    let mut flow0 = AuthFlow::new(config(), server(), None).unwrap();
    let _ = send(&mut flow0, &mut rng);
    flow0
        .handle_response(NOW, StatusCode::OK, &prm(MCP, &[AS], None))
        .unwrap();
    let _ = send(&mut flow0, &mut rng);
    flow0
        .handle_response(NOW, StatusCode::OK, &serde_json::to_vec(&asm(AS)).unwrap())
        .unwrap();
    let d = flow0.discovered().cloned().unwrap();

    let ch = challenge(r#"Bearer error="insufficient_scope", scope="mcp:write""#);
    let mut step = AuthFlow::new(config(), server(), Some(&ch))
        .unwrap()
        .with_discovered(d)
        .with_registered_clients([(AS.to_owned(), RegisteredClient::new("c1"))])
        .with_held_scope(Some("mcp:read offline_access".into()));
    let u = redirect(&mut step, &mut rng);
    assert_eq!(
        query(&u, "scope").as_deref(),
        Some("mcp:read offline_access mcp:write")
    );
    assert_eq!(
        step.requests_sent(),
        0,
        "no discovery, no registration again"
    );
}

#[test]
fn scope_selection() {
    let s = |v: &[&str]| v.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>();
    // MCP-SCOPE-6 (1): the challenge wins.
    assert_eq!(
        select_scope(Some("a b"), Some(&s(&["c"])), None, true).as_deref(),
        Some("a b")
    );
    // (2): all of scopes_supported.
    assert_eq!(
        select_scope(None, Some(&s(&["c", "d"])), None, true).as_deref(),
        Some("c d")
    );
    // (3): omitted.
    assert_eq!(
        select_scope(None, None, Some(&s(&["offline_access"])), true),
        None
    );
    // offline_access only when the AS lists it, and only when wanted.
    assert_eq!(
        select_scope(Some("a"), None, Some(&s(&["a", "offline_access"])), true).as_deref(),
        Some("a offline_access")
    );
    assert_eq!(
        select_scope(Some("a"), None, Some(&s(&["a"])), true).as_deref(),
        Some("a")
    );
    assert_eq!(
        select_scope(Some("a"), None, Some(&s(&["offline_access"])), false).as_deref(),
        Some("a")
    );
    assert!(covers("a b c", "c a"));
    assert!(!covers("a b", "a c"));
}

/// RFC 6749 §2.3.1 / Appendix B: each part form-encoded before base64.
#[test]
fn basic_authorization_form_encodes_first() {
    let h = basic_authorization("my client:1", "p+ss%word");
    let b64 = h.strip_prefix("Basic ").unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(
        String::from_utf8(raw).unwrap(),
        "my+client%3A1:p%2Bss%25word"
    );
}

#[test]
fn client_auth_choices() {
    let m: mcp_oauth_as_metadata::AuthorizationServerMetadata = serde_json::from_value(json!({
        "issuer": AS, "token_endpoint_auth_methods_supported": ["client_secret_post"]
    }))
    .unwrap();
    let pre = RegisteredClient::new("id").with_secret(ClientSecret::new("s"));
    assert_eq!(client_auth(&pre, &m).method(), "client_secret_post");
    assert_eq!(
        client_auth(&RegisteredClient::new("id"), &m).method(),
        "none"
    );
    assert_eq!(pick_auth_method(Some("none"), &m), "client_secret_post");
    let any: mcp_oauth_as_metadata::AuthorizationServerMetadata =
        serde_json::from_value(json!({"issuer": AS})).unwrap();
    assert_eq!(client_auth(&pre, &any).method(), "client_secret_basic");
    assert_eq!(pick_auth_method(Some("none"), &any), "none");
}

#[test]
fn token_requests_carry_client_authentication() {
    let code_req = |auth: &ClientAuth| {
        let binding = RegisteredClient::new("x");
        let _ = binding;
        token_request(
            "https://as.example.com/token",
            &TokenClient {
                client_id: "cid",
                auth,
                issuer: AS,
            },
            &Grant::ClientCredentials { scope: Some("s") },
            Some(&server()),
            NOW,
            &[7; 16],
        )
        .unwrap()
    };
    let r = code_req(&ClientAuth::Basic(ClientSecret::new("sec")));
    assert!(
        r.headers()[http::header::AUTHORIZATION]
            .to_str()
            .unwrap()
            .starts_with("Basic ")
    );
    assert_eq!(form_get(r.body(), "client_secret"), None);
    assert_eq!(form_get(r.body(), "client_id"), None);
    let r = code_req(&ClientAuth::Post(ClientSecret::new("sec")));
    assert_eq!(form_get(r.body(), "client_secret").as_deref(), Some("sec"));
    assert_eq!(
        form_get(r.body(), "grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(form_get(r.body(), "resource").as_deref(), Some(MCP));

    #[derive(Debug)]
    struct Fixed;
    impl AssertionSigner for Fixed {
        fn alg(&self) -> mcp_oauth_jwt_validate::Algorithm {
            mcp_oauth_jwt_validate::Algorithm::ES256
        }
        fn public_jwk(&self) -> serde_json::Value {
            serde_json::json!({})
        }
        fn sign(&self, input: &[u8]) -> Result<Vec<u8>, mcp_oauth_jwt_validate::SignError> {
            Ok(input.iter().take(4).copied().collect())
        }
    }
    let r = code_req(&ClientAuth::PrivateKeyJwt(std::sync::Arc::new(Fixed)));
    assert_eq!(
        form_get(r.body(), "client_assertion_type").as_deref(),
        Some(JWT_BEARER_ASSERTION)
    );
    let jwt = form_get(r.body(), "client_assertion").unwrap();
    let parts: Vec<&str> = jwt.split('.').collect();
    assert_eq!(parts.len(), 3);
    use base64::Engine as _;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], "cid");
    assert_eq!(claims["sub"], "cid");
    assert_eq!(claims["aud"], AS);
    assert_eq!(claims["exp"], NOW.as_secs() + 60);
}

#[test]
fn token_responses() {
    let ok = |b: &str| parse_token_response(StatusCode::OK, b.as_bytes(), NOW, Some("req"), None);
    let t =
        ok(r#"{"access_token":"a","token_type":"bearer","expires_in":"60","scope":"x"}"#).unwrap();
    assert_eq!(t.expires_at, Some(NOW.add_secs(60)));
    assert_eq!(t.scope.as_deref(), Some("x"));
    assert!(t.needs_refresh(NOW, 60));
    assert!(!t.needs_refresh(NOW, 59));
    assert_eq!(
        ok(r#"{"access_token":"a","token_type":"DPoP"}"#),
        Err(TokenError::InvalidResponse)
    );
    assert_eq!(
        ok(r#"{"access_token":"","token_type":"Bearer"}"#),
        Err(TokenError::InvalidResponse)
    );
    assert_eq!(
        ok(r#"{"access_token":"a","token_type":"Bearer","expires_in":-1}"#),
        Err(TokenError::InvalidResponse)
    );
    assert_eq!(ok("[]"), Err(TokenError::InvalidResponse));
    let e = parse_token_response(
        StatusCode::BAD_REQUEST,
        br#"{"error":"invalid_grant","error_description":"spent"}"#,
        NOW,
        None,
        None,
    )
    .unwrap_err();
    assert!(e.is_invalid_grant());
    assert_eq!(
        parse_token_response(StatusCode::BAD_GATEWAY, b"{}", NOW, None, None),
        Err(TokenError::InvalidResponse)
    );
    // A refresh response without a new refresh token keeps the old one (RFC 6749 §6).
    let old = RefreshToken::new("rt0");
    let t = parse_token_response(
        StatusCode::OK,
        br#"{"access_token":"a2","token_type":"Bearer"}"#,
        NOW,
        None,
        Some(&old),
    )
    .unwrap();
    assert_eq!(t.refresh_token, Some(old));
    // Debug never shows tokens.
    assert!(!format!("{t:?}").contains("a2"));
}

#[test]
fn refresh_request_sends_resource() {
    let tokens = parse_token_response(
        StatusCode::OK,
        br#"{"access_token":"a","token_type":"Bearer","refresh_token":"rt"}"#,
        NOW,
        None,
        None,
    )
    .unwrap();
    let cred = Credential {
        resource: MCP.into(),
        send_resource: true,
        issuer: AS.into(),
        token_endpoint: format!("{AS}/token"),
        client_id: "cid".into(),
        auth_method: "none".into(),
        requested_scope: None,
        tokens,
    };
    let r = cred
        .refresh_request(None, None, NOW, &[0; 16])
        .unwrap()
        .unwrap();
    assert_eq!(
        form_get(r.body(), "grant_type").as_deref(),
        Some("refresh_token")
    );
    assert_eq!(form_get(r.body(), "refresh_token").as_deref(), Some("rt"));
    assert_eq!(form_get(r.body(), "resource").as_deref(), Some(MCP));
    assert_eq!(form_get(r.body(), "client_id").as_deref(), Some("cid"));
    let back: Credential = serde_json::from_str(&serde_json::to_string(&cred).unwrap()).unwrap();
    assert_eq!(back, cred);
}

#[test]
fn step_up_limiter() {
    let mut l = StepUpLimiter::new(2);
    assert!(l.try_step_up(MCP, "tools/call:echo"));
    assert!(l.try_step_up(MCP, "tools/call:echo"));
    assert!(!l.try_step_up(MCP, "tools/call:echo"));
    assert!(l.try_step_up(MCP, "tools/call:other"));
    l.succeeded(MCP, "tools/call:echo");
    assert!(l.try_step_up(MCP, "tools/call:echo"));
}

#[test]
fn memory_store_round_trip() {
    let s = MemoryStore::new();
    s.save_client(AS, &RegisteredClient::new("c")).unwrap();
    assert_eq!(s.client(AS).unwrap().unwrap().client_id, "c");
    assert_eq!(s.clients().unwrap().len(), 1);
    s.remove_client(AS).unwrap();
    assert!(s.client(AS).unwrap().is_none());
}

#[test]
fn unexpected_input_is_refused() {
    let mut flow = AuthFlow::new(config(), server(), None).unwrap();
    assert_eq!(
        flow.handle_response(NOW, StatusCode::OK, b"{}"),
        Err(FlowError::UnexpectedInput)
    );
    assert_eq!(
        flow.handle_callback("http://x/?code=1"),
        Err(FlowError::UnexpectedInput)
    );
}

proptest! {
    /// No panic on any callback; a result is only a code when `iss` and `state` match.
    #[test]
    fn callbacks_never_panic(s in ".{0,300}", q in "[a-z=&%0-9+]{0,200}") {
        let _ = parse_callback(&s, "st", AS, true);
        let r = parse_callback(&format!("http://127.0.0.1/cb?{q}"), "st", AS, true);
        prop_assert!(r.is_err() || q.contains("state=st"));
    }

    /// No panic on any token response body.
    #[test]
    fn token_responses_never_panic(body in proptest::collection::vec(any::<u8>(), 0..400), status in 100u16..600) {
        let status = StatusCode::from_u16(status).unwrap();
        let _ = parse_token_response(status, &body, NOW, None, None);
    }

    /// The union holds every held and every challenged scope, once.
    #[test]
    fn union_is_a_superset(held in "[a-c: ]{0,20}", ch in "[a-c: ]{0,20}") {
        let u = scope_union(&held, &ch).unwrap_or_default();
        let got = split_scopes(&u);
        for s in split_scopes(&held).into_iter().chain(split_scopes(&ch)) {
            prop_assert!(got.contains(&s));
        }
        let mut dedup = got.clone();
        dedup.sort_unstable();
        dedup.dedup();
        prop_assert_eq!(dedup.len(), got.len());
    }

    /// The flow never panics on arbitrary discovery responses.
    #[test]
    fn flow_survives_arbitrary_responses(bodies in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 1..6), statuses in proptest::collection::vec(prop_oneof![Just(200u16), Just(404), Just(500), Just(201)], 6)) {
        let mut rng = CountingRng(0);
        let mut flow = AuthFlow::new(config(), server(), None).unwrap();
        for (b, s) in bodies.iter().zip(statuses.iter()) {
            match flow.poll_action(NOW, &mut rng) {
                Action::Send(_) => { let _ = flow.handle_response(NOW, StatusCode::from_u16(*s).unwrap(), b); }
                _ => break,
            }
        }
    }
}
