//! RFC 7523 client assertions signed through the JOSE signing seam verify with the
//! project's own validator: the ring ES256 signer the command-line client uses.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_client_flow::client_assertion;
use mcp_oauth_common::UnixTime;
use mcp_oauth_jwt_validate::crypto::{Es256Signer, Ring};
use mcp_oauth_jwt_validate::{JwsSigner as _, KeySet, KeySetLimits, Policy, Validator};
use serde_json::{Value, json};

const AS: &str = "https://as.example.com";
const NOW: UnixTime = UnixTime::from_secs(1_800_000_000);

fn header(jwt: &str) -> Value {
    let h = jwt.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).unwrap()).unwrap()
}

#[test]
fn assertions_verify_and_carry_the_signers_kid() {
    let signer = Es256Signer::generate().unwrap().with_kid("client-key-1");
    let jwt = client_assertion(&signer, "cid", AS, NOW, &[7; 16]).unwrap();
    assert_eq!(
        header(&jwt),
        json!({"alg": "ES256", "kid": "client-key-1", "typ": "JWT"})
    );
    let keys = KeySet::from_value(
        &json!({"keys": [signer.public_jwk()]}),
        &Ring,
        &KeySetLimits::default(),
    )
    .unwrap();
    let ctx = Validator::new(Policy::from_lists(["cid"], [AS]).accept_typ(["JWT"]))
        .validate(&jwt, &keys, NOW)
        .unwrap();
    assert_eq!(ctx.subject(), Some("cid"));
    assert_eq!(ctx.expires_at(), NOW.add_secs(60));

    // Without a kid (the command-line client's choice) the header names none.
    let bare = Es256Signer::generate().unwrap().without_kid();
    let jwt = client_assertion(&bare, "cid", AS, NOW, &[7; 16]).unwrap();
    assert_eq!(header(&jwt), json!({"alg": "ES256", "typ": "JWT"}));
}
