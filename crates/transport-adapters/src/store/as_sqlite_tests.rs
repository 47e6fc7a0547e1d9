//! The authorization server's SQLite store: the store contract, equivalence with the
//! in-memory reference on random operation sequences, state that survives a reopen, and
//! exactly-once redemption by two server instances sharing one file.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::Mutex;

use mcp_oauth_authorization_server::{
    AccessRecord, AsConfig, AuthorizationServer, AutoApprove, ClientLimits, CodeRecord, Issued,
    MemoryStorage, Op, Outcome, RefreshRecord, Storage, StoredClient, store_conformance,
};
use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::ClientMetadata;
use proptest::prelude::*;

use super::sqlite_tests::TempDir;
use super::{SqliteConfig, SqliteStorage};

const NOW: UnixTime = UnixTime(1_800_000_000);

/// Every scenario of the store contract, each on a fresh database file.
#[test]
fn sqlite_storage_conforms() {
    let dirs = Mutex::new(Vec::new());
    let failures = store_conformance::check(|| {
        let dir = TempDir::new("conformance");
        let s = SqliteStorage::open(SqliteConfig::new(dir.db())).unwrap();
        dirs.lock().unwrap().push(dir);
        s
    });
    assert!(failures.is_empty(), "{failures:#?}");
}

/// A small domain, so that random sequences collide: 3 codes, 3 refresh tokens, 3
/// families, 3 access tokens, 3 clients.
fn op_strategy() -> impl Strategy<Value = Op> {
    let d = 0u8..3;
    let fam = (0u8..3).prop_map(|f| format!("f{f}"));
    let jti = (0u8..3).prop_map(|j| format!("j{j}"));
    let t = (0u64..5).prop_map(|k| NOW.add_secs(k * 1800));
    let issued = (
        fam.clone(),
        jti.clone(),
        prop::option::of(0u8..3),
        t.clone(),
    )
        .prop_map(|(family, jti, rt, exp)| Issued {
            client_id: "c0".into(),
            access: AccessRecord::new(jti, family.clone(), exp),
            refresh: rt.map(|n| {
                let r = RefreshRecord {
                    family: family.clone(),
                    client_id: "c0".into(),
                    subject: "alice".into(),
                    scope: "mcp".into(),
                    resource: "https://mcp.example/mcp".into(),
                    expires_at: exp.add_secs(3600),
                    rotated: false,
                };
                ([n; 32], r)
            }),
        });
    prop_oneof![
        (d.clone(), fam.clone(), t.clone()).prop_map(|(n, family, exp)| Op::IssueCode {
            digest: [n; 32],
            record: CodeRecord {
                client_id: "c0".into(),
                redirect_uri: "http://127.0.0.1/cb".into(),
                challenge: "c".into(),
                resource: "https://mcp.example/mcp".into(),
                scope: "mcp".into(),
                subject: "alice".into(),
                expires_at: exp,
                family,
            },
        }),
        d.clone().prop_map(|n| Op::SpendCode { digest: [n; 32] }),
        (d.clone(), issued.clone(), t.clone()).prop_map(|(n, issued, now)| Op::RedeemCode {
            digest: [n; 32],
            issued,
            now
        }),
        (d.clone(), issued.clone(), t.clone()).prop_map(|(n, issued, now)| Op::RotateRefresh {
            digest: [n; 32],
            issued,
            now
        }),
        issued.prop_map(|issued| Op::IssueAccess { issued }),
        (fam, t.clone()).prop_map(|(family, now)| Op::RevokeGrant { family, now }),
        jti.prop_map(|jti| Op::RevokeAccess { jti }),
        (0u8..3, 0u8..2, t.clone()).prop_map(|(c, src, now)| Op::AddClient {
            client: StoredClient::registered(
                format!("c{c}"),
                None,
                ClientMetadata::default(),
                Some(std::net::IpAddr::from([10, 0, 0, src])),
                now,
                now.add_secs(3600),
            ),
            limits: ClientLimits::new(2, 1, 1),
            now,
        }),
        t.prop_map(|now| Op::Purge { now }),
    ]
}

/// Everything a server can read back, for comparison.
fn snapshot(s: &dyn Storage) -> Vec<String> {
    let mut out = Vec::new();
    for n in 0u8..3 {
        out.push(format!("code{n} {:?}", s.code(&[n; 32])));
        out.push(format!("rt{n} {:?}", s.refresh(&[n; 32])));
        out.push(format!("j{n} {}", s.access_revoked(&format!("j{n}"))));
        out.push(format!("f{n} {}", s.family_revoked(&format!("f{n}"))));
        out.push(format!(
            "c{n} {:?}",
            s.client(&format!("c{n}")).map(|c| (c.granted, c.kind))
        ));
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Random operation sequences give the same outcomes, step by step, and the same
    /// readable state on SQLite as on the in-memory reference.
    #[test]
    fn random_sequences_match_memory(ops in prop::collection::vec(op_strategy(), 1..40)) {
        let dir = TempDir::new("model");
        let sqlite = SqliteStorage::open(SqliteConfig::new(dir.db())).unwrap();
        let memory = MemoryStorage::new();
        for (i, op) in ops.into_iter().enumerate() {
            let want = memory.apply(op.clone());
            let got = sqlite.apply(op.clone());
            prop_assert_eq!(got, want, "step {}: {:?}", i, op);
            prop_assert_eq!(snapshot(&sqlite), snapshot(&memory), "after step {}: {:?}", i, op);
        }
    }
}

/// Clients, codes, grants and revocations survive closing and reopening the file.
#[test]
fn state_survives_a_reopen() {
    let dir = TempDir::new("reopen");
    {
        let s = SqliteStorage::open(SqliteConfig::new(dir.db())).unwrap();
        s.put_client(StoredClient::new(
            "op",
            Some([7; 32]),
            ClientMetadata::default(),
        ));
        s.apply(Op::IssueAccess {
            issued: Issued {
                client_id: "op".into(),
                access: AccessRecord::new("j1", "f1", NOW.add_secs(300)),
                refresh: Some((
                    [1; 32],
                    RefreshRecord {
                        family: "f1".into(),
                        client_id: "op".into(),
                        subject: "alice".into(),
                        scope: "mcp".into(),
                        resource: "https://mcp.example/mcp".into(),
                        expires_at: NOW.add_secs(3600),
                        rotated: false,
                    },
                )),
            },
        });
        s.apply(Op::RevokeAccess { jti: "j1".into() });
    }
    let s = SqliteStorage::open(SqliteConfig::new(dir.db())).unwrap();
    let c = s.client("op").unwrap();
    assert_eq!(c.secret_hash, Some([7; 32]));
    assert!(c.granted && c.trusted());
    assert_eq!(s.refresh(&[1; 32]).map(|r| r.rotated), Some(false));
    assert!(s.access_revoked("j1"));
}

/// Two authorization-server instances, each with its own connection to one SQLite file,
/// and 32 threads redeeming one code through both at once: exactly one `200`, the rest
/// `invalid_grant`, and the grant is revoked. 20 rounds.
#[test]
fn two_instances_on_one_file_redeem_a_code_exactly_once() {
    use base64::Engine as _;
    use mcp_oauth_jwt_validate::crypto::Es256Signer;
    use mcp_oauth_resource_indicators::ResourceUri;
    use sha2::Digest as _;

    let dir = TempDir::new("instances");
    let instance = || {
        let config = AsConfig::new("https://as.example").resource(
            ResourceUri::parse("https://mcp.example/mcp").unwrap(),
            ["mcp"],
        );
        AuthorizationServer::new(
            config,
            SqliteStorage::open(SqliteConfig::new(dir.db())).unwrap(),
            Box::new(Es256Signer::generate().unwrap().with_kid("k")),
            Box::new(AutoApprove {
                subject: "alice".into(),
            }),
        )
        .unwrap()
    };
    let (a, b) = (instance(), instance());
    let verifier = "dBjftJeZ4CVP-mJ92K9zt0-MA6vT9_xPeJc0Bj7qVuGA7LSiPsM";
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(sha2::Sha256::digest(verifier.as_bytes()));
    let redirect = "http://127.0.0.1:9/cb";
    let mut client = StoredClient::new(
        "cli",
        None,
        serde_json::from_value(serde_json::json!({
            "redirect_uris": [redirect],
            "token_endpoint_auth_method": "none",
            "grant_types": ["authorization_code", "refresh_token"],
        }))
        .unwrap(),
    );
    client.granted = true;
    a.storage().put_client(client);
    for round in 0..20u8 {
        let code = format!("code-{round}");
        a.storage().apply(Op::IssueCode {
            digest: sha2::Sha256::digest(code.as_bytes()).into(),
            record: CodeRecord {
                client_id: "cli".into(),
                redirect_uri: redirect.into(),
                challenge: challenge.clone(),
                resource: "https://mcp.example/mcp".into(),
                scope: "mcp".into(),
                subject: "alice".into(),
                expires_at: NOW.add_secs(60),
                family: format!("fam-{round}"),
            },
        });
        let body = format!(
            "grant_type=authorization_code&code={code}&redirect_uri={}&code_verifier={verifier}&client_id=cli",
            "http%3A%2F%2F127.0.0.1%3A9%2Fcb"
        );
        let statuses: Vec<u16> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..32u8)
                .map(|i| {
                    let server = if i % 2 == 0 { &a } else { &b };
                    let body = body.as_bytes();
                    scope.spawn(move || {
                        let mut entropy = [0u8; 64];
                        entropy[0] = i;
                        entropy[1] = round;
                        server.token(NOW, None, body, &entropy).status().as_u16()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let ok = statuses.iter().filter(|s| **s == 200).count();
        assert_eq!(ok, 1, "round {round}: {statuses:?}");
        assert!(
            statuses.iter().all(|s| *s == 200 || *s == 400),
            "{statuses:?}"
        );
        assert!(
            b.storage().family_revoked(&format!("fam-{round}")),
            "round {round}: the replays revoked the grant"
        );
        assert_eq!(b.storage().apply(Op::Purge { now: NOW }), Outcome::Applied);
    }
}
