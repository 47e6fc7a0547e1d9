#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use http::{HeaderMap, Method, StatusCode};
use mcp_oauth_resource_indicators::ResourceUri;
use proptest::prelude::*;
use serde_json::json;

use super::*;

fn r(s: &str) -> ResourceUri {
    ResourceUri::parse(s).unwrap()
}

// ---------------------------------------------------------------- the document

/// RFC 9728 §3.2's example response.
const RFC_EXAMPLE: &str = r#"{"resource":"https://resource.example.com","authorization_servers":["https://as1.example.com","https://as2.example.net"],"bearer_methods_supported":["header","body"],"scopes_supported":["profile","email","phone"],"resource_documentation":"https://resource.example.com/resource_documentation.html"}"#;

#[test]
fn rfc9728_example_parses() {
    let doc =
        ProtectedResourceMetadata::parse(RFC_EXAMPLE.as_bytes(), &JsonLimits::default()).unwrap();
    assert_eq!(doc.resource, "https://resource.example.com");
    assert_eq!(doc.authorization_servers.as_ref().unwrap().len(), 2);
    assert_eq!(doc.scopes_supported.as_ref().unwrap()[2], "phone");
}

#[test]
fn unknown_fields_round_trip_and_signed_metadata_is_carried() {
    let input = json!({
        "resource": "https://r.example",
        "authorization_servers": ["https://as.example"],
        "resource_name#fr": "Ressource",
        "x-vendor": {"nested": [1, 2]},
        "signed_metadata": "eyJhbGciOiJub25lIn0.eyJyZXNvdXJjZSI6Imh0dHBzOi8vZXZpbCJ9.",
    });
    let doc = ProtectedResourceMetadata::from_value(input.clone(), &JsonLimits::default()).unwrap();
    assert_eq!(doc.extra["resource_name#fr"], "Ressource");
    // The signed metadata claims another resource; it is carried, not applied.
    assert!(doc.signed_metadata.is_some());
    assert_eq!(doc.resource, "https://r.example");
    let back: serde_json::Value = serde_json::from_slice(&doc.to_json()).unwrap();
    assert_eq!(back, input);
}

#[test]
fn wrong_json_types_are_refused() {
    for bad in [
        json!({"resource": 1}),
        json!({"authorization_servers": ["https://as.example"]}),
        json!({"resource": "https://r.example", "authorization_servers": "https://as.example"}),
        json!({"resource": "https://r.example", "scopes_supported": [1]}),
        json!({"resource": "https://r.example", "tls_client_certificate_bound_access_tokens": "true"}),
        json!({"resource": "https://r.example", "dpop_bound_access_tokens_required": 1}),
        json!({"resource": "https://r.example", "signed_metadata": {}}),
        json!(["https://r.example"]),
    ] {
        let e = ProtectedResourceMetadata::from_value(bad.clone(), &JsonLimits::default());
        assert!(matches!(e, Err(PrmError::Json(_))), "{bad}");
    }
}

#[test]
fn duplicate_members_are_refused() {
    let doc = br#"{"resource":"https://a.example","resource":"https://b.example","authorization_servers":["https://as.example"]}"#;
    assert!(matches!(
        ProtectedResourceMetadata::parse(doc, &JsonLimits::default()),
        Err(PrmError::Json(_))
    ));
}

#[test]
fn size_and_depth_limits() {
    let limits = JsonLimits::default().with_max_bytes(64);
    assert!(matches!(
        ProtectedResourceMetadata::parse(RFC_EXAMPLE.as_bytes(), &limits),
        Err(PrmError::Json(JsonError::TooLarge { .. }))
    ));
    let deep = format!(
        r#"{{"resource":"https://a.example","x":{}1{}}}"#,
        "[".repeat(40),
        "]".repeat(40)
    );
    assert!(matches!(
        ProtectedResourceMetadata::parse(deep.as_bytes(), &JsonLimits::default()),
        Err(PrmError::Json(JsonError::TooDeep { .. }))
    ));
    let deep_value: serde_json::Value = serde_json::from_str(&deep).unwrap();
    assert!(matches!(
        ProtectedResourceMetadata::from_value(deep_value, &JsonLimits::default()),
        Err(PrmError::Json(JsonError::TooDeep { .. }))
    ));
}

// ---------------------------------------------------------------- discovery URLs

fn urls(resource: &str, header: Option<&str>) -> Vec<String> {
    discovery_candidates(&r(resource), header)
        .unwrap()
        .into_iter()
        .map(|c| c.url)
        .collect()
}

/// RFC 9728 §3.1 and the requirements' §13.2 table.
#[test]
fn well_known_urls() {
    let wk = |s: &str| well_known_url(&r(s));
    assert_eq!(
        wk("https://resource.example.com"),
        "https://resource.example.com/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        wk("https://resource.example.com/resource1"),
        "https://resource.example.com/.well-known/oauth-protected-resource/resource1"
    );
    assert_eq!(
        wk("https://mcp.example.com:8443/mcp"),
        "https://mcp.example.com:8443/.well-known/oauth-protected-resource/mcp"
    );
    assert_eq!(
        wk("https://example.com/"),
        "https://example.com/.well-known/oauth-protected-resource"
    );
    assert_eq!(
        wk("https://example.com/mcp?tenant=a"),
        "https://example.com/.well-known/oauth-protected-resource/mcp?tenant=a"
    );
}

#[test]
fn discovery_order() {
    assert_eq!(
        urls("https://example.com/public/mcp", None),
        [
            "https://example.com/.well-known/oauth-protected-resource/public/mcp",
            "https://example.com/.well-known/oauth-protected-resource"
        ]
    );
    assert_eq!(
        urls("https://example.com/", None),
        ["https://example.com/.well-known/oauth-protected-resource"]
    );
    let header = "https://meta.example/prm";
    assert_eq!(urls("https://example.com/mcp", Some(header)), [header]);
    // The root fallback validates against the origin, the others against the resource.
    let c = discovery_candidates(&r("https://example.com/mcp"), None).unwrap();
    assert_eq!(c[0].expected_resource, "https://example.com/mcp");
    assert_eq!(c[0].source, Source::PathInserted);
    assert_eq!(c[1].expected_resource, "https://example.com");
    assert_eq!(c[1].source, Source::Root);
    for bad in [
        "http://meta.example/prm",
        "/relative",
        "https://meta.example/#x",
    ] {
        assert!(matches!(
            discovery_candidates(&r("https://example.com/mcp"), Some(bad)),
            Err(PrmError::InvalidMetadataUrl(_))
        ));
    }
}

// ---------------------------------------------------------------- validation

fn doc(resource: &str) -> Vec<u8> {
    serde_json::to_vec(
        &json!({"resource": resource, "authorization_servers": ["https://as.example"]}),
    )
    .unwrap()
}

#[test]
fn strict_validation() {
    let v = Validation::new();
    let expected = "https://example.com/public/mcp";
    assert!(v.validate(&doc(expected), expected).is_ok());
    // Requirements §13.2's rejection vectors.
    for other in [
        "https://example.com/public/mcp/",
        "https://EXAMPLE.com/public/mcp",
        "https://example.com",
    ] {
        assert!(
            matches!(
                v.validate(&doc(other), expected),
                Err(PrmError::ResourceMismatch { .. })
            ),
            "{other}"
        );
    }
    // A lone root slash is ignored on either side.
    assert!(
        v.validate(&doc("https://example.com/"), "https://example.com")
            .is_ok()
    );
    assert!(
        v.validate(&doc("https://example.com"), "https://example.com/")
            .is_ok()
    );
}

#[test]
fn authorization_servers_are_required_and_checked() {
    let v = Validation::new();
    let none = br#"{"resource":"https://r.example"}"#;
    assert_eq!(
        v.validate(none, "https://r.example").unwrap_err(),
        PrmError::NoAuthorizationServers
    );
    let empty = br#"{"resource":"https://r.example","authorization_servers":[]}"#;
    assert_eq!(
        v.validate(empty, "https://r.example").unwrap_err(),
        PrmError::NoAuthorizationServers
    );
    for bad in [
        "http://as.example",
        "as.example",
        "https://as.example#f",
        "javascript:alert(1)",
    ] {
        let d = serde_json::to_vec(&json!({"resource": "https://r.example", "authorization_servers": ["https://ok.example", bad]})).unwrap();
        assert!(
            matches!(
                v.validate(&d, "https://r.example"),
                Err(PrmError::InvalidAuthorizationServer { index: 1, .. })
            ),
            "{bad}"
        );
    }
    let loopback =
        br#"{"resource":"https://r.example","authorization_servers":["http://127.0.0.1:9000"]}"#;
    assert!(v.validate(loopback, "https://r.example").is_ok());
}

#[test]
fn parent_resource_only_when_dangerously_asked() {
    let strict = Validation::new();
    let relaxed = Validation::new().dangerous_accept_parent_resource();
    let child = "https://host.example/api/mcp";
    for parent in [
        "https://host.example",
        "https://host.example/",
        "https://host.example/api",
        "https://host.example/api/",
    ] {
        assert!(strict.validate(&doc(parent), child).is_err());
        assert!(relaxed.validate(&doc(parent), child).is_ok(), "{parent}");
    }
    for not_parent in [
        "https://host.example/ap",
        "https://other.example",
        "http://host.example",
        "https://host.example:8443",
        "https://host.example/api/mcp/deeper",
        "https://host.example?x=1",
    ] {
        assert!(
            relaxed.validate(&doc(not_parent), child).is_err(),
            "{not_parent}"
        );
    }
}

// ---------------------------------------------------------------- server side

#[test]
fn builder_refuses_what_mcp_forbids() {
    let res = r("https://mcp.example.com/mcp");
    assert_eq!(
        PrmBuilder::new(res.clone()).build().unwrap_err(),
        PrmError::NoAuthorizationServers
    );
    assert!(matches!(
        PrmBuilder::new(res.clone())
            .authorization_server("http://as.example")
            .build(),
        Err(PrmError::InvalidAuthorizationServer { index: 0, .. })
    ));
    assert_eq!(
        PrmBuilder::new(res.clone())
            .authorization_server("https://as.example")
            .extra("resource", json!("https://evil.example"))
            .build()
            .unwrap_err(),
        PrmError::ShadowedMember("resource".into())
    );
    let doc = PrmBuilder::new(res.clone())
        .authorization_server("https://as.example")
        .resource_name("Files")
        .resource_documentation("https://docs.example")
        .extra("resource_name#fr", json!("Fichiers"))
        .build()
        .unwrap();
    // What the server publishes, a client validates.
    let validated = Validation::new()
        .validate(&doc.to_json(), res.as_str())
        .unwrap();
    assert_eq!(validated, doc);
}

/// PRM-4 (`jwks_uri` https), PRM-7 (never `none`), MCP-SCOPE-16 (no `offline_access` in
/// `scopes_supported` nor in a challenge's `scope`).
#[test]
fn builder_and_challenges_keep_rfc9728_and_mcp_scope_rules() {
    let res = r("https://mcp.example.com/mcp");
    let base = || PrmBuilder::new(res.clone()).authorization_server("https://as.example");
    assert!(matches!(
        base().jwks_uri("http://mcp.example.com/jwks").build(),
        Err(PrmError::InvalidJwksUri(_))
    ));
    assert!(matches!(
        base().jwks_uri("/jwks").build(),
        Err(PrmError::InvalidJwksUri(_))
    ));
    let doc = base()
        .jwks_uri("https://mcp.example.com/jwks")
        .build()
        .unwrap();
    assert_eq!(
        doc.jwks_uri.as_deref(),
        Some("https://mcp.example.com/jwks")
    );
    assert_eq!(
        base()
            .resource_signing_alg_values_supported(["ES256", "None"])
            .build()
            .unwrap_err(),
        PrmError::NoneSigningAlgorithm
    );
    assert!(
        base()
            .resource_signing_alg_values_supported(["ES256"])
            .build()
            .is_ok()
    );
    assert_eq!(
        base()
            .scopes_supported(["mcp:read", "offline_access"])
            .build()
            .unwrap_err(),
        PrmError::OfflineAccessAdvertised
    );
    for e in [
        PrmError::NoneSigningAlgorithm,
        PrmError::OfflineAccessAdvertised,
    ] {
        assert!(!e.to_string().is_empty());
    }

    let value = |scope: &str| {
        BearerChallenge::new()
            .scope(scope)
            .error(BearerError::InsufficientScope)
            .header_value()
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        value("mcp:read offline_access mcp:write"),
        r#"Bearer scope="mcp:read mcp:write", error="insufficient_scope""#
    );
    assert_eq!(
        value("offline_access"),
        r#"Bearer error="insufficient_scope""#
    );
    assert_eq!(
        value("mcp:read"),
        r#"Bearer scope="mcp:read", error="insufficient_scope""#
    );
}

#[test]
fn endpoint_responses() {
    let res = r("https://mcp.example.com/mcp");
    let doc = PrmBuilder::new(res.clone())
        .authorization_server("https://as.example")
        .build()
        .unwrap();
    let ep = PrmEndpoint::new(doc.clone(), &res).max_age(60);
    assert_eq!(ep.paths(), ["/.well-known/oauth-protected-resource/mcp"]);
    assert_eq!(
        ep.metadata_url(),
        "https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
    );
    assert!(
        ep.respond(&Method::GET, "/.well-known/oauth-protected-resource")
            .is_none()
    );

    let get = ep
        .respond(&Method::GET, "/.well-known/oauth-protected-resource/mcp")
        .unwrap();
    assert_eq!(get.status(), StatusCode::OK);
    // PRM-19: 200 with application/json.
    assert_eq!(get.headers()["content-type"], "application/json");
    assert_eq!(get.headers()["cache-control"], "public, max-age=60");
    assert_eq!(get.headers()["access-control-allow-origin"], "*");
    assert_eq!(get.body(), &doc.to_json());
    let head = ep
        .respond(&Method::HEAD, "/.well-known/oauth-protected-resource/mcp")
        .unwrap();
    assert_eq!(head.status(), StatusCode::OK);
    assert!(head.body().is_empty());
    let options = ep
        .respond(
            &Method::OPTIONS,
            "/.well-known/oauth-protected-resource/mcp",
        )
        .unwrap();
    assert_eq!(options.status(), StatusCode::NO_CONTENT);
    assert!(
        options
            .headers()
            .contains_key("access-control-allow-methods")
    );
    let post = ep
        .respond(&Method::POST, "/.well-known/oauth-protected-resource/mcp")
        .unwrap();
    assert_eq!(post.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(post.headers()["allow"], "GET, HEAD, OPTIONS");

    let no_cors = PrmEndpoint::new(doc.clone(), &res).cors(Cors::Disabled);
    let get = no_cors
        .respond(&Method::GET, "/.well-known/oauth-protected-resource/mcp")
        .unwrap();
    assert!(!get.headers().contains_key("access-control-allow-origin"));

    let with_root = PrmEndpoint::new(doc.clone(), &res)
        .also_serve_root()
        .also_serve_root();
    assert_eq!(with_root.paths().len(), 2);
    assert!(
        with_root
            .respond(&Method::GET, "/.well-known/oauth-protected-resource")
            .is_some()
    );

    let root_res = r("https://mcp.example.com");
    let root_only = PrmEndpoint::new(doc, &root_res).also_serve_root();
    assert_eq!(root_only.paths(), ["/.well-known/oauth-protected-resource"]);
}

// ---------------------------------------------------------------- forwarded

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(*k, v.parse().unwrap());
    }
    h
}

#[test]
fn forwarded_headers_only_from_listed_proxies() {
    let public = PublicUrl::new(r("http://127.0.0.1:8080/mcp"))
        .trust_forwarded_headers_from(["10.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()]);
    let proxy = "10.0.0.7".parse().unwrap();
    let stranger = "198.51.100.1".parse().unwrap();

    let h = headers(&[
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "mcp.example.com"),
    ]);
    assert_eq!(
        public.resolve(proxy, &h).unwrap().as_str(),
        "https://mcp.example.com/mcp"
    );
    assert_eq!(
        public.resolve(stranger, &h).unwrap().as_str(),
        "http://127.0.0.1:8080/mcp"
    );
    assert_eq!(
        public.resolve("::1".parse().unwrap(), &h).unwrap().as_str(),
        "https://mcp.example.com/mcp"
    );

    // The nearest (last) value wins: earlier ones come from the client.
    let h = headers(&[
        ("x-forwarded-host", "evil.example, mcp.example.com"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-prefix", "/api/"),
    ]);
    assert_eq!(
        public.resolve(proxy, &h).unwrap().as_str(),
        "https://mcp.example.com/api/mcp"
    );
    let h = headers(&[
        ("forwarded", "for=1.2.3.4;host=evil.example;proto=https"),
        (
            "forwarded",
            r#"for="[2001:db8::1]:4711";proto=https;host="mcp.example.com:8443""#,
        ),
    ]);
    assert_eq!(
        public.resolve(proxy, &h).unwrap().as_str(),
        "https://mcp.example.com:8443/mcp"
    );

    // Port handling.
    let h = headers(&[
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "mcp.example.com"),
        ("x-forwarded-port", "443"),
    ]);
    assert_eq!(
        public.resolve(proxy, &h).unwrap().as_str(),
        "https://mcp.example.com/mcp"
    );
    let h = headers(&[("x-forwarded-port", "9000")]);
    assert_eq!(
        public.resolve(proxy, &h).unwrap().as_str(),
        "http://127.0.0.1:9000/mcp"
    );
    // No forwarding headers from a proxy: the configured URL.
    assert_eq!(
        public.resolve(proxy, &HeaderMap::new()).unwrap(),
        *public.configured()
    );
}

#[test]
fn malformed_forwarded_headers_are_refused() {
    let public = PublicUrl::new(r("https://mcp.example.com/mcp"))
        .trust_forwarded_headers_from(["0.0.0.0/0".parse().unwrap()]);
    let peer = "192.0.2.1".parse().unwrap();
    for (k, v) in [
        ("forwarded", "host"),
        ("forwarded", "host=a;host=b"),
        ("forwarded", "host=\"unterminated"),
        ("forwarded", "proto=https;;"),
        ("x-forwarded-port", "12a"),
        ("x-forwarded-prefix", "api"),
        ("x-forwarded-prefix", "/a?b"),
        ("x-forwarded-host", ""),
    ] {
        assert!(
            matches!(
                public.resolve(peer, &headers(&[(k, v)])),
                Err(ForwardedError::Malformed { .. })
            ),
            "{k}: {v}"
        );
    }
    for (k, v) in [
        ("x-forwarded-host", "user@evil.example"),
        ("x-forwarded-host", "[::1]x"),
        ("x-forwarded-proto", "ftp"),
        ("x-forwarded-proto", "http"),
    ] {
        assert!(
            public.resolve(peer, &headers(&[(k, v)])).is_err(),
            "{k}: {v}"
        );
    }
    // A host that smuggles a path, query or userinfo is malformed, not a URL to build.
    for v in [
        "evil.example/path",
        "evil.example?x",
        "evil.example#x",
        "a\\b",
    ] {
        assert_eq!(
            public.resolve(peer, &headers(&[("x-forwarded-host", v)])),
            Err(ForwardedError::Malformed {
                header: "x-forwarded-host"
            }),
            "{v}"
        );
    }
}

// ---------------------------------------------------------------- challenges: building

#[test]
fn challenge_statuses_and_bare_bearer() {
    assert_eq!(BearerChallenge::new().header_value().unwrap(), "Bearer");
    assert_eq!(BearerChallenge::new().status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        BearerChallenge::new()
            .error(BearerError::InvalidRequest)
            .status(),
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        BearerChallenge::new()
            .error(BearerError::InsufficientScope)
            .status(),
        StatusCode::FORBIDDEN
    );
    let resp = BearerChallenge::new()
        .resource_metadata("https://a.example/.well-known/oauth-protected-resource")
        .error(BearerError::InsufficientScope)
        .scope("a b")
        .response()
        .unwrap();
    assert_eq!(resp.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        resp.headers()["www-authenticate"],
        r#"Bearer resource_metadata="https://a.example/.well-known/oauth-protected-resource", scope="a b", error="insufficient_scope""#
    );
}

/// Header injection: `"`, `\`, CR and LF never reach the header raw.
#[test]
fn hostile_descriptions_are_refused_or_escaped() {
    for bad in [
        "say \"hi\"",
        "back\\slash",
        "line\r\nSet-Cookie: x=y",
        "cr\r",
        "lf\n",
        "nul\0",
        "tab\t",
        "é",
    ] {
        assert_eq!(
            BearerChallenge::new()
                .error(BearerError::InvalidToken)
                .error_description(bad)
                .header_value(),
            Err(ChallengeError::InvalidCharacter {
                param: "error_description"
            }),
            "{bad:?}"
        );
    }
    // In realm (a plain quoted-string), `"` and `\` are escaped; CR and LF refused.
    let v = BearerChallenge::new()
        .realm(r#"a "b" \c"#)
        .header_value()
        .unwrap();
    assert_eq!(v, r#"Bearer realm="a \"b\" \\c""#);
    let parsed = parse_www_authenticate(v.as_bytes()).unwrap();
    assert_eq!(parsed[0].param("realm"), Some(r#"a "b" \c"#));
    for bad in ["x\r\ny", "x\ny"] {
        assert!(BearerChallenge::new().realm(bad).header_value().is_err());
        assert!(
            BearerChallenge::new()
                .resource_metadata(bad)
                .header_value()
                .is_err()
        );
    }
    for bad in ["", "a  b", " a", "a\"", "a\\b", "a\tb"] {
        assert_eq!(
            BearerChallenge::new().scope(bad).header_value(),
            Err(ChallengeError::InvalidScope),
            "{bad:?}"
        );
    }
    assert!(
        BearerChallenge::new()
            .error_uri("https://e.example/\"")
            .header_value()
            .is_err()
    );
}

// ---------------------------------------------------------------- challenges: parsing

fn parse(s: &str) -> Result<Vec<Challenge>, HeaderError> {
    parse_www_authenticate(s.as_bytes())
}

#[test]
fn parses_mcp_challenge() {
    let c = parse(r#"Bearer resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource", scope="files:read files:write", error="insufficient_scope""#).unwrap();
    let b = bearer_params(&c).unwrap();
    assert_eq!(
        b.resource_metadata.as_deref(),
        Some("https://mcp.example.com/.well-known/oauth-protected-resource")
    );
    assert_eq!(b.scope.as_deref(), Some("files:read files:write"));
    assert_eq!(b.bearer_error(), Some(BearerError::InsufficientScope));
}

#[test]
fn parses_rfc9110_shapes() {
    // Several challenges, token68, case-insensitive names, whitespace around `=`.
    let c =
        parse(r#"Newauth realm="apps", type=1, title="Login to \"apps\"", Basic realm="simple""#)
            .unwrap();
    assert_eq!(c.len(), 2);
    assert_eq!(c[0].params.len(), 3);
    assert_eq!(c[0].param("title"), Some(r#"Login to "apps""#));
    assert_eq!(c[1].scheme, "basic");
    let c = parse(
        "Negotiate YIIBzAYGKwYBBQUCoIIBwDCC==, BEARER Realm = \"x\" ,,  DPoP algs=\"ES256 PS256\"",
    )
    .unwrap();
    assert_eq!(c[0].token68.as_deref(), Some("YIIBzAYGKwYBBQUCoIIBwDCC=="));
    assert_eq!(c[1].scheme, "bearer");
    assert_eq!(c[1].params, [("realm".to_owned(), "x".to_owned())]);
    assert_eq!(c[2].param("ALGS"), Some("ES256 PS256"));
    let c = parse("Bearer, Basic").unwrap();
    assert_eq!(c.len(), 2);
    assert!(c[0].params.is_empty() && c[0].token68.is_none());
    assert!(bearer_params(&parse("Basic realm=x").unwrap()).is_none());
}

#[test]
fn refuses_malformed_values() {
    for bad in [
        "",
        "   ",
        ",",
        "Bearer realm=\"unterminated",
        "Bearer realm=\"bad\\\"",
        "Bearer =x",
        "Bearer realm=\"x\" error=\"y\"",
        "Bearer realm=\"x\"junk",
        "Bearer\"x\"",
        "Bearer abc def",
        "Bearer a=b, =c",
        "Bearer realm=\"caf\u{e9}\"",
        "Bearer realm=\"a\nb\"",
        "\"Bearer\"",
    ] {
        assert!(parse(bad).is_err(), "{bad:?}");
    }
    // `realm=` alone is a token68 with padding, not an empty parameter.
    assert_eq!(
        parse("Bearer realm=").unwrap()[0].token68.as_deref(),
        Some("realm=")
    );
    assert_eq!(
        parse("Bearer scope=a, SCOPE=b"),
        Err(HeaderError::DuplicateParam {
            name: "scope".into()
        })
    );
    assert_eq!(
        parse(&"a".repeat(MAX_HEADER_LEN + 1)),
        Err(HeaderError::TooLong)
    );
    assert_eq!(
        parse(&"Basic, ".repeat(MAX_CHALLENGES + 1)),
        Err(HeaderError::TooMany)
    );
    let many: Vec<String> = (0..=MAX_PARAMS).map(|i| format!("p{i}=v")).collect();
    assert_eq!(
        parse(&format!("Bearer {}", many.join(", "))),
        Err(HeaderError::TooMany)
    );
    assert_eq!(parse(""), Err(HeaderError::Empty));
}

fn printable() -> impl Strategy<Value = String> {
    "[ -~]{0,40}"
}

fn scope_list() -> impl Strategy<Value = String> {
    proptest::collection::vec("[!#-\\[\\]-~]{1,10}", 1..4).prop_map(|v| v.join(" "))
}

proptest! {
    /// Build → parse round trip: every value comes back exactly.
    #[test]
    fn challenge_round_trip(
        realm in proptest::option::of(printable()),
        rm in proptest::option::of("https://[a-z]{1,10}\\.example/[a-z/]{0,20}"),
        scope in proptest::option::of(scope_list()),
        error in proptest::option::of(prop_oneof![Just(BearerError::InvalidRequest), Just(BearerError::InvalidToken), Just(BearerError::InsufficientScope)]),
        desc in proptest::option::of("[ !#-\\[\\]-~]{0,40}"),
    ) {
        let mut c = BearerChallenge::new();
        if let Some(v) = &realm { c = c.realm(v.clone()); }
        if let Some(v) = &rm { c = c.resource_metadata(v.clone()); }
        if let Some(v) = &scope { c = c.scope(v.clone()); }
        if let Some(v) = error { c = c.error(v); }
        if let Some(v) = &desc { c = c.error_description(v.clone()); }
        let value = c.header_value().unwrap();
        let parsed = parse_www_authenticate(value.as_bytes()).unwrap();
        prop_assert_eq!(parsed.len(), 1);
        let b = bearer_params(&parsed).unwrap();
        prop_assert_eq!(b.realm, realm);
        prop_assert_eq!(b.resource_metadata, rm);
        prop_assert_eq!(b.scope, scope);
        prop_assert_eq!(b.error.as_deref(), error.map(BearerError::as_str));
        prop_assert_eq!(b.error_description, desc);
    }

    /// Whatever the value, a built challenge never carries CR, LF or other controls.
    #[test]
    fn built_headers_never_carry_controls(s in "\\PC{0,30}|[\\x00-\\x7f]{0,30}") {
        let c = BearerChallenge::new().realm(s.clone()).error_description(s);
        if let Ok(v) = c.header_value() {
            prop_assert!(v.as_bytes().iter().all(|b| (0x20..0x7f).contains(b)));
        }
    }

    #[test]
    fn parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_www_authenticate(&bytes);
    }

    #[test]
    fn parser_never_panics_on_header_shaped_input(s in "[A-Za-z]{1,6}( [a-z_]{1,6} ?= ?(\"[ -~]{0,6}\"|[a-z0-9]{1,4}) ?,?){0,4}") {
        if let Ok(c) = parse(&s) {
            prop_assert!(!c.is_empty());
        }
    }

    /// Metadata round trip: what the builder makes, the parser reads back unchanged.
    #[test]
    fn metadata_round_trip(
        path in "(/[a-z0-9]{1,6}){0,3}",
        servers in proptest::collection::vec("https://[a-z]{1,8}\\.example(/[a-z]{1,5})?", 1..4),
        scopes in proptest::option::of(proptest::collection::vec("[a-z:]{1,10}", 0..4)),
        extra in proptest::collection::btree_map("x-[a-z]{1,5}", "[ -~]{0,10}", 0..3),
    ) {
        let resource = r(&format!("https://mcp.example.com{path}"));
        let mut b = PrmBuilder::new(resource.clone());
        for s in &servers { b = b.authorization_server(s.clone()); }
        if let Some(s) = &scopes { b = b.scopes_supported(s.clone()); }
        for (k, v) in &extra { b = b.extra(k.clone(), json!(v)); }
        let doc = b.build().unwrap();
        let back = Validation::new().validate(&doc.to_json(), resource.as_str()).unwrap();
        prop_assert_eq!(back, doc);
    }

    #[test]
    fn document_parser_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = Validation::new().validate(&bytes, "https://r.example");
    }
}
