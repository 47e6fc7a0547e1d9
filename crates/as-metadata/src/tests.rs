#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use mcp_oauth_resource_indicators::ResourceUri;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

/// Requirements §13.3.
#[test]
fn discovery_order() {
    assert_eq!(
        discovery_urls("https://example.com").unwrap(),
        [
            "https://example.com/.well-known/oauth-authorization-server",
            "https://example.com/.well-known/openid-configuration"
        ]
    );
    assert_eq!(
        discovery_urls("https://example.com/issuer1").unwrap()[0],
        "https://example.com/.well-known/oauth-authorization-server/issuer1"
    );
    let three = [
        "https://auth.example.com/.well-known/oauth-authorization-server/tenant1",
        "https://auth.example.com/.well-known/openid-configuration/tenant1",
        "https://auth.example.com/tenant1/.well-known/openid-configuration",
    ];
    assert_eq!(
        discovery_urls("https://auth.example.com/tenant1").unwrap(),
        three
    );
    assert_eq!(
        discovery_urls("https://auth.example.com/tenant1/").unwrap(),
        three
    );
    assert_eq!(discovery_urls("https://example.com/").unwrap().len(), 2);
    // Trap T3: GitHub's issuer keeps its path.
    assert_eq!(
        discovery_urls("https://github.com/login/oauth").unwrap()[0],
        "https://github.com/.well-known/oauth-authorization-server/login/oauth"
    );
}

#[test]
fn issuer_rules() {
    assert!(matches!(
        discovery_urls("http://as.example"),
        Err(AsMetadataError::InvalidIssuer(_))
    ));
    assert!(matches!(
        discovery_urls("https://as.example#x"),
        Err(AsMetadataError::InvalidIssuer(_))
    ));
    assert_eq!(
        discovery_urls("https://as.example?x=1"),
        Err(AsMetadataError::IssuerHasQuery)
    );
    assert!(discovery_urls("http://localhost:9000").is_ok());
}

fn good(issuer: &str) -> Value {
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
    })
}

fn check(doc: &Value, issuer: &str) -> Result<AuthorizationServerMetadata, AsMetadataError> {
    Validation::new().validate(&serde_json::to_vec(doc).unwrap(), issuer)
}

#[test]
fn validation_accepts_a_good_document() {
    let m = check(&good("https://as.example"), "https://as.example").unwrap();
    assert!(m.supports_s256());
}

#[test]
fn one_test_per_validation_error() {
    let issuer = "https://honest.example";
    // Requirements §13.3's mix-up vector: a document naming another issuer.
    assert!(matches!(
        check(&good(issuer), "https://attacker.example"),
        Err(AsMetadataError::IssuerMismatch { .. })
    ));
    // Byte for byte: no trailing-slash or case normalisation.
    assert!(matches!(
        check(&good(issuer), "https://honest.example/"),
        Err(AsMetadataError::IssuerMismatch { .. })
    ));
    assert!(matches!(
        check(&good(issuer), "https://HONEST.example"),
        Err(AsMetadataError::IssuerMismatch { .. })
    ));

    let mut d = good(issuer);
    d.as_object_mut().unwrap().remove("token_endpoint");
    assert_eq!(
        check(&d, issuer).unwrap_err(),
        AsMetadataError::MissingEndpoint {
            name: "token_endpoint"
        }
    );
    let mut d = good(issuer);
    d["authorization_endpoint"] = json!("http://honest.example/authorize");
    assert!(matches!(
        check(&d, issuer),
        Err(AsMetadataError::InvalidEndpoint {
            name: "authorization_endpoint",
            ..
        })
    ));
    let mut d = good(issuer);
    d.as_object_mut()
        .unwrap()
        .remove("code_challenge_methods_supported");
    assert_eq!(
        check(&d, issuer).unwrap_err(),
        AsMetadataError::PkceNotAdvertised
    );
    let mut d = good(issuer);
    d["code_challenge_methods_supported"] = json!(["plain"]);
    assert_eq!(
        check(&d, issuer).unwrap_err(),
        AsMetadataError::S256NotSupported
    );
    let mut d = good(issuer);
    d["response_types_supported"] = json!(["token"]);
    assert_eq!(
        check(&d, issuer).unwrap_err(),
        AsMetadataError::CodeFlowNotSupported
    );
    let mut d = good(issuer);
    d["code_challenge_methods_supported"] = json!("S256");
    assert!(matches!(check(&d, issuer), Err(AsMetadataError::Json(_))));
    let d = good("https://as.example?x=1");
    assert_eq!(
        check(&d, "https://as.example?x=1").unwrap_err(),
        AsMetadataError::IssuerHasQuery
    );
    for e in [
        AsMetadataError::PkceNotAdvertised,
        AsMetadataError::IssuerHasQuery,
    ] {
        assert!(!e.to_string().is_empty());
    }
}

/// FORMAT `as-metadata-validate`: every endpoint a document names is held to the https
/// rule (a relative `registration_endpoint` was accepted before; fuzzing `client_flow`
/// found it).
#[test]
fn every_named_endpoint_is_https_or_loopback() {
    let issuer = "https://as.example.com";
    for name in [
        "registration_endpoint",
        "revocation_endpoint",
        "introspection_endpoint",
        "jwks_uri",
        "userinfo_endpoint",
    ] {
        for bad in [
            "/as.example.com/r",
            "http://as.example.com/x",
            "https://as.example.com/x#f",
        ] {
            let mut d = good(issuer);
            d[name] = json!(bad);
            assert!(
                matches!(check(&d, issuer), Err(AsMetadataError::InvalidEndpoint { name: n, .. }) if n == name),
                "{name} = {bad} was accepted"
            );
        }
        let mut d = good(issuer);
        d[name] = json!("https://as.example.com/x");
        assert!(check(&d, issuer).is_ok(), "{name} https refused");
    }
}

/// Trap T4: an Entra-shaped OpenID document omits the PKCE member.
#[test]
fn entra_shape_needs_the_named_override() {
    let issuer = "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0";
    let doc = json!({
        "token_endpoint": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/token",
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
        "jwks_uri": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/discovery/v2.0/keys",
        "response_modes_supported": ["query", "fragment", "form_post"],
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "issuer": issuer,
        "request_uri_parameter_supported": false,
        "userinfo_endpoint": "https://graph.microsoft.com/oidc/userinfo",
        "authorization_endpoint": "https://login.microsoftonline.com/9188040d-6c67-4c5b-b112-36a304b66dad/oauth2/v2.0/authorize",
        "http_logout_supported": true,
        "claims_supported": ["sub", "iss", "aud"],
        "tenant_region_scope": null,
        "cloud_instance_name": "microsoftonline.com",
    });
    let bytes = serde_json::to_vec(&doc).unwrap();
    assert_eq!(
        Validation::new().validate(&bytes, issuer).unwrap_err(),
        AsMetadataError::PkceNotAdvertised
    );
    let m = Validation::new()
        .dangerous_assume_s256_for_issuer(issuer)
        .validate(&bytes, issuer)
        .unwrap();
    assert_eq!(m.extra["cloud_instance_name"], "microsoftonline.com");
    // The override is per issuer.
    let other = Validation::new().dangerous_assume_s256_for_issuer("https://other.example");
    assert!(other.validate(&bytes, issuer).is_err());
    // And it never rescues a document that lists methods without S256.
    let mut plain = doc.clone();
    plain["code_challenge_methods_supported"] = json!(["plain"]);
    let v = Validation::new().dangerous_assume_s256_for_issuer(issuer);
    assert_eq!(
        v.validate(&serde_json::to_vec(&plain).unwrap(), issuer)
            .unwrap_err(),
        AsMetadataError::S256NotSupported
    );
}

#[test]
fn legacy_2025_03_26_mode() {
    let server = ResourceUri::parse("https://mcp.example.com/v1/mcp").unwrap();
    let legacy = LegacyDiscovery::new(&server);
    assert_eq!(legacy.issuer(), "https://mcp.example.com");
    assert_eq!(
        legacy.metadata_url(),
        "https://mcp.example.com/.well-known/oauth-authorization-server"
    );
    let m = legacy.default_metadata();
    assert_eq!(
        m.authorization_endpoint.as_deref(),
        Some("https://mcp.example.com/authorize")
    );
    assert_eq!(
        m.token_endpoint.as_deref(),
        Some("https://mcp.example.com/token")
    );
    assert_eq!(
        m.registration_endpoint.as_deref(),
        Some("https://mcp.example.com/register")
    );
    // The assumed document passes the same validation as a fetched one.
    assert!(
        Validation::new()
            .validate(&m.to_json(), legacy.issuer())
            .is_ok()
    );
}

#[test]
fn limits_apply() {
    let bytes = serde_json::to_vec(&good("https://as.example")).unwrap();
    let small = Validation::new().limits(JsonLimits::default().with_max_bytes(16));
    assert!(matches!(
        small.validate(&bytes, "https://as.example"),
        Err(AsMetadataError::Json(JsonError::TooLarge { .. }))
    ));
    let mut deep = good("https://as.example");
    let mut nest = json!(1);
    for _ in 0..40 {
        nest = json!([nest]);
    }
    deep["x"] = nest;
    assert!(matches!(
        Validation::new().validate_value(deep, "https://as.example"),
        Err(AsMetadataError::Json(JsonError::TooDeep { .. }))
    ));
}

/// Found by the `as_metadata` fuzz target: unknown members must round-trip exactly,
/// floats included (serde_json's `float_roundtrip`).
#[test]
fn unknown_floats_round_trip_exactly() {
    let mut d = good("https://as.example.com");
    d["x_vendor"] =
        serde_json::from_str(r#"{"a": [0, 5.555555555555554e+83, 0.1, 1e-300]}"#).unwrap();
    let bytes = serde_json::to_vec(&d).unwrap();
    let m = Validation::new()
        .validate(&bytes, "https://as.example.com")
        .unwrap();
    let again = AuthorizationServerMetadata::parse(&m.to_json(), &JsonLimits::default()).unwrap();
    assert_eq!(again, m);
    assert_eq!(
        m.extra["x_vendor"]["a"][1].as_f64(),
        Some(5.555555555555554e83)
    );
}

proptest! {
    #[test]
    fn metadata_round_trip(
        issuer_path in "(/[a-z0-9]{1,6}){0,2}",
        scopes in proptest::option::of(proptest::collection::vec("[a-z:]{1,8}", 0..4)),
        iss in proptest::option::of(any::<bool>()),
        extra in proptest::collection::btree_map("x_[a-z]{1,5}", "[ -~]{0,10}", 0..3),
    ) {
        let issuer = format!("https://as.example{issuer_path}");
        let mut m = AuthorizationServerMetadata::new(issuer.clone());
        m.authorization_endpoint = Some(format!("{issuer}/authorize"));
        m.token_endpoint = Some(format!("{issuer}/token"));
        m.code_challenge_methods_supported = Some(vec!["S256".into()]);
        m.scopes_supported = scopes;
        m.authorization_response_iss_parameter_supported = iss;
        for (k, v) in extra { m.extra.insert(k, json!(v)); }
        let back = Validation::new().validate(&m.to_json(), &issuer).unwrap();
        prop_assert_eq!(back, m);
    }

    #[test]
    fn parsers_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300), issuer in ".{0,40}") {
        let _ = Validation::new().validate(&bytes, &issuer);
        let _ = discovery_urls(&issuer);
    }

    /// Every discovery URL is on the issuer's origin and ends in a well-known suffix or
    /// the issuer's path.
    #[test]
    fn discovery_urls_stay_on_origin(path in "(/[a-zA-Z0-9._~-]{1,8}){0,3}/?") {
        let issuer = format!("https://as.example{path}");
        for url in discovery_urls(&issuer).unwrap() {
            prop_assert!(url.starts_with("https://as.example/"));
            prop_assert!(url.contains("/.well-known/"));
        }
    }
}
