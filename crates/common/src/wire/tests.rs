#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use proptest::prelude::*;

use super::*;

#[test]
fn every_named_code_round_trips_and_others_are_kept() {
    for code in [
        "invalid_request",
        "invalid_client",
        "invalid_grant",
        "unauthorized_client",
        "unsupported_grant_type",
        "unsupported_response_type",
        "invalid_scope",
        "access_denied",
        "server_error",
        "temporarily_unavailable",
        "invalid_token",
        "insufficient_scope",
        "unsupported_token_type",
        "invalid_redirect_uri",
        "invalid_client_metadata",
        "invalid_software_statement",
        "unapproved_software_statement",
        "invalid_target",
        "invalid_dpop_proof",
        "use_dpop_nonce",
        "interaction_required",
        "login_required",
        "consent_required",
    ] {
        let parsed = ErrorCode::parse(code);
        assert!(!matches!(parsed, ErrorCode::Other(_)), "{code} is named");
        assert_eq!(parsed.as_str(), code);
        assert!(parsed.is_well_formed());
    }
    let other = ErrorCode::parse("authorization_pending");
    assert_eq!(other, ErrorCode::Other("authorization_pending".into()));
    assert_eq!(other.to_string(), "authorization_pending");
    // Case matters: RFC 6749 codes are lowercase, a differently cased code is another code.
    assert!(matches!(
        ErrorCode::parse("Invalid_Grant"),
        ErrorCode::Other(_)
    ));
    // A code with a quote or a control character must never reach a header.
    assert!(!ErrorCode::parse("bad\"code").is_well_formed());
    assert!(!ErrorCode::parse("").is_well_formed());
}

#[test]
fn bearer_errors_map_to_their_status_and_general_code() {
    for (e, status, code) in [
        (BearerError::InvalidRequest, 400, ErrorCode::InvalidRequest),
        (BearerError::InvalidToken, 401, ErrorCode::InvalidToken),
        (
            BearerError::InsufficientScope,
            403,
            ErrorCode::InsufficientScope,
        ),
    ] {
        assert_eq!(e.status().as_u16(), status);
        assert_eq!(e.code(), code);
        assert_eq!(BearerError::parse(e.as_str()), Some(e));
    }
    assert_eq!(BearerError::parse("invalid_grant"), None);
}

#[test]
fn error_responses_parse_bounded_and_serialise() {
    let r = ErrorResponse::parse(br#"{"error":"invalid_grant","error_description":"spent","x":1}"#)
        .unwrap();
    assert_eq!(r.error, ErrorCode::InvalidGrant);
    assert_eq!(r.error_description.as_deref(), Some("spent"));
    let json: serde_json::Value = serde_json::from_slice(&r.to_json()).unwrap();
    assert_eq!(json["error"], "invalid_grant");
    assert!(json.get("error_uri").is_none());
    assert!(ErrorResponse::parse(br#"{"error":7}"#).is_none());
    assert!(ErrorResponse::parse(b"not json").is_none());
    let big = format!(
        r#"{{"error":"x","error_description":"{}"}}"#,
        "a".repeat(MAX_ERROR_RESPONSE_LEN)
    );
    assert!(
        ErrorResponse::parse(big.as_bytes()).is_none(),
        "larger than the cap"
    );
}

#[test]
fn secrets_never_print_and_compare_by_value() {
    let a = AccessToken::new("eyJ.secret.value");
    assert_eq!(format!("{a:?}"), "AccessToken(<redacted>)");
    assert_eq!(
        format!("{:?}", ClientSecret::new("s3cret")),
        "ClientSecret(<redacted>)"
    );
    assert_eq!(
        format!("{:?}", RefreshToken::new("r")),
        "RefreshToken(<redacted>)"
    );
    assert_eq!(a, AccessToken::new("eyJ.secret.value"));
    assert_ne!(a, AccessToken::new("eyJ.secret.valuf"));
    assert_ne!(a, AccessToken::new("eyJ.secret.value2"));
    assert_eq!(serde_json::to_string(&a).unwrap(), r#""eyJ.secret.value""#);
    let back: AccessToken = serde_json::from_str(r#""eyJ.secret.value""#).unwrap();
    assert_eq!(back, a);
    assert!(ct_eq(b"abc", b"abc"));
    assert!(!ct_eq(b"abc", b"abd"));
    assert!(!ct_eq(b"abc", b"ab"));
}

#[test]
fn token_responses_parse_like_rfc_6749_5_1() {
    // RFC 6749 §5.1's example.
    let r = TokenResponse::parse(
        br#"{"access_token":"2YotnFZFEjr1zCsicMWpAA","token_type":"example","expires_in":3600,
            "refresh_token":"tGzv3JOkF0XG5Qx2TlKWIA","example_parameter":"example_value"}"#,
    )
    .unwrap();
    assert_eq!(r.access_token.expose(), "2YotnFZFEjr1zCsicMWpAA");
    assert_eq!(r.expires_in, Some(3600));
    assert_eq!(
        r.refresh_token.as_ref().unwrap().expose(),
        "tGzv3JOkF0XG5Qx2TlKWIA"
    );
    assert!(r.is_token_type("EXAMPLE"));
    // Lenient expires_in, strict otherwise.
    let s =
        TokenResponse::parse(br#"{"access_token":"a","token_type":"Bearer","expires_in":"60"}"#)
            .unwrap();
    assert_eq!(s.expires_in, Some(60));
    for bad in [
        &br#"{"access_token":"a","token_type":"Bearer","expires_in":-1}"#[..],
        br#"{"access_token":"a","token_type":"Bearer","expires_in":"1e3"}"#,
        br#"{"access_token":"a","token_type":"Bearer","expires_in":true}"#,
        br#"{"token_type":"Bearer"}"#,
        br#"{"access_token":5,"token_type":"Bearer"}"#,
        b"[]",
    ] {
        assert_eq!(
            TokenResponse::parse(bad),
            Err(TokenResponseError::Malformed),
            "{}",
            String::from_utf8_lossy(bad)
        );
    }
    assert_eq!(
        TokenResponse::parse(br#"{"access_token":"","token_type":"Bearer"}"#),
        Err(TokenResponseError::Empty)
    );
    // What the authorization server writes, the client reads back.
    let issued = TokenResponse::bearer(AccessToken::new("at"), Some(300))
        .with_refresh_token(RefreshToken::new("rt"))
        .with_scope("mcp:read");
    assert_eq!(TokenResponse::parse(&issued.to_json()).unwrap(), issued);
    let json: serde_json::Value = serde_json::from_slice(&issued.to_json()).unwrap();
    assert!(
        json.get("issued_token_type").is_none(),
        "absent members are not written"
    );
}

proptest! {
    /// Any code round-trips through its wire form, named or not.
    #[test]
    fn codes_round_trip(s in "[a-z_]{1,40}") {
        let code = ErrorCode::parse(&s);
        prop_assert_eq!(code.as_str(), s.as_str());
    }

    /// Parsing never panics, and what parses re-serialises to something that parses to
    /// the same value.
    #[test]
    fn token_response_parse_is_total(body in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(r) = TokenResponse::parse(&body) {
            prop_assert_eq!(TokenResponse::parse(&r.to_json()), Ok(r));
        }
        let _ = ErrorResponse::parse(&body);
    }

    /// Built responses always parse back to themselves.
    #[test]
    fn built_token_responses_round_trip(at in "[ -~]{1,64}", exp in proptest::option::of(any::<u64>()),
                                        rt in proptest::option::of("[ -~]{1,64}"), scope in proptest::option::of("[a-z:]{1,20}")) {
        let mut r = TokenResponse::bearer(AccessToken::new(at), exp);
        if let Some(rt) = rt { r = r.with_refresh_token(RefreshToken::new(rt)); }
        if let Some(s) = scope { r = r.with_scope(s); }
        prop_assert_eq!(TokenResponse::parse(&r.to_json()), Ok(r));
    }
}
