//! The router: every endpoint through `AuthorizationServer::handle`, and the issuer's
//! path.

use super::*;

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
