//! Hardening: no open redirector, who may introspect, code replay, the issuer rule,
//! the code challenge never exposed, refresh tokens bound to their client.

use super::*;

// ------------------------------------------------------- hardening: open redirector

/// BCP-1, RFC 9700 §4.11.2: once the redirect URI of a client that registered itself
/// (RFC 7591, or a metadata document) matches, errors before the user interacted are
/// shown, not redirected: anyone can register `https://evil.example/…`. A configured
/// client's errors are still redirected, and so is a refusal at the consent step. Old
/// code redirected them all.
#[test]
fn untrusted_clients_errors_are_shown_not_redirected_bcp_1() {
    let s = server();
    let mut e = Counter(0);
    let dcr = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let cimd = "https://client.example.com/metadata.json";
    let bad = |id: &str| {
        [
            authorize_query(id).replace("response_type=code", "response_type=x"),
            authorize_query(id).replace("code_challenge", "x_code_challenge"),
            authorize_query(id).replace("mcp.example.com", "other.example.com"),
            authorize_query(id).replace("mcp%3Aread", "admin"),
        ]
    };
    for query in bad(&dcr) {
        match s.authorize(NOW, &query, None, &e.bytes()) {
            AuthorizeOutcome::ErrorPage(r) => {
                assert_eq!(r.status(), StatusCode::BAD_REQUEST);
                assert!(r.headers().get(header::LOCATION).is_none());
            }
            other => panic!("{query}: {other:?}"),
        }
    }
    for query in bad(cimd) {
        assert!(matches!(
            s.authorize(NOW, &query, Some(&cimd_document(cimd)), &e.bytes()),
            AuthorizeOutcome::ErrorPage(_)
        ));
    }
    configure_public(&s, "app");
    for query in bad("app") {
        let u = location(&s.authorize(NOW, &query, None, &e.bytes()));
        assert!(q(&u, "error").is_some());
        assert_eq!(q(&u, "state").as_deref(), Some("xyz"));
    }
    // The success path of a self-registered client still redirects.
    assert!(
        q(
            &location(&s.authorize(NOW, &authorize_query(&dcr), None, &e.bytes())),
            "code"
        )
        .is_some()
    );
}

// ---------------------------------------------------------- hardening: introspection

fn put_confidential(s: &AuthorizationServer<MemoryStorage>, id: &str, secret: &str) {
    let md: ClientMetadata = serde_json::from_value(json!({
        "redirect_uris": [REDIRECT], "token_endpoint_auth_method": "client_secret_basic",
        "grant_types": ["authorization_code", "refresh_token", "client_credentials"]
    }))
    .unwrap();
    s.storage().put_client(StoredClient::new(
        id,
        Some(sha2::Sha256::digest(secret.as_bytes()).into()),
        md,
    ));
}

fn basic(id: &str, secret: &str) -> String {
    format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
}

/// RFC 7662 §4: only the resource servers named in `introspection_clients` may
/// introspect; any other client, even a confidential one that authenticates, gets
/// `403 unauthorized_client`. Old code answered any confidential client (anyone can
/// register one).
#[test]
fn only_configured_introspection_clients_may_introspect() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let at = json_of(&exchange(&s, &mut e, &id, &code, NOW))["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = form(&[("token", &at)]);
    // A self-registered confidential client.
    let c = register(&s, &mut e, "client_secret_basic");
    let dcr = basic(
        c["client_id"].as_str().unwrap(),
        c["client_secret"].as_str().unwrap(),
    );
    let r = s.introspect(NOW, Some(&dcr), &body);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(json_of(&r)["error"], "unauthorized_client");
    // A configured confidential client not named.
    put_confidential(&s, "other", "other-secret");
    let r = s.introspect(NOW, Some(&basic("other", "other-secret")), &body);
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Wrong secret: 401.
    put_confidential(&s, "rs", "rs-secret");
    let r = s.introspect(NOW, Some(&basic("rs", "nope")), &body);
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(json_of(&r)["error"], "invalid_client");
    // The named one.
    assert!(introspect_active(&s, &id, &at));
}

/// A refresh token is not an access token: introspected by a resource server (not its
/// client) it is `{"active": false}`; its own client (when allowed to introspect) sees it
/// active. `token_type_hint` is a hint: the other kind is still looked up (RFC 7662
/// §2.1). Old code answered a refresh token active, with `aud`, `scope` and `sub`, to any
/// caller.
#[test]
fn refresh_tokens_are_introspected_only_by_their_client() {
    let c = config().introspection_client("app");
    let s = server_from(
        c,
        Box::new(AutoApprove {
            subject: "alice".into(),
        }),
    );
    let mut e = Counter(0);
    put_confidential(&s, "rs", "rs-secret");
    put_confidential(&s, "app", "app-secret");
    let code = code_for(&s, &mut e, "app");
    let r = s.token(
        NOW,
        Some(&basic("app", "app-secret")),
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
        ]),
        &e.bytes(),
    );
    let t = json_of(&r);
    let (at, rt) = (
        t["access_token"].as_str().unwrap(),
        t["refresh_token"].as_str().unwrap(),
    );
    let ask = |who: &str, secret: &str, token: &str, hint: Option<&str>| {
        let mut pairs = vec![("token", token)];
        if let Some(h) = hint {
            pairs.push(("token_type_hint", h));
        }
        let r = s.introspect(NOW, Some(&basic(who, secret)), &form(&pairs));
        assert_eq!(r.status(), StatusCode::OK);
        json_of(&r)
    };
    for hint in [
        None,
        Some("refresh_token"),
        Some("access_token"),
        Some("junk"),
    ] {
        assert_eq!(
            ask("rs", "rs-secret", rt, hint),
            json!({"active": false}),
            "{hint:?}"
        );
        let own = ask("app", "app-secret", rt, hint);
        assert_eq!(own["active"], true, "{hint:?}");
        assert_eq!(own["token_type"], "refresh_token");
        // An access token is found whatever the hint says.
        let a = ask("rs", "rs-secret", at, hint);
        assert_eq!(a["active"], true, "{hint:?}");
        assert_eq!(a["token_type"], "Bearer");
    }
}

// ------------------------------------------------------------ hardening: code replay

/// O21-13: a replayed code revokes the grant only when the replay itself proves the
/// requester (the client, the redirect URI, the PKCE verifier); an invalid replay (a
/// leaked code without its verifier, another client, another redirect URI) gets an
/// error and revokes nothing. Old code revoked before any check.
#[test]
fn invalid_code_replay_revokes_nothing_o21_13() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let other = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let t = json_of(&exchange(&s, &mut e, &id, &code, NOW));
    let (at, rt) = (
        t["access_token"].as_str().unwrap().to_owned(),
        t["refresh_token"].as_str().unwrap().to_owned(),
    );
    let replay = |e: &mut Counter, pairs: &[(&str, &str)]| {
        let mut all = vec![
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
        ];
        all.extend_from_slice(pairs);
        json_of(&s.token(NOW, None, &form(&all), &e.bytes()))
    };
    let wrong = "wrong-verifier-wrong-verifier-wrong-verifier-0123";
    for (pairs, error) in [
        (vec![("client_id", id.as_str())], "invalid_request"),
        (
            vec![("client_id", id.as_str()), ("code_verifier", wrong)],
            "invalid_grant",
        ),
        (
            vec![("client_id", other.as_str()), ("code_verifier", VERIFIER)],
            "invalid_grant",
        ),
        (
            vec![
                ("client_id", id.as_str()),
                ("code_verifier", VERIFIER),
                ("redirect_uri", "http://127.0.0.1:8765/other"),
            ],
            "invalid_grant",
        ),
    ] {
        assert_eq!(replay(&mut e, &pairs)["error"], error, "{pairs:?}");
        assert!(
            introspect_active(&s, &id, &at),
            "{pairs:?} revoked the grant"
        );
        assert!(refresh_live(&s, &rt), "{pairs:?} revoked the grant");
    }
    // A valid replay (the code leaked with its verifier): the grant goes.
    let r = replay(&mut e, &[("client_id", &id), ("code_verifier", VERIFIER)]);
    assert_eq!(r["error"], "invalid_grant");
    assert!(!introspect_active(&s, &id, &at));
    assert!(!refresh_live(&s, &rt));
}

/// A failed PKCE check spends the code (documented on `token`): no second guess at the
/// verifier, and the later correct use is a replay that issues nothing.
#[test]
fn a_failed_pkce_check_spends_the_code() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let r = s.token(
        NOW,
        None,
        &form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("client_id", &id),
            (
                "code_verifier",
                "wrong-verifier-wrong-verifier-wrong-verifier-0123",
            ),
        ]),
        &e.bytes(),
    );
    assert_eq!(json_of(&r)["error"], "invalid_grant");
    let r = exchange(&s, &mut e, &id, &code, NOW);
    assert_eq!(json_of(&r)["error"], "invalid_grant");
}

/// MCP-CIMD-10 / CIMD-6: within its `cache_until` a client ID metadata document is used
/// again without a fetch; a fetch that failed or a document that was invalid is never
/// kept, so the next authorization asks for it again.
#[test]
fn cimd_documents_are_reused_while_fresh_and_errors_never_cached() {
    let s = server();
    let mut e = Counter(0);
    let url = "https://client.example.com/metadata.json";
    // A 404, or a document for another client_id: the adapter shows an error and never
    // hands the core a document, so nothing is stored and the next request asks again.
    let policy = mcp_oauth_dcr::CimdPolicy::new();
    let empty = http::HeaderMap::new();
    assert!(
        policy
            .check(url, StatusCode::NOT_FOUND, &empty, b"{}", NOW)
            .is_err()
    );
    let other = json!({"client_id": "https://evil.example/c.json", "client_name": "C",
                       "redirect_uris": [REDIRECT]});
    assert!(
        policy
            .check(
                url,
                StatusCode::OK,
                &empty,
                other.to_string().as_bytes(),
                NOW
            )
            .is_err()
    );
    for _ in 0..2 {
        assert!(matches!(
            s.authorize(NOW, &authorize_query(url), None, &e.bytes()),
            AuthorizeOutcome::FetchClientMetadata { .. }
        ));
        assert!(s.storage().client(url).is_none());
    }
    // A good document with `max-age=600`: used again without a fetch until then.
    let mut headers = http::HeaderMap::new();
    headers.insert(header::CACHE_CONTROL, "max-age=600".parse().unwrap());
    let doc = json!({"client_id": url, "client_name": "C", "redirect_uris": [REDIRECT],
                     "token_endpoint_auth_method": "none"});
    let checked = policy
        .check(
            url,
            StatusCode::OK,
            &headers,
            doc.to_string().as_bytes(),
            NOW,
        )
        .unwrap();
    assert_eq!(checked.cache_until, Some(NOW.add_secs(600)));
    assert!(
        q(
            &location(&s.authorize(NOW, &authorize_query(url), Some(&checked), &e.bytes())),
            "code"
        )
        .is_some()
    );
    let soon = NOW.add_secs(599);
    assert!(
        q(
            &location(&s.authorize(soon, &authorize_query(url), None, &e.bytes())),
            "code"
        )
        .is_some()
    );
    assert!(matches!(
        s.authorize(NOW.add_secs(601), &authorize_query(url), None, &e.bytes()),
        AuthorizeOutcome::FetchClientMetadata { .. }
    ));
}

/// ASM-1: the server refuses an issuer that is not https (http on loopback), or that has a
/// query or a fragment; before, any string was published and signed into tokens.
#[test]
fn the_issuer_must_be_an_https_url_without_query_or_fragment() {
    let keys = es256;
    let consent = || {
        Box::new(AutoApprove {
            subject: "a".into(),
        })
    };
    for bad in [
        "auth.example.com",
        "http://auth.example.com",
        "https://auth.example.com?tenant=1",
        "https://auth.example.com#x",
        "ftp://auth.example.com",
        "",
    ] {
        let r =
            AuthorizationServer::new(AsConfig::new(bad), MemoryStorage::new(), keys(), consent());
        assert!(
            matches!(r, Err(AsConfigError::Issuer(_))),
            "{bad:?} accepted"
        );
        assert!(!r.unwrap_err().to_string().is_empty());
    }
    for good in ["https://auth.example.com/tenant", "http://127.0.0.1:9000"] {
        assert!(
            AuthorizationServer::new(AsConfig::new(good), MemoryStorage::new(), keys(), consent())
                .is_ok(),
            "{good} refused"
        );
    }
}

/// PKCE-8: the `code_challenge` never leaves the server: not in the redirect, the token
/// response, introspection or the access token.
#[test]
fn the_code_challenge_is_never_exposed() {
    let s = server();
    let mut e = Counter(0);
    let c = register(&s, &mut e, "none");
    let id = c["client_id"].as_str().unwrap().to_owned();
    let ch = challenge();
    let redirect = s.authorize(NOW, &authorize_query(&id), None, &e.bytes());
    let AuthorizeOutcome::Redirect(r) = &redirect else {
        panic!("{redirect:?}")
    };
    let location = r.headers()[header::LOCATION].to_str().unwrap().to_owned();
    assert!(!location.contains(&ch), "{location}");
    let u = Url::parse(&location).unwrap();
    let t = exchange(&s, &mut e, &id, &q(&u, "code").unwrap(), NOW);
    let body = String::from_utf8_lossy(t.body()).into_owned();
    assert!(!body.contains(&ch));
    let access = json_of(&t)["access_token"].as_str().unwrap().to_owned();
    let claims = access.split('.').nth(1).unwrap();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(claims).unwrap()).unwrap();
    assert!(
        !claims.contains(&ch) && !claims.contains("code_challenge"),
        "{claims}"
    );
}

/// O21-15: a refresh token is bound to its client: another client (here another public
/// client, which needs no secret) presenting it gets `invalid_grant`, and the token is not
/// spent for its owner.
#[test]
fn refresh_tokens_are_bound_to_their_client() {
    let s = server();
    let mut e = Counter(0);
    let id = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let thief = register(&s, &mut e, "none")["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = code_for(&s, &mut e, &id);
    let rt = json_of(&exchange(&s, &mut e, &id, &code, NOW))["refresh_token"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        json_of(&refresh(&s, &mut e, &thief, &rt, &[]))["error"],
        "invalid_grant"
    );
    assert!(refresh_live(&s, &rt), "the thief's attempt spent the token");
    assert!(json_of(&refresh(&s, &mut e, &id, &rt, &[]))["access_token"].is_string());
}

/// Exactly once under concurrency: 32 threads redeem one code at the same time through
/// the token endpoint; the store's single-use transition lets exactly one through, every
/// other gets `invalid_grant`, and the valid replays revoke the grant (so the winner's
/// tokens die too). Then 32 threads refresh with one refresh token: at most one success
/// and at most one live refresh token in the grant. Runs 50 rounds.
#[test]
fn concurrent_redemptions_and_refreshes_succeed_at_most_once() {
    for round in 0..50u8 {
        let s = server();
        let mut e = Counter(round);
        let c = register(&s, &mut e, "none");
        let id = c["client_id"].as_str().unwrap().to_owned();
        let code = code_for(&s, &mut e, &id);
        let results: Vec<Response<Vec<u8>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..32u8)
                .map(|i| {
                    let (s, id, code) = (&s, &id, &code);
                    scope.spawn(move || exchange(s, &mut Counter(i.wrapping_mul(7)), id, code, NOW))
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok: Vec<&Response<Vec<u8>>> = results
            .iter()
            .filter(|r| r.status() == StatusCode::OK)
            .collect();
        assert_eq!(ok.len(), 1, "round {round}: exactly one redemption");
        for r in results.iter().filter(|r| r.status() != StatusCode::OK) {
            assert_eq!(json_of(r)["error"], "invalid_grant");
        }
        let winner = json_of(ok[0]);
        assert!(
            !introspect_active(&s, &id, winner["access_token"].as_str().unwrap()),
            "round {round}: the replays revoked the grant"
        );

        // A fresh grant, then 32 parallel refreshes with its one refresh token.
        let code = code_for(&s, &mut e, &id);
        let t = json_of(&exchange(&s, &mut e, &id, &code, NOW));
        let rt = t["refresh_token"].as_str().unwrap().to_owned();
        let results: Vec<Response<Vec<u8>>> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..32u8)
                .map(|i| {
                    let (s, id, rt) = (&s, &id, &rt);
                    scope.spawn(move || {
                        refresh(
                            s,
                            &mut Counter(i.wrapping_mul(11)),
                            id,
                            rt,
                            &[("resource", MCP)],
                        )
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let successors: Vec<String> = results
            .iter()
            .filter(|r| r.status() == StatusCode::OK)
            .map(|r| json_of(r)["refresh_token"].as_str().unwrap().to_owned())
            .collect();
        assert!(successors.len() <= 1, "round {round}: at most one refresh");
        let live = successors.iter().filter(|rt| refresh_live(&s, rt)).count();
        assert!(live <= 1, "round {round}: at most one live refresh token");
    }
}
