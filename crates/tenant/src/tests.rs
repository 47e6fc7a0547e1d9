//! Tenant isolation and the IdP profiles, both ways: each profile accepts a token shaped
//! as that IdP's documentation shows, and refuses it when one claim is wrong.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use http::Request;
use mcp_oauth_jwt_validate::crypto::Ring;
use mcp_oauth_jwt_validate::{JwtError, KeySet, KeySetLimits, UnixTime};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_tests::jwt::{N, TestKey, TestKeys};
use proptest::prelude::*;
use serde_json::{Value, json};

use super::*;

const NOW: UnixTime = UnixTime(N);

fn keys() -> TestKeys {
    TestKeys::load().unwrap()
}

fn set(k: &TestKey) -> Arc<KeySet> {
    Arc::new(
        KeySet::from_value(&json!({"keys": [k.jwk()]}), &Ring, &KeySetLimits::default()).unwrap(),
    )
}

fn sign(k: &TestKey, typ: &str, claims: &Value) -> String {
    k.sign(&json!({"alg": "RS256", "typ": typ, "kid": k.kid}), claims)
}

fn tenant(id: &str, resource: &str) -> TenantTrust {
    TenantTrust::new(TenantId::new(id), ResourceUri::parse(resource).unwrap())
}

fn with(mut v: Value, k: &str, x: Value) -> Value {
    v[k] = x;
    v
}

fn without(mut v: Value, k: &str) -> Value {
    v.as_object_mut().unwrap().remove(k);
    v
}

const TID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
const TID_B: &str = "0b3c0c0d-1111-4222-8333-444455556666";
const APP: &str = "6e74172b-be56-4843-9ff4-e66a39bb12e3";

/// An Entra v2.0 access token as Microsoft's "access token claims reference" shows one.
fn entra_v2_claims(tid: &str) -> Value {
    json!({
        "aud": APP,
        "iss": format!("https://login.microsoftonline.com/{tid}/v2.0"),
        "iat": N - 60, "nbf": N - 60, "exp": N + 3600,
        "aio": "AXQAi/8UAAAA",
        "azp": "6cb04018-a3f5-46a7-b995-940c78f5aef3",
        "azpacr": "0",
        "name": "Abe Lincoln",
        "oid": "690222be-ff1a-4d56-abd1-7e4f7d38e474",
        "preferred_username": "abeli@microsoft.com",
        "rh": "I",
        "scp": "access_as_user mcp.read",
        "roles": ["Tools.Admin"],
        "sub": "HKZpfaHyWadeOouYlitjrI-KffTm222X5rrV3xDqfKQ",
        "tid": tid,
        "uti": "fqiBqXLPj0eQa82S-IYFAA",
        "ver": "2.0"
    })
}

#[test]
fn entra_v2_both_ways() {
    let k = keys();
    let p = profiles::entra::v2(TID, &[APP, "api://acme-mcp"]);
    let t = tenant("acme", "https://acme.example.com/mcp")
        .issuer(p.issuer.clone(), p.trust(set(&k.rs1)));
    let ctx = t
        .validate(&sign(&k.rs1, "JWT", &entra_v2_claims(TID)), NOW)
        .unwrap();
    assert_eq!(
        ctx.auth.client_id(),
        Some("6cb04018-a3f5-46a7-b995-940c78f5aef3")
    );
    let scopes: Vec<&str> = ctx.auth.scopes().collect();
    assert!(
        scopes.contains(&"mcp.read") && scopes.contains(&"Tools.Admin"),
        "{scopes:?}"
    );
    assert_eq!(ctx.principal.tenant.as_str(), "acme");
    // The operation's scopes are checked too.
    assert!(
        t.validate_for(
            &sign(&k.rs1, "JWT", &entra_v2_claims(TID)),
            NOW,
            &["mcp.read"]
        )
        .is_ok()
    );
    assert!(matches!(
        t.validate_for(
            &sign(&k.rs1, "JWT", &entra_v2_claims(TID)),
            NOW,
            &["mcp.write"]
        ),
        Err(TenantError::Token(JwtError::InsufficientScope { .. }))
    ));

    // Wrong audience (another app of the same directory).
    let c = with(
        entra_v2_claims(TID),
        "aud",
        json!("00000003-0000-0000-c000-000000000000"),
    );
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
        TenantError::Token(JwtError::AudienceMismatch)
    );
    // Another directory's issuer.
    let c = entra_v2_claims(TID_B);
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
        TenantError::IssuerNotTrusted
    );
    // Expired.
    let c = with(entra_v2_claims(TID), "exp", json!(N - 3600));
    assert!(matches!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW),
        Err(TenantError::Token(JwtError::Expired { .. }))
    ));
}

#[test]
fn entra_v1_both_ways() {
    let k = keys();
    let claims = json!({
        "aud": "api://acme-mcp",
        "iss": format!("https://sts.windows.net/{TID}/"),
        "iat": N - 60, "nbf": N - 60, "exp": N + 3600,
        "appid": "75dbe77f-10a3-4e59-85fd-8c127544f17c",
        "appidacr": "0",
        "scp": "user_impersonation",
        "sub": "l3_roISQU222bULS9yi2k0XpqpOiMz5H3ZACo1GeXA",
        "tid": TID,
        "unique_name": "abeli@microsoft.com",
        "ver": "1.0"
    });
    let p = profiles::entra::v1(TID, &[APP, "api://acme-mcp"]);
    let t = tenant("acme", "https://acme.example.com/mcp")
        .issuer(p.issuer.clone(), p.trust(set(&k.rs1)));
    let ctx = t.validate(&sign(&k.rs1, "JWT", &claims), NOW).unwrap();
    assert_eq!(
        ctx.auth.client_id(),
        Some("75dbe77f-10a3-4e59-85fd-8c127544f17c")
    );
    // The v2 issuer of the same directory is another issuer.
    let c = with(claims, "iss", json!(profiles::entra::v2_issuer(TID)));
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
        TenantError::IssuerNotTrusted
    );
}

/// Entra multi-tenant: only allowed directories, each bound to its verified `tid`.
#[test]
fn entra_multi_tenant_template() {
    let k = keys();
    let template = profiles::entra::multi_tenant_v2([TID], &[APP], set(&k.rs1)).unwrap();
    let t = tenant("saas", "https://saas.example.com/mcp").entra_template(template);
    assert!(
        t.validate(&sign(&k.rs1, "JWT", &entra_v2_claims(TID)), NOW)
            .is_ok()
    );
    // A directory not on the allow-list.
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &entra_v2_claims(TID_B)), NOW)
            .unwrap_err(),
        TenantError::TenantIdNotAllowed
    );
    // The right issuer, a `tid` of another directory.
    let c = with(entra_v2_claims(TID), "tid", json!(TID_B));
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
        TenantError::TenantIdMismatch
    );
    // The right `tid` in the wrong template: another host, the v1 shape, a longer path.
    for iss in [
        format!("https://login.microsoftonline.evil.example/{TID}/v2.0"),
        format!("https://sts.windows.net/{TID}/"),
        format!("https://login.microsoftonline.com/{TID}/extra/v2.0"),
        format!("https://login.microsoftonline.com/{TID}/v2.0/"),
    ] {
        let c = with(entra_v2_claims(TID), "iss", json!(iss));
        assert!(
            matches!(
                t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
                TenantError::IssuerNotTrusted | TenantError::TenantIdNotAllowed
            ),
            "{iss}"
        );
    }
    // Right shape, right tid, wrong key.
    assert!(matches!(
        t.validate(&sign(&k.atk, "JWT", &entra_v2_claims(TID)), NOW),
        Err(TenantError::Token(
            JwtError::KeyNotFound | JwtError::BadSignature
        ))
    ));
}

/// A Cognito access token as AWS documents it ("Understanding the access token").
fn cognito_claims() -> Value {
    json!({
        "sub": "aaaaaaaa-bbbb-cccc-dddd-example",
        "cognito:groups": ["admin"],
        "iss": "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_EXAMPLE",
        "version": 2,
        "client_id": "1example23456789",
        "origin_jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin https://mcp.example.com/mcp/read",
        "auth_time": N - 100,
        "exp": N + 3600,
        "iat": N - 100,
        "jti": "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee",
        "username": "my-test-user"
    })
}

#[test]
fn cognito_binds_by_client_id_and_token_use() {
    let k = keys();
    let p = profiles::cognito::server("us-east-1", "us-east-1_EXAMPLE", &["1example23456789"]);
    let t = tenant("acme", "https://mcp.example.com/mcp")
        .issuer(p.issuer.clone(), p.trust(set(&k.rs1)));
    let ctx = t
        .validate(&sign(&k.rs1, "JWT", &cognito_claims()), NOW)
        .unwrap();
    assert_eq!(ctx.auth.client_id(), Some("1example23456789"));

    // Another app client of the same pool.
    let c = with(cognito_claims(), "client_id", json!("9other"));
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
        TenantError::Token(JwtError::AudienceMismatch)
    );
    // An ID token: token_use "id", aud = the client id.
    let id = with(
        with(
            without(cognito_claims(), "client_id"),
            "token_use",
            json!("id"),
        ),
        "aud",
        json!("1example23456789"),
    );
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &id), NOW).unwrap_err(),
        TenantError::Token(JwtError::AudienceMismatch)
    );
    let no_use = without(cognito_claims(), "token_use");
    assert!(t.validate(&sign(&k.rs1, "JWT", &no_use), NOW).is_err());
    // Without the profile, the same token (no aud) is refused: never a silent skip.
    let plain = mcp_oauth_jwt_validate::Policy::from_lists(
        [p.issuer.as_str()],
        ["https://mcp.example.com/mcp"],
    )
    .dangerous_skip_typ_check();
    let t2 = tenant("plain", "https://mcp.example.com/mcp")
        .issuer(p.issuer.clone(), IssuerTrust::new(plain, set(&k.rs1)));
    assert_eq!(
        t2.validate(&sign(&k.rs1, "JWT", &cognito_claims()), NOW)
            .unwrap_err(),
        TenantError::Token(JwtError::AudienceMismatch)
    );
}

#[test]
fn auth0_both_ways() {
    let k = keys();
    let claims = json!({
        "iss": "https://dev-abc123.us.auth0.com/",
        "sub": "auth0|5f7c8ec7c33c6c004bbafe82",
        "aud": ["https://mcp.example.com/mcp", "https://dev-abc123.us.auth0.com/userinfo"],
        "iat": N - 10, "exp": N + 86400,
        "azp": "8rJ1ZqEcVkBEpYyS0yCvmH1FJ2OmXQ0Q",
        "scope": "openid profile read:tools",
        "permissions": ["read:tools", "write:tools"]
    });
    let p = profiles::auth0::server("dev-abc123.us.auth0.com", "https://mcp.example.com/mcp");
    let t = tenant("acme", "https://mcp.example.com/mcp")
        .issuer(p.issuer.clone(), p.trust(set(&k.rs1)));
    let ctx = t.validate(&sign(&k.rs1, "at+jwt", &claims), NOW).unwrap();
    assert!(ctx.auth.has_scopes(&["write:tools", "read:tools"]));
    assert_eq!(
        ctx.auth.client_id(),
        Some("8rJ1ZqEcVkBEpYyS0yCvmH1FJ2OmXQ0Q")
    );
    let c = with(
        claims.clone(),
        "aud",
        json!("https://other-api.example.com"),
    );
    assert!(t.validate(&sign(&k.rs1, "at+jwt", &c), NOW).is_err());
    // Without the trailing slash it is another issuer.
    let c = with(
        claims.clone(),
        "iss",
        json!("https://dev-abc123.us.auth0.com"),
    );
    assert_eq!(
        t.validate(&sign(&k.rs1, "at+jwt", &c), NOW).unwrap_err(),
        TenantError::IssuerNotTrusted
    );
    // `permissions` of the wrong type makes the token invalid, not scope-less.
    let c = with(claims, "permissions", json!({"read": true}));
    assert!(matches!(
        t.validate(&sign(&k.rs1, "at+jwt", &c), NOW),
        Err(TenantError::Token(JwtError::InvalidClaim { .. }))
    ));
}

#[test]
fn okta_both_ways() {
    let k = keys();
    let claims = json!({
        "ver": 1,
        "jti": "AT.0mP4JKAZX1iACIT4vbEDF7LpvDVjxypPMf0D7uX39RE",
        "iss": "https://dev-123456.okta.com/oauth2/default",
        "aud": "api://default",
        "iat": N - 5, "exp": N + 3600,
        "cid": "0oaoesxtxmPf08QHk0h7",
        "uid": "00uoesxtxmPf08QHk0h7",
        "scp": ["openid", "mcp.read"],
        "auth_time": N - 5,
        "sub": "user@example.com"
    });
    let p = profiles::okta::server("dev-123456.okta.com", "default", "api://default");
    let t = tenant("acme", "https://mcp.example.com/mcp")
        .issuer(p.issuer.clone(), p.trust(set(&k.rs1)));
    let ctx = t
        .validate(
            &sign(&k.rs1, "application/okta-internal-at+jwt", &claims),
            NOW,
        )
        .unwrap();
    assert_eq!(ctx.auth.client_id(), Some("0oaoesxtxmPf08QHk0h7"));
    assert!(ctx.auth.has_scopes(&["mcp.read"]));
    // The org authorization server (no /oauth2/{id}) is another issuer.
    let c = with(claims.clone(), "iss", json!("https://dev-123456.okta.com"));
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
        TenantError::IssuerNotTrusted
    );
    let c = with(claims, "aud", json!("api://other"));
    assert!(t.validate(&sign(&k.rs1, "JWT", &c), NOW).is_err());
}

#[test]
fn keycloak_both_ways() {
    let k = keys();
    let claims = json!({
        "exp": N + 300, "iat": N - 1,
        "jti": "b3b7c7e2-4a1f-4d52-9d3a-1a2b3c4d5e6f",
        "iss": "https://kc.example.com/realms/acme",
        "aud": ["mcp-server", "account"],
        "sub": "f1a7bc4c-5d3b-4f4e-9a8f-3c2d1e0f9a8b",
        "typ": "Bearer",
        "azp": "mcp-cli",
        "session_state": "c1d2e3f4-0000-4000-8000-000000000000",
        "acr": "1",
        "realm_access": {"roles": ["offline_access", "mcp-user", "default-roles-acme"]},
        "resource_access": {"account": {"roles": ["manage-account"]}},
        "scope": "openid profile email",
        "sid": "c1d2e3f4-0000-4000-8000-000000000000",
        "email_verified": true,
        "preferred_username": "alice"
    });
    let p = profiles::keycloak::server("https://kc.example.com", "acme", "mcp-server");
    let t = tenant("acme", "https://mcp.example.com/mcp")
        .issuer(p.issuer.clone(), p.trust(set(&k.rs1)));
    let ctx = t.validate(&sign(&k.rs1, "JWT", &claims), NOW).unwrap();
    assert_eq!(ctx.auth.client_id(), Some("mcp-cli"));
    assert!(ctx.auth.has_scopes(&["mcp-user", "profile"]));
    // Keycloak's default audience alone (no mapper) is not this server.
    let c = with(claims.clone(), "aud", json!("account"));
    assert!(t.validate(&sign(&k.rs1, "JWT", &c), NOW).is_err());
    // Another realm of the same Keycloak.
    let c = with(claims, "iss", json!("https://kc.example.com/realms/other"));
    assert_eq!(
        t.validate(&sign(&k.rs1, "JWT", &c), NOW).unwrap_err(),
        TenantError::IssuerNotTrusted
    );
}

/// Cross-tenant attacks: tokens moved between tenants (same IdP, same keys), issuers of
/// another tenant, and a tenant's key signing another tenant's claims.
#[test]
fn tokens_never_cross_tenants() {
    let k = keys();
    // A and B on the same Auth0 tenant (same issuer, same keys), different APIs.
    let pa = profiles::auth0::server("shared.auth0.com", "https://a.mcp.example.com/mcp");
    let pb = profiles::auth0::server("shared.auth0.com", "https://b.mcp.example.com/mcp");
    let mut reg = Registry::new(Resolver::Host);
    reg.add(
        "a.mcp.example.com",
        tenant("a", "https://a.mcp.example.com/mcp")
            .issuer(pa.issuer.clone(), pa.trust(set(&k.rs1))),
    )
    .unwrap();
    reg.add(
        "b.mcp.example.com",
        tenant("b", "https://b.mcp.example.com/mcp")
            .issuer(pb.issuer.clone(), pb.trust(set(&k.rs1))),
    )
    .unwrap();
    let for_a = sign(
        &k.rs1,
        "at+jwt",
        &json!({
            "iss": "https://shared.auth0.com/", "sub": "u1", "aud": "https://a.mcp.example.com/mcp",
            "iat": N, "exp": N + 60, "azp": "c"
        }),
    );
    let at = |host: &str| {
        let (parts, ()) = Request::builder()
            .uri("/mcp")
            .header("host", host)
            .body(())
            .unwrap()
            .into_parts();
        reg.resolve(&parts).unwrap().clone()
    };
    assert!(at("a.mcp.example.com").validate(&for_a, NOW).is_ok());
    assert_eq!(
        at("b.mcp.example.com").validate(&for_a, NOW).unwrap_err(),
        TenantError::Token(JwtError::AudienceMismatch)
    );

    // C and D: two Entra directories. C's token at D: an issuer D does not trust.
    let pc = profiles::entra::v2(TID, &[APP]);
    let pd = profiles::entra::v2(TID_B, &[APP]);
    let c_t =
        tenant("c", "https://c.example.com/mcp").issuer(pc.issuer.clone(), pc.trust(set(&k.rs1)));
    let d_t =
        tenant("d", "https://d.example.com/mcp").issuer(pd.issuer.clone(), pd.trust(set(&k.rs2)));
    let c_token = sign(&k.rs1, "JWT", &entra_v2_claims(TID));
    assert!(c_t.validate(&c_token, NOW).is_ok());
    assert_eq!(
        d_t.validate(&c_token, NOW).unwrap_err(),
        TenantError::IssuerNotTrusted
    );
    // C's key signing D's claims: D verifies with D's keys only.
    let forged = sign(&k.rs1, "JWT", &entra_v2_claims(TID_B));
    assert!(matches!(
        d_t.validate(&forged, NOW),
        Err(TenantError::Token(
            JwtError::KeyNotFound | JwtError::BadSignature
        ))
    ));
    // Same `sub` at two issuers: two principals.
    let a = c_t.validate(&c_token, NOW).unwrap().principal;
    let d_ok = d_t
        .validate(&sign(&k.rs2, "JWT", &entra_v2_claims(TID_B)), NOW)
        .unwrap()
        .principal;
    assert_eq!(a.subject, d_ok.subject);
    assert_ne!(a.key(), d_ok.key());
}

#[test]
fn resolution_and_reload() {
    let mut reg = Registry::new(Resolver::Host);
    reg.add(
        "Acme.MCP.example.com",
        tenant("acme", "https://acme.mcp.example.com/mcp"),
    )
    .unwrap();
    assert_eq!(
        reg.add(
            "acme.mcp.example.com",
            tenant("other", "https://x.example.com/mcp")
        ),
        Err(RegistryError::DuplicateRoute("acme.mcp.example.com".into()))
    );
    let parts = |host: &str, path: &str| {
        Request::builder()
            .uri(path)
            .header("host", host)
            .body(())
            .unwrap()
            .into_parts()
            .0
    };
    assert_eq!(
        reg.resolve(&parts("ACME.mcp.example.com:8443", "/mcp"))
            .unwrap()
            .id()
            .as_str(),
        "acme"
    );
    assert!(reg.resolve(&parts("evil.example.com", "/mcp")).is_none());

    let mut by_path = Registry::new(Resolver::PathPrefix);
    by_path
        .add(
            "/globex/",
            tenant("globex", "https://mcp.example.com/globex/mcp"),
        )
        .unwrap();
    assert_eq!(
        by_path
            .resolve(&parts("x", "/globex/mcp"))
            .unwrap()
            .id()
            .as_str(),
        "globex"
    );
    assert!(by_path.resolve(&parts("x", "/other/mcp")).is_none());

    let custom = Registry::new(Resolver::Custom(Arc::new(|p: &http::request::Parts| {
        p.headers
            .get("x-tenant")
            .and_then(|v| v.to_str().ok())
            .map(TenantId::new)
    })));
    let mut custom = custom;
    custom
        .add("", tenant("t1", "https://mcp.example.com/mcp"))
        .unwrap();
    let mut p = parts("x", "/mcp");
    p.headers.insert("x-tenant", "t1".parse().unwrap());
    assert!(custom.resolve(&p).is_some());

    // A reload: the old snapshot stays whole for the request holding it.
    let dir = Directory::new(reg);
    let in_flight = dir.snapshot();
    let mut next = Registry::new(Resolver::Host);
    next.add(
        "globex.mcp.example.com",
        tenant("globex", "https://globex.mcp.example.com/mcp"),
    )
    .unwrap();
    dir.replace(next);
    assert!(
        in_flight
            .resolve(&parts("acme.mcp.example.com", "/mcp"))
            .is_some()
    );
    assert!(
        dir.snapshot()
            .resolve(&parts("acme.mcp.example.com", "/mcp"))
            .is_none()
    );
    assert!(
        dir.snapshot()
            .resolve(&parts("globex.mcp.example.com", "/mcp"))
            .is_some()
    );
}

/// Client side: the Entra profile drops `resource`, asks for `.default`, accepts the
/// metadata without `code_challenge_methods_supported`, and uses the configured client.
#[test]
fn entra_client_profile_shapes_the_flow() {
    use mcp_oauth_client_flow::{Action, AuthFlow, ClientConfig};
    struct Rng(u8);
    impl rand_core::TryRng for Rng {
        type Error = core::convert::Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
            Ok(7)
        }
        fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
            Ok(7)
        }
        fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
            for b in d {
                self.0 = self.0.wrapping_add(1);
                *b = self.0;
            }
            Ok(())
        }
    }
    impl rand_core::TryCryptoRng for Rng {}

    let issuer = profiles::entra::v2_issuer(TID);
    let config = profiles::entra::client(TID, "api://acme-mcp", "client-guid", None)
        .apply(ClientConfig::native("c", "http://127.0.0.1/cb"));
    let server = ResourceUri::parse("https://acme.example.com/mcp").unwrap();
    let mut flow = AuthFlow::new(config, server, None).unwrap();
    let mut rng = Rng(0);
    let prm =
        json!({"resource": "https://acme.example.com/mcp", "authorization_servers": [issuer]});
    // Entra's v2.0 OpenID document (abridged): no code_challenge_methods_supported.
    let meta = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("https://login.microsoftonline.com/{TID}/oauth2/v2.0/authorize"),
        "token_endpoint": format!("https://login.microsoftonline.com/{TID}/oauth2/v2.0/token"),
        "jwks_uri": format!("https://login.microsoftonline.com/{TID}/discovery/v2.0/keys"),
        "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"]
    });
    let mut answers = vec![(200, prm), (404, json!({})), (404, json!({})), (200, meta)].into_iter();
    let url = loop {
        match flow.poll_action(NOW, &mut rng) {
            Action::Send(_) => {
                let (s, b) = answers.next().unwrap();
                let _ = flow.handle_response(
                    NOW,
                    http::StatusCode::from_u16(s).unwrap(),
                    b.to_string().as_bytes(),
                );
            }
            Action::Redirect(u) => break u,
            other => panic!("{other:?}"),
        }
    };
    assert!(url.contains("client_id=client-guid"));
    assert!(url.contains("scope=api%3A%2F%2Facme-mcp%2F.default"));
    assert!(!url.contains("resource="));
}

/// Google: OpenID discovery only, no registration endpoint: the configured client.
#[test]
fn google_client_profile() {
    let meta = json!({
        "issuer": "https://accounts.google.com",
        "authorization_endpoint": "https://accounts.google.com/o/oauth2/v2/auth",
        "token_endpoint": "https://oauth2.googleapis.com/token",
        "jwks_uri": "https://www.googleapis.com/oauth2/v3/certs",
        "response_types_supported": ["code", "token", "id_token", "code token", "code id_token", "token id_token", "code token id_token", "none"],
        "code_challenge_methods_supported": ["plain", "S256"],
        "grant_types_supported": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code", "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    });
    let m = mcp_oauth_as_metadata::Validation::new()
        .validate(meta.to_string().as_bytes(), profiles::google::ISSUER)
        .unwrap();
    assert!(m.registration_endpoint.is_none());
    assert_eq!(
        mcp_oauth_dcr::choose_registration(false, false, None, m.registration_endpoint.as_deref()),
        mcp_oauth_dcr::RegistrationRoute::AskUser
    );
    let config = profiles::google::client("123.apps.googleusercontent.com", Some("s")).apply(
        mcp_oauth_client_flow::ClientConfig::native("c", "http://127.0.0.1/cb"),
    );
    assert_eq!(config.preregistered[0].0, profiles::google::ISSUER);
    // A wrong issuer in the document is refused.
    let bad = with(meta, "issuer", json!("https://accounts.google.com/"));
    assert!(
        mcp_oauth_as_metadata::Validation::new()
            .validate(bad.to_string().as_bytes(), profiles::google::ISSUER)
            .is_err()
    );
}

#[test]
fn okta_client_sends_the_initial_access_token() {
    let p = profiles::okta::client("dev-1.okta.com", "default", Some("00abc"));
    assert_eq!(p.options.initial_access_token.unwrap().expose(), "00abc");
    let a = profiles::auth0::client("x.auth0.com", "https://mcp.example.com/mcp");
    assert_eq!(
        a.options.extra_params,
        vec![(
            "audience".to_owned(),
            "https://mcp.example.com/mcp".to_owned()
        )]
    );
}

proptest! {
    /// Peeking never panics, and an unverified issuer decides nothing by itself: a
    /// tenant with no issuers refuses every token.
    #[test]
    fn peek_and_refuse(s in ".{0,400}") {
        let _ = peek_issuer(&s);
        let t = tenant("empty", "https://mcp.example.com/mcp");
        prop_assert!(t.validate(&s, NOW).is_err());
    }
}

#[test]
fn caller_supplied_keys_policies_and_listing() {
    let k = keys();
    let pc = profiles::entra::v2(TID, &[APP]);
    // The trust holds rs2's keys; the caller's refreshed set (rs1) is what verifies.
    let c_t =
        tenant("c", "https://c.example.com/mcp").issuer(pc.issuer.clone(), pc.trust(set(&k.rs2)));
    let c_token = sign(&k.rs1, "JWT", &entra_v2_claims(TID));
    assert!(c_t.validate(&c_token, NOW).is_err());
    let ctx = c_t.validate_with_keys(&c_token, NOW, &set(&k.rs1)).unwrap();
    assert_eq!(ctx.principal.tenant, TenantId::new("c"));
    // Supplied keys never widen the issuers a tenant trusts.
    let d_token = sign(&k.rs1, "JWT", &entra_v2_claims(TID_B));
    assert_eq!(
        c_t.validate_with_keys(&d_token, NOW, &set(&k.rs1))
            .unwrap_err(),
        TenantError::IssuerNotTrusted
    );
    assert!(c_t.trusts_issuer(&pc.issuer));
    assert!(!c_t.trusts_issuer(&profiles::entra::v2_issuer(TID_B)));
    assert!(c_t.issuer_policy(&pc.issuer).is_some());
    assert!(c_t.issuer_policy("https://other.example.com").is_none());
    let template = EntraTemplate::new(
        "https://login.microsoftonline.com/{tenantid}/v2.0",
        [TID],
        |iss| {
            mcp_oauth_jwt_validate::Policy::new(
                iss,
                &ResourceUri::parse("https://e.example.com/mcp").unwrap(),
            )
        },
        set(&k.rs1),
    )
    .unwrap();
    let e_t = tenant("e", "https://e.example.com/mcp").entra_template(template);
    assert!(e_t.trusts_issuer(&profiles::entra::v2_issuer(TID)));
    assert!(!e_t.trusts_issuer(&profiles::entra::v2_issuer(TID_B)));

    let mut reg = Registry::new(Resolver::Host);
    reg.add("c.example.com", c_t).unwrap();
    reg.add("e.example.com", e_t).unwrap();
    let mut ids: Vec<_> = reg.tenants().map(|t| t.id().to_string()).collect();
    ids.sort();
    assert_eq!(ids, ["c", "e"]);
}
