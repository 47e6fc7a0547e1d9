//! Pure decisions: credentials, scopes from the body, refusals on the wire, tenants.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;
use mcp_oauth_guard::{AuditEvent, RejectReason};
use mcp_oauth_jwt_validate::crypto::Ring;
use mcp_oauth_jwt_validate::{JwtError, KeySet, KeySetLimits, Policy, UnixTime, Validator};
use mcp_oauth_prm_metadata::{PrmBuilder, PrmEndpoint};
use mcp_oauth_resource_indicators::ResourceUri;
use mcp_oauth_tenant::{IssuerTrust, Registry, Resolver, TenantError, TenantId, TenantTrust};
use mcp_oauth_tests::jwt::{ISSUER, N, RESOURCE, TestKeys, claims, header};

use crate::{
    ChallengeTarget, ConfigError, Decision, KeySource, Now, OperationScopes, Refusal,
    ResourceServer, StaticKeys, Tenants,
};

const NOW: Now = Now {
    wall: UnixTime(N),
    monotonic: Duration::ZERO,
};

fn keys() -> Arc<dyn KeySource> {
    let k = TestKeys::load().unwrap();
    Arc::new(StaticKeys(Arc::new(
        KeySet::from_value(&k.jwks(), &Ring, &KeySetLimits::default()).unwrap(),
    )))
}

fn single() -> ResourceServer {
    let me = ResourceUri::parse(RESOURCE).unwrap();
    let prm = PrmBuilder::new(me.clone())
        .authorization_server(ISSUER)
        .build()
        .unwrap();
    ResourceServer::new(
        Validator::new(Policy::new(ISSUER, &me)),
        keys(),
        PrmEndpoint::new(prm, &me),
    )
    .operation_scopes(OperationScopes::new().tool("echo", ["mcp:write"]))
    .max_body(64)
}

fn parts(uri: &str, auth: Option<&str>, extra: &[(&str, &str)]) -> http::request::Parts {
    let mut b = http::Request::post(uri);
    if let Some(a) = auth {
        b = b.header("authorization", a);
    }
    for (k, v) in extra {
        b = b.header(*k, *v);
    }
    b.body(()).unwrap().into_parts().0
}

fn decide(rs: &ResourceServer, p: &http::request::Parts) -> (Decision, Vec<AuditEvent>) {
    let mut events = Vec::new();
    let d = rs.decide(p, None, NOW, &mut |e| events.push(e));
    (d, events)
}

fn status(d: &Decision) -> Option<StatusCode> {
    match d {
        Decision::Respond(r) => Some(r.status()),
        _ => None,
    }
}

fn token() -> String {
    let k = TestKeys::load().unwrap();
    k.rs1.sign(&header("RS256", "rs1"), &claims())
}

/// Credentials come from one `Authorization: Bearer` header only; each refusal has its
/// status and audit reason, decided in one place.
#[test]
fn credentials_and_their_refusals() {
    let rs = single();
    let t = token();
    let bearer = format!("Bearer {t}");
    let cases: [(String, Option<&str>, StatusCode, RejectReason); 5] = [
        (
            RESOURCE.to_owned(),
            None,
            StatusCode::UNAUTHORIZED,
            RejectReason::NoToken,
        ),
        (
            RESOURCE.to_owned(),
            Some("Basic dXNlcjpwdw=="),
            StatusCode::UNAUTHORIZED,
            RejectReason::NoToken,
        ),
        (
            format!("{RESOURCE}?access_token={t}"),
            None,
            StatusCode::BAD_REQUEST,
            RejectReason::InvalidRequest,
        ),
        (
            RESOURCE.to_owned(),
            Some("Bearer "),
            StatusCode::BAD_REQUEST,
            RejectReason::InvalidRequest,
        ),
        (
            RESOURCE.to_owned(),
            Some("Bearer not a token!"),
            StatusCode::BAD_REQUEST,
            RejectReason::InvalidRequest,
        ),
    ];
    for (uri, auth, want, reason) in cases {
        let (d, events) = decide(&rs, &parts(&uri, auth, &[]));
        assert_eq!(status(&d), Some(want), "{uri} {auth:?}");
        assert!(
            matches!(&events[..], [AuditEvent::Rejected { reason: r, .. }] if *r == reason),
            "{events:?}"
        );
    }
    // A good token on a POST with operation scopes: the body decides.
    let (d, _) = decide(&rs, &parts(RESOURCE, Some(&bearer), &[]));
    let Decision::NeedBody(need) = d else {
        panic!("{d:?}")
    };
    assert_eq!(need.max, 64);
    let p = parts(RESOURCE, Some(&bearer), &[]);
    let mut events = Vec::new();
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}"#;
    let d = rs.handle_body(&p, need, Some(body), NOW, &mut |e| events.push(e));
    let Decision::Respond(r) = d else {
        panic!("{d:?}")
    };
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .contains(r#"scope="mcp:write""#)
    );
    // Over the cap (the adapter reports `None`): 413.
    let (Decision::NeedBody(need), _) = decide(&rs, &p) else {
        panic!()
    };
    let d = rs.handle_body(&p, need, None, NOW, &mut |_| {});
    assert_eq!(status(&d), Some(StatusCode::PAYLOAD_TOO_LARGE));
    // A declared Content-Length over the cap is refused before any read.
    let (d, _) = decide(
        &rs,
        &parts(RESOURCE, Some(&bearer), &[("content-length", "65")]),
    );
    assert_eq!(status(&d), Some(StatusCode::PAYLOAD_TOO_LARGE));
    // A GET needs no body: allowed at once.
    let mut g = parts(RESOURCE, Some(&bearer), &[]);
    g.method = http::Method::GET;
    let (d, events) = decide(&rs, &g);
    assert!(matches!(d, Decision::Allow(_)), "{d:?}");
    assert!(matches!(&events[..], [AuditEvent::Accepted { .. }]));
}

/// The one mapping from refusals to the wire.
#[test]
fn refusals_on_the_wire() {
    let target = Some(ChallengeTarget {
        metadata_url: "https://mcp.example.com/.well-known/oauth-protected-resource/mcp",
        scope: Some("mcp:read"),
    });
    let www = |r: &Refusal| {
        r.response(target)
            .headers()
            .get("www-authenticate")
            .map(|v| v.to_str().unwrap().to_owned())
    };
    let expired = Refusal::Token(TenantError::Token(JwtError::KeyNotFound));
    assert_eq!(expired.response(target).status(), StatusCode::UNAUTHORIZED);
    assert!(www(&expired).unwrap().contains(r#"error="invalid_token""#));
    assert!(expired.counts_as_invalid_token());
    let other = Refusal::Token(TenantError::IssuerNotTrusted);
    assert_eq!(other.response(target).status(), StatusCode::UNAUTHORIZED);
    assert!(
        www(&Refusal::NoToken)
            .unwrap()
            .contains(r#"scope="mcp:read""#)
    );
    assert!(!Refusal::NoToken.counts_as_invalid_token());
    assert_eq!(
        Refusal::UnknownTenant.response(None).status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(www(&Refusal::UnknownTenant), None);
    let s = Refusal::SessionNotFound {
        other_principal: true,
    };
    assert_eq!(s.response(target).status(), StatusCode::NOT_FOUND);
    assert!(matches!(
        s.audit_event(None),
        AuditEvent::Rejected {
            reason: RejectReason::InvalidRequest,
            ..
        }
    ));
}

/// Tenants: resolved by `Host`; a tenant without metadata is a configuration error.
#[test]
fn tenants_resolve_by_host() {
    let me = ResourceUri::parse(RESOURCE).unwrap();
    let trust = || {
        TenantTrust::new(TenantId::new("t"), me.clone()).issuer(
            ISSUER,
            IssuerTrust::new(Policy::new(ISSUER, &me), Arc::default()),
        )
    };
    let mut reg = Registry::new(Resolver::Host);
    reg.add("mcp.example.com", trust()).unwrap();
    assert_eq!(
        Tenants::new(reg, []).unwrap_err(),
        ConfigError::TenantWithoutMetadata(TenantId::new("t"))
    );
    let prm = PrmBuilder::new(me.clone())
        .authorization_server(ISSUER)
        .build()
        .unwrap();
    let mut reg = Registry::new(Resolver::Host);
    reg.add("mcp.example.com", trust().prm(prm)).unwrap();
    let rs =
        ResourceServer::multi_tenant(Tenants::new(reg, [(ISSUER.to_owned(), keys())]).unwrap());
    assert!(rs.is_multi_tenant());
    let bearer = format!("Bearer {}", token());
    let here = parts(RESOURCE, Some(&bearer), &[("host", "mcp.example.com")]);
    let (d, _) = decide(&rs, &here);
    let Decision::Allow(allowed) = d else {
        panic!("{d:?}")
    };
    assert_eq!(allowed.tenant, Some(TenantId::new("t")));
    let elsewhere = parts(RESOURCE, Some(&bearer), &[("host", "other.example.com")]);
    assert_eq!(
        status(&decide(&rs, &elsewhere).0),
        Some(StatusCode::NOT_FOUND)
    );
}

/// The per-operation scope lookup reads each message once: the method, and for
/// `tools/call` the tool name in any spelling; other shapes need no scope; a message that
/// is not JSON, or names its tool twice, is refused (MCP-SCOPE step-up, fail closed).
#[test]
fn operation_scopes_from_the_body() {
    let ops = OperationScopes::new()
        .tool("echo", ["mcp:write"])
        .method("resources/write", ["mcp:write", "mcp:files"]);
    let req = |body: &str| ops.required(body.as_bytes()).map(|v| v.join(" "));
    let call = |params: &str| {
        format!(r#"{{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{params}}}"#)
    };
    assert_eq!(
        req(&call(r#"{"name":"echo","arguments":{"name":"x"}}"#)).as_deref(),
        Some("mcp:write")
    );
    assert_eq!(
        req(&call(
            r#"{"arguments":{"a":[1,{"b":null}]},"name":"\u0065cho"}"#
        ))
        .as_deref(),
        Some("mcp:write")
    );
    assert_eq!(req(&call(r#"{"name":"whoami"}"#)).as_deref(), Some(""));
    for other in [
        r#"{"name":7}"#,
        r#"{"name":["echo"]}"#,
        r#"["echo"]"#,
        r#""echo""#,
        "null",
        "{}",
    ] {
        assert_eq!(req(&call(other)).as_deref(), Some(""), "{other}");
    }
    assert_eq!(req(&call(r#"{"name":"whoami","name":"echo"}"#)), None);
    // `uri` (what `Mcp-Name` mirrors for resources/read) is read in the same pass.
    assert_eq!(req(&call(r#"{"name":"whoami","uri":"a","uri":"b"}"#)), None);
    assert_eq!(
        req(r#" [{"method":"tools/list"},{"method":"resources/write"},{"method":"tools/call","params":{"name":"echo"}}]"#).as_deref(),
        Some("mcp:write mcp:files")
    );
    assert_eq!(
        req(r#"{"method":"resources\/write"}"#).as_deref(),
        Some("mcp:write mcp:files")
    );
    for bad in [
        "not json",
        "",
        "7",
        r#"{"method":"tools/call""#,
        r#"{"method":1}"#,
    ] {
        assert_eq!(req(bad), None, "{bad}");
    }
}
