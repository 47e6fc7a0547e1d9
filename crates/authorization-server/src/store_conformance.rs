//! The store conformance suite: the contract of [`crate::ops`] as scenarios any
//! [`Storage`] must pass, so every backend (memory, SQLite, Postgres) is held to the same
//! single-use, revocation and limit semantics. Backends call [`check`] from their tests
//! with a function that returns a fresh, empty store.
//!
//! ```
//! use mcp_oauth_authorization_server::{MemoryStorage, store_conformance};
//! let failures = store_conformance::check(MemoryStorage::new);
//! assert!(failures.is_empty(), "{failures:#?}");
//! ```

use mcp_oauth_common::UnixTime;
use mcp_oauth_dcr::ClientMetadata;

use crate::ops::{AccessRecord, Issued, Op, Outcome};
use crate::storage::{
    ClientLimitReached, ClientLimits, CodeRecord, Digest, RefreshRecord, Storage, StoredClient,
};

const NOW: UnixTime = UnixTime(1_800_000_000);

/// A scenario: runs on a fresh store, pushes one line per broken expectation.
type Scenario = fn(&dyn Storage, &mut Vec<String>);

/// Runs every scenario, each on a store from `fresh`; returns one line per broken
/// expectation (empty when the store conforms).
pub fn check<S: Storage>(mut fresh: impl FnMut() -> S) -> Vec<String> {
    let scenarios: [(&str, Scenario); 9] = [
        ("a code is single use", code_single_use),
        ("a redeemed code replayed revokes its grant", code_replay),
        ("unknown codes and tokens", unknown),
        ("refresh rotation and reuse", refresh_rotation),
        ("a refresh racing a revocation", refresh_racing_revocation),
        ("tokens stored after a revocation are born dead", born_dead),
        ("client limits", client_limits),
        ("purge", purge),
        ("a grant makes a registration no longer pending", granted),
    ];
    let mut failures = Vec::new();
    for (name, scenario) in scenarios {
        let store = fresh();
        let mut out = Vec::new();
        scenario(&store, &mut out);
        failures.extend(out.into_iter().map(|f| format!("{name}: {f}")));
    }
    failures
}

fn expect<T: PartialEq + core::fmt::Debug>(out: &mut Vec<String>, what: &str, got: T, want: T) {
    if got != want {
        out.push(format!("{what}: got {got:?}, want {want:?}"));
    }
}

fn digest(n: u8) -> Digest {
    [n; 32]
}

fn code(family: &str) -> CodeRecord {
    CodeRecord {
        client_id: "c".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        challenge: "x".repeat(43),
        resource: "https://mcp.example/mcp".into(),
        scope: "mcp".into(),
        subject: "alice".into(),
        expires_at: NOW.add_secs(60),
        family: family.into(),
    }
}

fn refresh(family: &str, expires_at: UnixTime) -> RefreshRecord {
    RefreshRecord {
        family: family.into(),
        client_id: "c".into(),
        subject: "alice".into(),
        scope: "mcp".into(),
        resource: "https://mcp.example/mcp".into(),
        expires_at,
        rotated: false,
    }
}

/// An access token `jti` and, with `rt`, a refresh token of digest `rt`, in `family`.
fn issued(family: &str, jti: &str, rt: Option<u8>) -> Issued {
    Issued {
        client_id: "c".into(),
        access: AccessRecord::new(jti, family, NOW.add_secs(300)),
        refresh: rt.map(|n| (digest(n), refresh(family, NOW.add_secs(86_400)))),
    }
}

fn live(store: &dyn Storage, rt: u8) -> bool {
    store.refresh(&digest(rt)).is_some_and(|r| !r.rotated)
}

fn code_single_use(s: &dyn Storage, out: &mut Vec<String>) {
    let op = Op::IssueCode {
        digest: digest(1),
        record: code("f1"),
    };
    expect(out, "issue", s.apply(op), Outcome::Applied);
    expect(out, "unspent", s.code(&digest(1)).map(|c| c.1), Some(false));
    let spend = || Op::SpendCode { digest: digest(1) };
    expect(out, "first spend", s.apply(spend()), Outcome::Applied);
    expect(out, "second spend", s.apply(spend()), Outcome::Replayed);
    expect(out, "spent", s.code(&digest(1)).map(|c| c.1), Some(true));
    let redeem = Op::RedeemCode {
        digest: digest(1),
        issued: issued("f1", "j1", Some(2)),
        now: NOW,
    };
    expect(
        out,
        "redeem after spend",
        s.apply(redeem),
        Outcome::Replayed,
    );
    expect(
        out,
        "nothing issued",
        s.refresh(&digest(2)).is_some_and(|r| !r.rotated),
        false,
    );
}

fn code_replay(s: &dyn Storage, out: &mut Vec<String>) {
    s.apply(Op::IssueCode {
        digest: digest(1),
        record: code("f1"),
    });
    let redeem = |jti: &str, rt: u8| Op::RedeemCode {
        digest: digest(1),
        issued: issued("f1", jti, Some(rt)),
        now: NOW,
    };
    expect(
        out,
        "first redemption",
        s.apply(redeem("j1", 2)),
        Outcome::Applied,
    );
    expect(out, "its refresh token lives", live(s, 2), true);
    expect(out, "its access token lives", s.access_revoked("j1"), false);
    expect(
        out,
        "second redemption",
        s.apply(redeem("j2", 3)),
        Outcome::Replayed,
    );
    expect(out, "the grant is revoked", s.family_revoked("f1"), true);
    expect(out, "its refresh token died", live(s, 2), false);
    expect(out, "its access token died", s.access_revoked("j1"), true);
    expect(out, "the replay issued nothing", live(s, 3), false);
}

fn unknown(s: &dyn Storage, out: &mut Vec<String>) {
    let spend = Op::SpendCode { digest: digest(9) };
    expect(out, "spend", s.apply(spend), Outcome::Unknown);
    let redeem = Op::RedeemCode {
        digest: digest(9),
        issued: issued("f", "j", Some(1)),
        now: NOW,
    };
    expect(out, "redeem", s.apply(redeem), Outcome::Unknown);
    let rotate = Op::RotateRefresh {
        digest: digest(9),
        issued: issued("f", "j", Some(1)),
        now: NOW,
    };
    expect(out, "rotate", s.apply(rotate), Outcome::Unknown);
    expect(
        out,
        "nothing issued",
        s.refresh(&digest(1)).is_some(),
        false,
    );
    let revoke = Op::RevokeAccess { jti: "nope".into() };
    expect(out, "revoke access", s.apply(revoke), Outcome::Unknown);
    expect(out, "read code", s.code(&digest(9)).is_some(), false);
    expect(out, "read client", s.client("nope").is_some(), false);
}

fn refresh_rotation(s: &dyn Storage, out: &mut Vec<String>) {
    let start = Op::IssueAccess {
        issued: issued("f1", "j1", Some(1)),
    };
    expect(out, "issue", s.apply(start), Outcome::Applied);
    let rotate = |from: u8, jti: &str, to: u8| Op::RotateRefresh {
        digest: digest(from),
        issued: issued("f1", jti, Some(to)),
        now: NOW,
    };
    expect(
        out,
        "rotate 1 -> 2",
        s.apply(rotate(1, "j2", 2)),
        Outcome::Applied,
    );
    expect(out, "1 spent", live(s, 1), false);
    expect(out, "2 lives", live(s, 2), true);
    expect(
        out,
        "reuse of 1",
        s.apply(rotate(1, "j3", 3)),
        Outcome::Reused,
    );
    expect(out, "the reuse issued nothing", live(s, 3), false);
    expect(out, "2 died with the grant", live(s, 2), false);
    expect(out, "the grant is revoked", s.family_revoked("f1"), true);
    expect(out, "j2 died with the grant", s.access_revoked("j2"), true);
    expect(
        out,
        "rotate 2 after",
        s.apply(rotate(2, "j4", 4)),
        Outcome::Revoked,
    );
    expect(out, "nothing live after", live(s, 4), false);
}

fn refresh_racing_revocation(s: &dyn Storage, out: &mut Vec<String>) {
    s.apply(Op::IssueAccess {
        issued: issued("f1", "j1", Some(1)),
    });
    let revoke = Op::RevokeGrant {
        family: "f1".into(),
        now: NOW,
    };
    expect(out, "revoke", s.apply(revoke), Outcome::Applied);
    let rotate = Op::RotateRefresh {
        digest: digest(1),
        issued: issued("f1", "j2", Some(2)),
        now: NOW,
    };
    expect(
        out,
        "rotate after revoke",
        s.apply(rotate),
        Outcome::Revoked,
    );
    expect(out, "no live successor", live(s, 2), false);
    expect(
        out,
        "no live access token",
        s.access_revoked("j2") || s.family_revoked("f1"),
        true,
    );
}

fn born_dead(s: &dyn Storage, out: &mut Vec<String>) {
    s.apply(Op::RevokeGrant {
        family: "f1".into(),
        now: NOW,
    });
    let late = Op::IssueAccess {
        issued: issued("f1", "j1", Some(1)),
    };
    s.apply(late);
    expect(out, "access born revoked", s.access_revoked("j1"), true);
    expect(out, "refresh born dead", live(s, 1), false);
    let other = Op::IssueAccess {
        issued: issued("f2", "j2", Some(2)),
    };
    s.apply(other);
    expect(
        out,
        "another grant is unaffected",
        (s.access_revoked("j2"), live(s, 2)),
        (false, true),
    );
    expect(
        out,
        "revoke one access token",
        s.apply(Op::RevokeAccess { jti: "j2".into() }),
        Outcome::Applied,
    );
    expect(out, "it is revoked", s.access_revoked("j2"), true);
    expect(out, "its refresh token is not", live(s, 2), true);
}

fn registered(id: &str, source: u8) -> StoredClient {
    StoredClient::registered(
        id,
        None,
        ClientMetadata::default(),
        Some(std::net::IpAddr::from([10, 0, 0, source])),
        NOW,
        NOW.add_secs(3600),
    )
}

fn client_limits(s: &dyn Storage, out: &mut Vec<String>) {
    let limits = ClientLimits::new(2, 1, 1);
    let add = |client: StoredClient| Op::AddClient {
        client,
        limits,
        now: NOW,
    };
    expect(
        out,
        "first",
        s.apply(add(registered("a", 1))),
        Outcome::Applied,
    );
    let second = s.apply(add(registered("b", 1)));
    expect(
        out,
        "second pending from one source",
        matches!(
            second,
            Outcome::LimitReached(ClientLimitReached::Source { .. })
        ),
        true,
    );
    expect(
        out,
        "another source",
        s.apply(add(registered("c", 2))),
        Outcome::Applied,
    );
    let third = s.apply(add(registered("d", 3)));
    expect(
        out,
        "over the total",
        matches!(
            third,
            Outcome::LimitReached(ClientLimitReached::Total { .. })
        ),
        true,
    );
    expect(
        out,
        "refused ones are not stored",
        s.client("b").is_some() || s.client("d").is_some(),
        false,
    );
    let doc = |id: &str| StoredClient::document(id, ClientMetadata::default(), NOW.add_secs(60));
    expect(
        out,
        "a document",
        s.apply(add(doc("https://x.example/c"))),
        Outcome::Applied,
    );
    expect(
        out,
        "replacing it",
        s.apply(add(doc("https://x.example/c"))),
        Outcome::Applied,
    );
    let other = s.apply(add(doc("https://y.example/c")));
    expect(
        out,
        "a second document",
        matches!(other, Outcome::LimitReached(_)),
        true,
    );
    let configured = StoredClient::new("op", None, ClientMetadata::default());
    expect(
        out,
        "configured, whatever the limits",
        s.apply(Op::PutClient(configured)),
        Outcome::Applied,
    );
    expect(
        out,
        "stored",
        s.client("op").map(|c| c.trusted()),
        Some(true),
    );
}

fn purge(s: &dyn Storage, out: &mut Vec<String>) {
    let limits = ClientLimits::new(10, 10, 10);
    s.apply(Op::PutClient(StoredClient::new(
        "op",
        None,
        ClientMetadata::default(),
    )));
    s.apply(Op::AddClient {
        client: registered("pending", 1),
        limits,
        now: NOW,
    });
    s.apply(Op::AddClient {
        client: StoredClient::document(
            "https://x.example/c",
            ClientMetadata::default(),
            NOW.add_secs(60),
        ),
        limits,
        now: NOW,
    });
    s.apply(Op::IssueCode {
        digest: digest(1),
        record: code("f1"),
    });
    s.apply(Op::IssueAccess {
        issued: issued("f2", "j1", Some(2)),
    });
    s.apply(Op::RevokeGrant {
        family: "f3".into(),
        now: NOW,
    });
    // An hour after the code expired (a replay is still recognised until then), a day
    // after the refresh token did, long after the revocation marker's grace.
    let later = NOW.add_secs(86_400 * 2);
    expect(
        out,
        "purge",
        s.apply(Op::Purge { now: later }),
        Outcome::Applied,
    );
    expect(out, "code gone", s.code(&digest(1)).is_some(), false);
    expect(out, "refresh gone", s.refresh(&digest(2)).is_some(), false);
    expect(out, "marker gone", s.family_revoked("f3"), false);
    expect(out, "configured kept", s.client("op").is_some(), true);
    expect(out, "pending gone", s.client("pending").is_some(), false);
    expect(
        out,
        "stale document gone",
        s.client("https://x.example/c").is_some(),
        false,
    );
    // A code keeps its client while it is stored, and is recognised for an hour.
    s.apply(Op::AddClient {
        client: registered("c", 2),
        limits,
        now: later,
    });
    let mut rec = code("f4");
    rec.expires_at = later.add_secs(60);
    s.apply(Op::IssueCode {
        digest: digest(5),
        record: rec,
    });
    s.apply(Op::Purge {
        now: later.add_secs(3600),
    });
    expect(
        out,
        "code kept an hour past expiry",
        s.code(&digest(5)).is_some(),
        true,
    );
    expect(out, "its client kept", s.client("c").is_some(), true);
}

fn granted(s: &dyn Storage, out: &mut Vec<String>) {
    let limits = ClientLimits::new(10, 10, 10);
    s.apply(Op::AddClient {
        client: registered("c", 1),
        limits,
        now: NOW,
    });
    expect(
        out,
        "pending",
        s.client("c").map(|c| c.granted),
        Some(false),
    );
    s.apply(Op::IssueAccess {
        issued: issued("f1", "j1", None),
    });
    expect(out, "granted", s.client("c").map(|c| c.granted), Some(true));
    s.apply(Op::Purge {
        now: NOW.add_secs(7200),
    });
    expect(
        out,
        "a granted registration is kept",
        s.client("c").is_some(),
        true,
    );
}
