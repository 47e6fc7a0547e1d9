//! The token policy's decisions, one test per decision, and its invariants as
//! properties: a token within the margin is never used, a `401` refreshes a token at most
//! once, step-up never goes past its limit (MCP-SCOPE-14).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Arc;

use http::StatusCode;
use mcp_oauth_resource_indicators::url::form_urlencoded;
use proptest::prelude::*;
use serde_json::json;

use crate::*;

use mcp_oauth_tests::rng::CountingRng as Rng;

const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);
const MCP: &str = "https://mcp.example.com/mcp";
const AS: &str = "https://as.example.com";
const OP: &str = "tools/call:echo";

fn tokens(access: &str, refresh: Option<&str>, expires_in: Option<u64>) -> TokenSet {
    let mut body = json!({"access_token": access, "token_type": "Bearer", "scope": "mcp:read"});
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    if let Some(e) = expires_in {
        body["expires_in"] = json!(e);
    }
    parse_token_response(StatusCode::OK, body.to_string().as_bytes(), NOW, None, None).unwrap()
}

fn cred(access: &str, refresh: Option<&str>, expires_in: Option<u64>) -> Credential {
    Credential {
        resource: MCP.into(),
        send_resource: true,
        issuer: AS.into(),
        token_endpoint: format!("{AS}/token"),
        client_id: "cid".into(),
        auth_method: "none".into(),
        requested_scope: Some("mcp:read offline_access".into()),
        tokens: tokens(access, refresh, expires_in),
    }
}

fn challenge(header: &str) -> BearerParams {
    bearer_challenge([header.as_bytes()]).unwrap()
}

fn form_get(body: &[u8], k: &str) -> Option<String> {
    form_urlencoded::parse(body)
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
}

fn discovered(issuer: &str) -> Discovered {
    let body = json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "code_challenge_methods_supported": ["S256"],
    });
    Discovered {
        resource: ResourceUri::parse(MCP).unwrap(),
        prm: None,
        metadata: mcp_oauth_as_metadata::Validation::new()
            .validate(body.to_string().as_bytes(), issuer)
            .unwrap(),
        legacy: false,
    }
}

fn token_body(access: &str, refresh: &str) -> Vec<u8> {
    json!({"access_token": access, "token_type": "Bearer", "expires_in": 3600,
           "refresh_token": refresh})
    .to_string()
    .into_bytes()
}

const INVALID_GRANT: &[u8] = br#"{"error":"invalid_grant"}"#;

#[test]
fn decide_token_for_each_case() {
    let p = TokenPolicy::new(60);
    assert_eq!(p.decide_token(NOW, None), TokenDecision::NoCredential);
    let fresh = cred("at", Some("rt"), Some(3600));
    assert_eq!(p.decide_token(NOW, Some(&fresh)), TokenDecision::Use);
    let no_expiry = cred("at", None, None);
    assert_eq!(p.decide_token(NOW, Some(&no_expiry)), TokenDecision::Use);
    // 60 s left with a 60 s margin: refreshed, not used.
    let due = cred("at", Some("rt"), Some(60));
    assert_eq!(p.decide_token(NOW, Some(&due)), TokenDecision::Refresh);
    assert_eq!(
        p.decide_token(NOW.add_secs(10_000), Some(&fresh)),
        TokenDecision::Refresh
    );
    let due_no_refresh = cred("at", None, Some(30));
    assert_eq!(
        p.decide_token(NOW, Some(&due_no_refresh)),
        TokenDecision::Reauthorize
    );
    assert_eq!(
        TokenPolicy::new(0).decide_token(NOW, Some(&due)),
        TokenDecision::Use
    );
    assert_eq!(
        TokenPolicy::for_config(&ClientConfig::native("c", "http://127.0.0.1/cb")).refresh_ahead(),
        60
    );
}

#[test]
fn a_401_refreshes_the_held_token_once_then_reauthorizes() {
    let mut p = TokenPolicy::default();
    let held = cred("at-0", Some("rt-0"), Some(3600));
    let ch = challenge(r#"Bearer error="invalid_token", resource_metadata="https://m/prm""#);
    let r = Rejection::new(MCP, OP, StatusCode::UNAUTHORIZED)
        .with_challenge(Some(&ch))
        .with_held(Some(&held))
        .with_rejected(Some("at-0"));
    let fresh = Reauthorize::fresh(Some(ch.clone()));
    assert_eq!(
        p.handle_challenge(&r),
        ChallengeDecision::Refresh {
            otherwise: fresh.clone()
        }
    );
    // The same token refused again: no second refresh.
    assert_eq!(
        p.handle_challenge(&r),
        ChallengeDecision::Authorize(fresh.clone())
    );
    // The refreshed token, refused too: re-authorize, not refresh in a loop.
    let held1 = cred("at-1", Some("rt-1"), Some(3600));
    p.handle_refreshed("at-1");
    let r1 = r.with_held(Some(&held1)).with_rejected(Some("at-1"));
    assert_eq!(
        p.handle_challenge(&r1),
        ChallengeDecision::Authorize(fresh.clone())
    );
    assert!(!fresh.is_step_up() && !fresh.reuses_discovery());
}

#[test]
fn a_401_without_a_refreshable_match_reauthorizes() {
    let mut p = TokenPolicy::default();
    let held = cred("at-0", Some("rt-0"), Some(3600));
    let no_rt = cred("at-0", None, Some(3600));
    let base = Rejection::new(MCP, OP, StatusCode::UNAUTHORIZED);
    for r in [
        base,                                                     // nothing held
        base.with_held(Some(&held)),                              // sent without a token
        base.with_held(Some(&held)).with_rejected(Some("other")), // not the held token
        base.with_held(Some(&no_rt)).with_rejected(Some("at-0")), // no refresh token
    ] {
        assert_eq!(
            p.handle_challenge(&r),
            ChallengeDecision::Authorize(Reauthorize::fresh(None))
        );
    }
}

#[test]
fn insufficient_scope_steps_up_with_the_union_at_most_twice() {
    let mut p = TokenPolicy::default();
    let mut held = cred("at", Some("rt"), Some(3600));
    held.tokens.scope = Some("mcp:read mcp:extra".into());
    let ch = challenge(r#"Bearer error="insufficient_scope", scope="mcp:write""#);
    let r = Rejection::new(MCP, OP, StatusCode::FORBIDDEN)
        .with_challenge(Some(&ch))
        .with_held(Some(&held))
        .with_rejected(Some("at"));
    let want = ChallengeDecision::Authorize(Reauthorize::step_up(
        Some(ch.clone()),
        "mcp:read offline_access mcp:extra".into(),
    ));
    assert_eq!(p.handle_challenge(&r), want);
    assert_eq!(p.handle_challenge(&r), want);
    assert_eq!(
        p.handle_challenge(&r),
        ChallengeDecision::GiveUp(GiveUp::StepUpLimit)
    );
    // Another operation has its own count; success starts this one's again.
    let other = Rejection::new(MCP, "tools/call:other", StatusCode::FORBIDDEN)
        .with_challenge(Some(&ch))
        .with_held(Some(&held));
    assert!(matches!(
        p.handle_challenge(&other),
        ChallengeDecision::Authorize(_)
    ));
    p.handle_success(MCP, OP);
    assert_eq!(p.handle_challenge(&r), want);
    // Nothing held: step-up from an empty scope, reusing discovery.
    let mut p = TokenPolicy::default().with_step_up_limit(1);
    let bare = Rejection::new(MCP, OP, StatusCode::FORBIDDEN).with_challenge(Some(&ch));
    let ChallengeDecision::Authorize(a) = p.handle_challenge(&bare) else {
        panic!("step-up expected");
    };
    assert_eq!(a.held_scope.as_deref(), Some(""));
    assert!(a.is_step_up() && a.reuses_discovery());
    assert_eq!(
        p.handle_challenge(&bare),
        ChallengeDecision::GiveUp(GiveUp::StepUpLimit)
    );
}

#[test]
fn a_403_without_insufficient_scope_is_forbidden() {
    let mut p = TokenPolicy::default();
    for header in [
        r#"Bearer error="invalid_token""#,
        r#"Bearer scope="mcp:write""#,
        // Codes are case-sensitive (RFC 6750 §3): not a step-up.
        r#"Bearer error="INSUFFICIENT_SCOPE""#,
    ] {
        let ch = challenge(header);
        let r = Rejection::new(MCP, OP, StatusCode::FORBIDDEN).with_challenge(Some(&ch));
        assert_eq!(
            p.handle_challenge(&r),
            ChallengeDecision::GiveUp(GiveUp::Forbidden),
            "{header}"
        );
    }
    let r = Rejection::new(MCP, OP, StatusCode::FORBIDDEN);
    assert_eq!(
        p.handle_challenge(&r),
        ChallengeDecision::GiveUp(GiveUp::Forbidden)
    );
}

#[test]
fn bearer_challenge_reads_every_header_value() {
    let values: [&[u8]; 3] = [
        b"Basic realm=\"x\"",
        b"\"not a challenge",
        b"Bearer error=\"insufficient_scope\", scope=\"a b\"",
    ];
    let c = bearer_challenge(values).unwrap();
    assert_eq!(c.scope.as_deref(), Some("a b"));
    assert_eq!(
        c.bearer_error(),
        Some(mcp_oauth_prm_metadata::BearerError::InsufficientScope)
    );
    assert!(bearer_challenge([b"Basic realm=\"x\"".as_slice()]).is_none());
}

#[test]
fn step_up_reuses_discovery_and_a_fresh_start_does_not() {
    let config = ClientConfig::native("c", "http://127.0.0.1/cb");
    let server = ResourceUri::parse(MCP).unwrap();
    let held = cred("at", Some("rt"), Some(3600));
    let step_up = Reauthorize::step_up(None, "mcp:read".into());
    let flow = step_up
        .build_flow(
            config.clone(),
            server.clone(),
            Vec::new(),
            Some(&held),
            Some(discovered(AS)),
        )
        .unwrap();
    assert!(flow.discovered().is_some());
    let flow = Reauthorize::fresh(None)
        .build_flow(
            config,
            server,
            Vec::new(),
            Some(&held),
            Some(discovered(AS)),
        )
        .unwrap();
    assert!(flow.discovered().is_none());
}

#[test]
fn issuer_change_discards_the_held_credential() {
    let held = cred("at", Some("rt"), Some(3600));
    assert_eq!(decide_issuer(None, AS), None);
    assert_eq!(decide_issuer(Some(&held), AS), None);
    let c = decide_issuer(Some(&held), "https://other.example").unwrap();
    assert_eq!(
        (c.from.as_str(), c.to.as_str()),
        (AS, "https://other.example")
    );
    assert!(c.to_string().contains("https://other.example"));
    // Byte for byte: a trailing slash is another issuer.
    assert!(decide_issuer(Some(&held), &format!("{AS}/")).is_some());
}

#[test]
fn completion_stores_the_credential_the_client_and_the_change() {
    let config = ClientConfig::native("c", "http://127.0.0.1/cb").issuer_options(
        "https://entra.example",
        IssuerOptions::default().without_resource(),
    );
    let a = Authorized {
        discovered: discovered("https://entra.example"),
        client: RegisteredClient::new("new-client"),
        new_registration: true,
        requested_scope: Some("mcp:read".into()),
        tokens: tokens("at", Some("rt"), Some(3600)),
    };
    let held = cred("old", Some("rt-old"), Some(3600));
    let c = decide_completion(&config, Some(&held), &a);
    assert!(c.save_client);
    assert!(!c.credential.send_resource, "omit_resource issuer");
    assert_eq!(c.credential.issuer, "https://entra.example");
    assert_eq!(c.credential.client_id, "new-client");
    assert_eq!(c.discarded.unwrap().from, AS);
    let c = decide_completion(
        &config,
        None,
        &Authorized {
            new_registration: false,
            ..a
        },
    );
    assert!(!c.save_client && c.discarded.is_none());
}

#[test]
fn refresh_saves_the_new_tokens() {
    let mut f = RefreshFlow::new("at-0");
    let held = cred("at-0", Some("rt-0"), Some(10));
    let RefreshStep::Send(req) = f.handle_stored(NOW, Some(held), None, None, &mut Rng(0)) else {
        panic!("a request expected");
    };
    assert_eq!(
        form_get(req.body(), "refresh_token").as_deref(),
        Some("rt-0")
    );
    assert_eq!(form_get(req.body(), "resource").as_deref(), Some(MCP));
    let RefreshStep::Save(c) = f.handle_response(NOW, StatusCode::OK, &token_body("at-1", "rt-1"))
    else {
        panic!("save expected");
    };
    assert_eq!(c.tokens.access_token.expose(), "at-1");
    assert_eq!(c.tokens.refresh_token.unwrap().expose(), "rt-1");
    assert_eq!(
        c.tokens.scope.as_deref(),
        Some("mcp:read"),
        "kept when not sent"
    );
    // Nothing more is expected.
    assert!(matches!(
        f.handle_response(NOW, StatusCode::OK, &token_body("x", "y")),
        RefreshStep::Failed(TokenError::InvalidResponse)
    ));
}

#[test]
fn refresh_finds_someone_else_already_did_it() {
    let mut f = RefreshFlow::new("at-0");
    let stored = cred("at-1", Some("rt-1"), Some(3600));
    let RefreshStep::AlreadyRefreshed(c) =
        f.handle_stored(NOW, Some(stored), None, None, &mut Rng(0))
    else {
        panic!("already refreshed expected");
    };
    assert_eq!(c.tokens.access_token.expose(), "at-1");
}

#[test]
fn refresh_without_a_usable_credential_reauthorizes() {
    let mut f = RefreshFlow::new("at-0");
    assert!(matches!(
        f.handle_stored(NOW, None, None, None, &mut Rng(0)),
        RefreshStep::Reauthorize
    ));
    let mut f = RefreshFlow::new("at-0");
    let no_rt = cred("at-0", None, Some(10));
    assert!(matches!(
        f.handle_stored(NOW, Some(no_rt), None, None, &mut Rng(0)),
        RefreshStep::Reauthorize
    ));
}

#[test]
fn invalid_grant_rereads_the_store_then_discards() {
    let held = cred("at-0", Some("rt-0"), Some(10));
    let mut f = RefreshFlow::new("at-0");
    f.handle_stored(NOW, Some(held.clone()), None, None, &mut Rng(0));
    assert!(matches!(
        f.handle_response(NOW, StatusCode::BAD_REQUEST, INVALID_GRANT),
        RefreshStep::ReadStore
    ));
    // Unchanged: nobody rotated it; it is dead.
    assert!(matches!(
        f.handle_stored(NOW, Some(held), None, None, &mut Rng(0)),
        RefreshStep::Discard
    ));
}

#[test]
fn invalid_grant_then_a_rotation_by_another_process() {
    let held = cred("at-0", Some("rt-0"), Some(10));
    // Rotated with new access token: use it.
    let mut f = RefreshFlow::new("at-0");
    f.handle_stored(NOW, Some(held.clone()), None, None, &mut Rng(0));
    f.handle_response(NOW, StatusCode::BAD_REQUEST, INVALID_GRANT);
    let rotated = cred("at-1", Some("rt-1"), Some(3600));
    assert!(matches!(
        f.handle_stored(NOW, Some(rotated), None, None, &mut Rng(0)),
        RefreshStep::AlreadyRefreshed(_)
    ));
    // Only the refresh token changed: try once more with it; a second refusal ends it
    // without dropping the credential the other writer owns.
    let mut f = RefreshFlow::new("at-0");
    f.handle_stored(NOW, Some(held), None, None, &mut Rng(0));
    f.handle_response(NOW, StatusCode::BAD_REQUEST, INVALID_GRANT);
    let rt_only = cred("at-0", Some("rt-9"), Some(10));
    let RefreshStep::Send(req) = f.handle_stored(NOW, Some(rt_only), None, None, &mut Rng(0))
    else {
        panic!("a second request expected");
    };
    assert_eq!(
        form_get(req.body(), "refresh_token").as_deref(),
        Some("rt-9")
    );
    assert!(matches!(
        f.handle_response(NOW, StatusCode::BAD_REQUEST, INVALID_GRANT),
        RefreshStep::Reauthorize
    ));
    // Gone meanwhile: run the flow.
    let mut f = RefreshFlow::new("at-0");
    f.handle_stored(
        NOW,
        Some(cred("at-0", Some("rt-0"), Some(10))),
        None,
        None,
        &mut Rng(0),
    );
    f.handle_response(NOW, StatusCode::BAD_REQUEST, INVALID_GRANT);
    assert!(matches!(
        f.handle_stored(NOW, None, None, None, &mut Rng(0)),
        RefreshStep::Reauthorize
    ));
}

#[test]
fn other_refresh_errors_fail() {
    for (status, body) in [
        (
            StatusCode::BAD_REQUEST,
            &br#"{"error":"invalid_client"}"#[..],
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, &b""[..]),
    ] {
        let mut f = RefreshFlow::new("at-0");
        f.handle_stored(
            NOW,
            Some(cred("at-0", Some("rt-0"), Some(10))),
            None,
            None,
            &mut Rng(0),
        );
        assert!(matches!(
            f.handle_response(NOW, status, body),
            RefreshStep::Failed(_)
        ));
    }
}

#[derive(Debug)]
struct FixedSigner;

impl AssertionSigner for FixedSigner {
    fn alg(&self) -> mcp_oauth_jwt_validate::Algorithm {
        mcp_oauth_jwt_validate::Algorithm::ES256
    }
    fn public_jwk(&self) -> serde_json::Value {
        serde_json::json!({})
    }
    fn sign(&self, _: &[u8]) -> Result<Vec<u8>, mcp_oauth_jwt_validate::SignError> {
        Ok(vec![1, 2, 3])
    }
}

#[test]
fn refresh_signs_only_for_private_key_jwt_credentials() {
    let signer: Arc<dyn AssertionSigner> = Arc::new(FixedSigner);
    let secret_client = RegisteredClient::new("cid").with_secret(ClientSecret::new("s3cret"));
    let mut held = cred("at-0", Some("rt-0"), Some(10));
    held.auth_method = "client_secret_post".into();
    let mut f = RefreshFlow::new("at-0");
    let RefreshStep::Send(req) = f.handle_stored(
        NOW,
        Some(held.clone()),
        Some(&secret_client),
        Some(&signer),
        &mut Rng(0),
    ) else {
        panic!("a request expected");
    };
    assert_eq!(
        form_get(req.body(), "client_secret").as_deref(),
        Some("s3cret")
    );
    assert!(form_get(req.body(), "client_assertion").is_none());
    held.auth_method = "private_key_jwt".into();
    let mut f = RefreshFlow::new("at-0");
    let RefreshStep::Send(req) = f.handle_stored(NOW, Some(held), None, Some(&signer), &mut Rng(0))
    else {
        panic!("a request expected");
    };
    assert_eq!(
        form_get(req.body(), "client_assertion_type").as_deref(),
        Some(JWT_BEARER_ASSERTION)
    );
}

#[test]
fn client_credentials_request_and_response() {
    let d = discovered(AS);
    let client = RegisteredClient::new("machine");
    let auth = ClientAuth::Basic(ClientSecret::new("pw"));
    let g = ClientCredentialsGrant::new(&d, &client, &auth, Some("mcp:read"));
    let req = g.build_request(NOW, &mut Rng(0)).unwrap();
    assert_eq!(req.uri(), &format!("{AS}/token")[..]);
    assert_eq!(
        form_get(req.body(), "grant_type").as_deref(),
        Some("client_credentials")
    );
    assert_eq!(form_get(req.body(), "scope").as_deref(), Some("mcp:read"));
    assert_eq!(form_get(req.body(), "resource").as_deref(), Some(MCP));
    assert!(req.headers().contains_key(http::header::AUTHORIZATION));
    let body = br#"{"access_token":"cc","token_type":"Bearer","expires_in":60}"#;
    let c = g.handle_response(NOW, StatusCode::OK, body).unwrap();
    assert_eq!(c.tokens.access_token.expose(), "cc");
    assert_eq!((c.issuer.as_str(), c.client_id.as_str()), (AS, "machine"));
    assert_eq!(c.auth_method, "client_secret_basic");
    assert_eq!(c.tokens.scope.as_deref(), Some("mcp:read"));
    assert!(matches!(
        g.handle_response(
            NOW,
            StatusCode::UNAUTHORIZED,
            br#"{"error":"invalid_client"}"#
        ),
        Err(TokenError::Rejected { .. })
    ));
}

#[derive(Debug, Clone)]
enum Event {
    Forbidden(u8),
    Unauthorized,
    Success(u8),
}

fn event() -> impl Strategy<Value = Event> {
    prop_oneof![
        (0u8..3).prop_map(Event::Forbidden),
        Just(Event::Unauthorized),
        (0u8..3).prop_map(Event::Success),
    ]
}

proptest! {
    /// A token within the margin is never used; one outside it always is.
    #[test]
    fn a_token_within_the_margin_is_never_used(
        expires_in in 0u64..10_000, elapsed in 0u64..20_000, ahead in 0u64..5_000, rt in any::<bool>()
    ) {
        let c = cred("at", rt.then_some("rt"), Some(expires_in));
        let now = NOW.add_secs(elapsed);
        let d = TokenPolicy::new(ahead).decide_token(now, Some(&c));
        let within = elapsed + ahead >= expires_in;
        prop_assert_eq!(d == TokenDecision::Use, !within);
        if within {
            prop_assert_eq!(d, if rt { TokenDecision::Refresh } else { TokenDecision::Reauthorize });
        }
    }

    /// Step-up never loops past its limit: between two successes of an operation, at most
    /// `max` step-ups for it, whatever else happens (MCP-SCOPE-14).
    #[test]
    fn step_up_never_passes_its_limit(max in 0u32..4, events in proptest::collection::vec(event(), 0..40)) {
        let mut p = TokenPolicy::default().with_step_up_limit(max);
        let held = cred("at", Some("rt"), Some(3600));
        let ch = challenge(r#"Bearer error="insufficient_scope", scope="mcp:write""#);
        let mut since_success = [0u32; 3];
        for e in events {
            match e {
                Event::Forbidden(op) => {
                    let name = format!("op{op}");
                    let r = Rejection::new(MCP, &name, StatusCode::FORBIDDEN)
                        .with_challenge(Some(&ch))
                        .with_held(Some(&held));
                    match p.handle_challenge(&r) {
                        ChallengeDecision::Authorize(a) => {
                            prop_assert!(a.is_step_up());
                            since_success[usize::from(op)] += 1;
                        }
                        d => prop_assert_eq!(d, ChallengeDecision::GiveUp(GiveUp::StepUpLimit)),
                    }
                    prop_assert!(since_success[usize::from(op)] <= max);
                }
                Event::Unauthorized => {
                    let r = Rejection::new(MCP, "op0", StatusCode::UNAUTHORIZED).with_held(Some(&held));
                    prop_assert!(!matches!(p.handle_challenge(&r), ChallengeDecision::GiveUp(_)));
                }
                Event::Success(op) => {
                    p.handle_success(MCP, &format!("op{op}"));
                    since_success[usize::from(op)] = 0;
                }
            }
        }
    }

    /// A `401` refreshes any one token at most once; the step-up union keeps every held
    /// and every challenged scope.
    #[test]
    fn a_401_refreshes_a_token_at_most_once(tokens in proptest::collection::vec(0u8..4, 0..30)) {
        let mut p = TokenPolicy::default();
        let mut refreshed = std::collections::HashSet::new();
        for t in tokens {
            let name = format!("at-{t}");
            let held = cred(&name, Some("rt"), Some(3600));
            let r = Rejection::new(MCP, OP, StatusCode::UNAUTHORIZED)
                .with_held(Some(&held))
                .with_rejected(Some(&name));
            if matches!(p.handle_challenge(&r), ChallengeDecision::Refresh { .. }) {
                prop_assert!(refreshed.insert(t), "refreshed {} twice", name);
            }
        }
    }

    /// The step-up scope covers what was requested, granted and challenged.
    #[test]
    fn step_up_scope_covers_held_and_challenged(
        requested in "[a-d ]{0,12}", granted in "[a-d ]{0,12}", challenged in "[a-d]{1,3}( [a-d]{1,3}){0,2}"
    ) {
        let mut held = cred("at", Some("rt"), Some(3600));
        held.requested_scope = Some(requested.clone());
        held.tokens.scope = Some(granted.clone());
        let ch = challenge(&format!(r#"Bearer error="insufficient_scope", scope="{challenged}""#));
        let r = Rejection::new(MCP, OP, StatusCode::FORBIDDEN)
            .with_challenge(Some(&ch))
            .with_held(Some(&held));
        let ChallengeDecision::Authorize(a) = TokenPolicy::default().handle_challenge(&r) else {
            panic!("step-up expected");
        };
        let held_scope = a.held_scope.unwrap();
        prop_assert!(covers(&held_scope, &requested) && covers(&held_scope, &granted));
        let union = scope_union(&held_scope, &challenged).unwrap_or_default();
        prop_assert!(covers(&union, &challenged) && covers(&union, &held_scope));
    }
}
