#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use http::{HeaderMap, HeaderValue, header};

use crate::jwks_cache::max_age;
use crate::policy::normalize_typ;
use crate::{Algorithm, Policy};

#[test]
fn algorithm_names_are_exact() {
    for a in Algorithm::ALL {
        assert_eq!(Algorithm::parse(a.as_str()), Some(a));
        assert_eq!(a.to_string(), a.as_str());
    }
    for bad in [
        "none", "None", "HS256", "rs256", "RS256 ", "", "ES512", "Ed25519",
    ] {
        assert_eq!(Algorithm::parse(bad), None, "{bad}");
    }
    assert_eq!(Algorithm::ES384.fixed_signature_len(), Some(96));
    assert_eq!(Algorithm::PS256.fixed_signature_len(), None);
    assert!(Algorithm::PS512.is_rsa() && !Algorithm::EdDSA.is_rsa());
}

#[test]
fn typ_normalisation() {
    assert_eq!(normalize_typ("Application/AT+JWT"), "at+jwt");
    assert_eq!(normalize_typ("at+jwt"), "at+jwt");
    assert_eq!(normalize_typ("at+jwt "), "at+jwt ");
}

#[test]
fn cache_control_max_age() {
    let h = |v: &str| {
        let mut m = HeaderMap::new();
        m.insert(header::CACHE_CONTROL, HeaderValue::from_str(v).unwrap());
        m
    };
    assert_eq!(max_age(&h("public, max-age=600")), Some(600));
    assert_eq!(max_age(&h("Max-Age=\"30\", max-age=9")), Some(30));
    assert_eq!(max_age(&h("no-store, max-age=600")), Some(0));
    assert_eq!(max_age(&h("max-age=-1")), None);
    assert_eq!(max_age(&HeaderMap::new()), None);
}

#[test]
fn policy_defaults_are_secure() {
    let p = Policy::from_lists(["https://as.example"], ["https://mcp.example"]);
    assert_eq!(p.allowed_algorithms(), Algorithm::ALL);
    assert_eq!(p.leeway_secs(), 60);
    assert_eq!(p.issuers(), ["https://as.example"]);
    assert_eq!(p.audiences(), ["https://mcp.example"]);
}

/// Segments decode as strict base64url (AC-009, AC-010): no padding, no standard-alphabet
/// characters, no stray bits in the last character, no impossible lengths; at stack and
/// heap sizes alike.
#[test]
fn segment_decoding_is_strict_base64url() {
    use crate::token::{decode, decode_small};
    let mut buf = [0u8; crate::token::STACK_DECODE];
    assert_eq!(decode_small("QQ", &mut buf).unwrap(), Some(&b"A"[..]));
    assert_eq!(decode("QUI").unwrap(), b"AB");
    assert_eq!(decode("-_8").unwrap(), [0xfb, 0xff]);
    for bad in [
        "QR", "QUJ", "QQ==", "QQ=", "Q", "QUJDR", "+/8", "QU I", "QU.I", "QUI\n",
    ] {
        assert!(decode_small(bad, &mut buf).is_err(), "{bad:?}");
        assert!(decode(bad).is_err(), "{bad:?}");
    }
    // Too big for the stack buffer: the heap path, with the same rules.
    let long = "QUJD".repeat(200);
    assert_eq!(decode_small(&long, &mut buf).unwrap(), None);
    assert_eq!(decode(&long).unwrap(), b"ABC".repeat(200));
    assert!(decode(&format!("{long}QR")).is_err());
}

/// The in-place claims reader: one value per registered claim in any spelling (AC-015),
/// unknown members skipped, `cnf: null` absent, only objects.
#[test]
fn claims_reader_rules() {
    use crate::claims::Claims;
    let read = |json: &str| {
        let mut c = Claims::default();
        c.read(json).map(|()| {
            (
                c.iss.get().ok().flatten().map(|s| s.into_owned()),
                c.cnf.is_some(),
            )
        })
    };
    assert_eq!(
        read(r#"{"iss":"a","x":{"iss":"b"},"y":[1,{"z":null}]}"#).unwrap(),
        (Some("a".into()), false)
    );
    assert_eq!(read(r#"{"\u0069ss":"a"}"#).unwrap().0.as_deref(), Some("a"));
    assert!(read(r#"{"iss":"a","\u0069ss":"b"}"#).is_err());
    assert!(read(r#"{"iss":"a","iss":"a"}"#).is_err());
    assert!(read(r#"{"exp":1,"exp":"x"}"#).is_err());
    assert!(
        read(r#"{"x":1,"x":2}"#).is_ok(),
        "unknown members are not ours to judge"
    );
    assert!(!read(r#"{"cnf":null}"#).unwrap().1);
    assert!(read(r#"{"cnf":{"jkt":"x"}}"#).unwrap().1);
    for bad in [r#"["iss","a"]"#, r#""iss""#, "{", r#"{"iss":"a"} x"#, ""] {
        assert!(read(bad).is_err(), "{bad}");
    }
}

/// O21-18, MCP-RS-1, JWTBCP-11: an introspection response for an active refresh token
/// (RFC 7662 `token_type: refresh_token`, which this project's own authorization server
/// answers for its 30-day refresh tokens) is refused, as is any `token_type` that is not
/// an access token type; an absent or `null` `token_type`, and `Bearer` or `DPoP` in any
/// case, are accepted. The refusal is `invalid_token` (401).
#[test]
fn introspected_refresh_tokens_are_not_access_tokens() {
    use http::StatusCode;
    use mcp_oauth_common::BearerError;
    use mcp_oauth_common::UnixTime;

    use crate::{JwtError, parse_introspection};

    let now = 1_800_000_000_u64;
    let policy = Policy::from_lists(["https://as.example"], ["https://mcp.example/mcp"]);
    let body = |token_type: &str| {
        let member = if token_type.is_empty() {
            String::new()
        } else {
            format!(r#""token_type":{token_type},"#)
        };
        format!(
            r#"{{"active":true,{member}"iss":"https://as.example","aud":"https://mcp.example/mcp","exp":{},"client_id":"c","sub":"u","scope":"mcp"}}"#,
            now + 86_400 * 30
        )
    };
    let parse = |token_type: &str| {
        parse_introspection(
            &policy,
            StatusCode::OK,
            body(token_type).as_bytes(),
            UnixTime(now),
        )
    };
    for access in [
        "",
        "null",
        r#""Bearer""#,
        r#""bearer""#,
        r#""BEARER""#,
        r#""DPoP""#,
        r#""dpop""#,
        r#""B\u0065arer""#,
    ] {
        let ctx = parse(access);
        assert_eq!(ctx.as_ref().map(|c| c.subject()), Ok(Some("u")), "{access}");
    }
    for not_access in [
        r#""refresh_token""#,
        r#""Refresh_Token""#,
        r#""N_A""#,
        r#""access_token""#,
        r#""Bearer ""#,
        r#""""#,
        r#""mac""#,
        "1",
        "true",
        r#"["Bearer"]"#,
        r#"{"type":"Bearer"}"#,
    ] {
        let err = parse(not_access).unwrap_err();
        assert_eq!(err, JwtError::NotAnAccessToken, "{not_access}");
        assert_eq!(err.bearer_error(), BearerError::InvalidToken);
    }
    // Two `token_type` members make the response unusable, whatever they say.
    let twice = body(r#""Bearer","token_type":"refresh_token""#);
    assert!(parse_introspection(&policy, StatusCode::OK, twice.as_bytes(), UnixTime(now)).is_err());
}
