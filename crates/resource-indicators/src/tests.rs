#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use proptest::prelude::*;

fn canon(s: &str) -> Result<String, ResourceError> {
    ResourceUri::parse(s).map(|r| r.as_str().to_owned())
}

/// MCP-RES-7's valid examples stay as they are.
#[test]
fn mcp_spec_valid_examples() {
    for s in [
        "https://mcp.example.com/mcp",
        "https://mcp.example.com",
        "https://mcp.example.com:8443",
        "https://mcp.example.com/server/mcp",
    ] {
        assert_eq!(canon(s).as_deref(), Ok(s));
    }
}

/// MCP-RES-7's invalid examples.
#[test]
fn mcp_spec_invalid_examples() {
    assert_eq!(canon("mcp.example.com"), Err(ResourceError::NotAbsolute));
    assert_eq!(
        canon("https://mcp.example.com#fragment"),
        Err(ResourceError::Fragment)
    );
}

/// MCP-RES-5 and MCP-RES-6: upper case accepted and lowered, bare root slash dropped.
#[test]
fn case_port_and_root_slash() {
    assert_eq!(
        canon("HTTPS://MCP.EXAMPLE.COM/").unwrap(),
        "https://mcp.example.com"
    );
    assert_eq!(
        canon("https://a.example:443/").unwrap(),
        "https://a.example"
    );
    assert_eq!(
        canon("https://a.example:/mcp").unwrap(),
        "https://a.example/mcp"
    );
    assert_eq!(canon("http://localhost:80").unwrap(), "http://localhost");
    assert_eq!(
        canon("https://a.example:80").unwrap(),
        "https://a.example:80"
    );
    assert_eq!(
        canon("https://a.example:08443").unwrap(),
        "https://a.example:8443"
    );
    assert_eq!(
        canon("https://a.example/?x=1").unwrap(),
        "https://a.example?x=1"
    );
    assert_eq!(
        canon("https://a.example?x=1").unwrap(),
        "https://a.example?x=1"
    );
}

/// T2: paths and queries are kept byte for byte.
#[test]
fn path_and_query_kept_byte_for_byte() {
    for s in [
        "https://a.example/mcp/",
        "https://a.example/MCP",
        "https://a.example/a/../b",
        "https://a.example//mcp",
        "https://a.example/%7emcp",
        "https://a.example/mcp?tenant=A&x=%2F",
        "https://a.example/mcp?",
    ] {
        assert_eq!(canon(s).as_deref(), Ok(s), "{s}");
    }
    let r = ResourceUri::parse("https://A.example:8443/p/q?x=1").unwrap();
    assert_eq!(r.scheme(), "https");
    assert_eq!(r.host_str(), "a.example");
    assert_eq!(r.port(), Some(8443));
    assert_eq!(r.port_or_default(), 8443);
    assert_eq!(r.path(), "/p/q");
    assert_eq!(r.query(), Some("x=1"));
    assert_eq!(r.origin(), "https://a.example:8443");
    assert_eq!(r.host_kind(), HostKind::Domain);
    assert_eq!(r.as_url().as_str(), "https://a.example:8443/p/q?x=1");
}

#[test]
fn loopback_http_only() {
    for s in [
        "http://localhost:3000/mcp",
        "http://127.0.0.1:8080",
        "http://127.5.6.7/mcp",
        "http://[::1]:9000/mcp",
        "HTTP://LOCALHOST",
    ] {
        let r = ResourceUri::parse(s).unwrap();
        assert!(r.is_loopback(), "{s}");
    }
    for s in [
        "http://example.com",
        "http://10.0.0.1",
        "http://localhost.example.com",
        "http://[::2]",
        "http://[::ffff:127.0.0.1]",
    ] {
        assert_eq!(canon(s), Err(ResourceError::InsecureHttp), "{s}");
    }
    assert_eq!(canon("http://[::1]").unwrap(), "http://[::1]");
    assert_eq!(
        canon("https://[0:0:0:0:0:0:0:1]/").unwrap(),
        "https://[::1]"
    );
    assert_eq!(
        canon("https://[::FFFF:127.0.0.1]").unwrap(),
        "https://[::ffff:7f00:1]"
    );
}

#[test]
fn one_test_per_error_variant() {
    let long = format!("https://a.example/{}", "a".repeat(MAX_RESOURCE_URI_LEN));
    let cases: &[(&str, ResourceError)] = &[
        (&long, ResourceError::TooLong { len: long.len() }),
        (
            "https://a.example/ mcp",
            ResourceError::InvalidCharacter { position: 18 },
        ),
        (
            "https://a.example/mcp\\x",
            ResourceError::InvalidCharacter { position: 21 },
        ),
        (
            "https://a.example/é",
            ResourceError::InvalidCharacter { position: 18 },
        ),
        (
            "https://a.example/[x]",
            ResourceError::InvalidCharacter { position: 18 },
        ),
        (
            " https://a.example",
            ResourceError::InvalidCharacter { position: 0 },
        ),
        (
            "https://a.example/%zz",
            ResourceError::InvalidPercentEncoding { position: 18 },
        ),
        (
            "https://a.example/%2",
            ResourceError::InvalidPercentEncoding { position: 18 },
        ),
        ("/mcp", ResourceError::NotAbsolute),
        ("https:a.example", ResourceError::NotAbsolute),
        ("1https://a.example", ResourceError::NotAbsolute),
        ("ftp://a.example", ResourceError::UnsupportedScheme),
        ("urn:example:mcp", ResourceError::UnsupportedScheme),
        ("http://a.example", ResourceError::InsecureHttp),
        ("https://a.example#", ResourceError::Fragment),
        ("https://u:p@a.example", ResourceError::Userinfo),
        ("https://@a.example", ResourceError::Userinfo),
        ("https:///mcp", ResourceError::MissingHost),
        ("https://:443", ResourceError::MissingHost),
        ("https://a..example", ResourceError::InvalidHost),
        ("https://a%2eexample", ResourceError::InvalidHost),
        ("https://a!example", ResourceError::InvalidHost),
        ("https://[::1%25eth0]", ResourceError::InvalidHost),
        ("https://[::1]x", ResourceError::InvalidHost),
        ("https://[::1", ResourceError::InvalidHost),
        ("https://a]b", ResourceError::InvalidHost),
        ("https://.", ResourceError::InvalidHost),
        ("https://xn--a.example", ResourceError::InvalidHost),
        ("https://127.1", ResourceError::AmbiguousHost),
        ("https://0x7f.0.0.1", ResourceError::AmbiguousHost),
        ("https://2130706433", ResourceError::AmbiguousHost),
        ("https://127.000.000.001", ResourceError::AmbiguousHost),
        ("https://a.example.123", ResourceError::AmbiguousHost),
        ("https://a.example:65536", ResourceError::InvalidPort),
        ("https://a.example:-1", ResourceError::InvalidPort),
        ("https://a.example:1:2", ResourceError::InvalidPort),
        ("https://a.example:000443", ResourceError::InvalidPort),
    ];
    for (input, want) in cases {
        assert_eq!(canon(input).as_ref(), Err(want), "{input}");
        assert_eq!(want.oauth_error_code(), "invalid_target");
        assert!(!want.to_string().is_empty());
    }
}

#[test]
fn form_encoding() {
    // MCP-RES-7's example encoding.
    let r = ResourceUri::parse("https://mcp.example.com").unwrap();
    assert_eq!(r.form_encoded(), "resource=https%3A%2F%2Fmcp.example.com");
    assert_eq!(r.form_param(), ("resource", "https://mcp.example.com"));

    let r = ResourceUri::parse("https://mcp.example.com/mcp?t=a b").ok();
    assert!(r.is_none(), "a space is not a URI character");

    let r = ResourceUri::parse("https://mcp.example.com/mcp?t=a&u=%20").unwrap();
    let mut url = url::Url::parse("https://as.example/authorize?response_type=code").unwrap();
    r.append_to_url(&mut url);
    let got: Vec<_> = url.query_pairs().collect();
    assert_eq!(got[1].0, "resource");
    assert_eq!(got[1].1, "https://mcp.example.com/mcp?t=a&u=%20");

    let mut form = url::form_urlencoded::Serializer::new(String::new());
    form.append_pair("grant_type", "authorization_code");
    r.append_to_form(&mut form);
    let body = form.finish();
    let back = resources_from_pairs(url::form_urlencoded::parse(body.as_bytes())).unwrap();
    assert_eq!(back, vec![r]);
}

#[test]
fn resources_from_form() {
    let body = b"resource=https%3A%2F%2Fa.example&scope=x&resource=https%3A%2F%2Fb.example%2Fmcp";
    let got = resources_from_pairs(url::form_urlencoded::parse(body)).unwrap();
    let got: Vec<_> = got.iter().map(ResourceUri::as_str).collect();
    assert_eq!(got, ["https://a.example", "https://b.example/mcp"]);

    assert!(
        resources_from_pairs(url::form_urlencoded::parse(b"scope=x"))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        resources_from_pairs(url::form_urlencoded::parse(
            b"resource=https%3A%2F%2Fa.example%23f"
        )),
        Err(FormError::Resource(ResourceError::Fragment))
    );
    let many = "resource=https%3A%2F%2Fa.example&".repeat(MAX_RESOURCES_PER_REQUEST + 1);
    assert_eq!(
        resources_from_pairs(url::form_urlencoded::parse(many.as_bytes())),
        Err(FormError::TooManyResources)
    );
    assert_eq!(
        FormError::TooManyResources.oauth_error_code(),
        "invalid_target"
    );
}

#[test]
fn audience_check() {
    let me = ResourceUri::parse("https://mcp.example.com/mcp").unwrap();
    let one = |s: &str| Audience::One(s.to_owned());

    assert_eq!(
        me.check_audience(Some(&one("https://mcp.example.com/mcp"))),
        Ok(())
    );
    // Different resources, or the same one spelt differently: no normalisation
    // (RFC 7519 7.3; attack catalogue AC-057).
    for other in [
        "https://MCP.example.com:443/mcp",
        "https://mcp.example.com:443/mcp",
        "https://mcp.example.com/%6Dcp",
        "https://mcp.example.com/mcp?x=1",
        "https://mcp.example.com/mcp/",
        "https://mcp.example.com",
        "https://mcp.example.com/MCP",
        "https://evil.example/mcp",
        "http://mcp.example.com/mcp",
        "",
    ] {
        assert_eq!(
            me.check_audience(Some(&one(other))),
            Err(AudienceError::Mismatch { presented: 1 }),
            "{other}"
        );
    }
    assert_eq!(me.check_audience(None), Err(AudienceError::Missing));
    assert_eq!(AudienceError::Missing.oauth_error_code(), "invalid_token");
    assert_eq!(
        me.check_audience(Some(&Audience::Many(vec![]))),
        Err(AudienceError::Mismatch { presented: 0 })
    );
    let many = Audience::Many(vec!["api://x".into(), "https://mcp.example.com/mcp".into()]);
    assert_eq!(me.check_audience(Some(&many)), Ok(()));

    // A set of accepted audiences: the origin is accepted only when listed.
    let root = ResourceUri::parse("https://mcp.example.com").unwrap();
    assert_eq!(
        check_audience(Some(&one("https://mcp.example.com")), &[me.clone(), root]),
        Ok(())
    );
    assert_eq!(
        check_audience(
            Some(&one("https://mcp.example.com")),
            std::slice::from_ref(&me)
        ),
        Err(AudienceError::Mismatch { presented: 1 })
    );
    assert_eq!(
        check_audience(Some(&one("https://mcp.example.com/mcp")), &[]),
        Err(AudienceError::Mismatch { presented: 1 })
    );
}

#[test]
fn audience_deserialisation_is_strict() {
    let de = |s: &str| serde_json::from_str::<Audience>(s);
    assert_eq!(de(r#""a""#).unwrap(), Audience::One("a".into()));
    assert_eq!(
        de(r#"["a","b"]"#).unwrap(),
        Audience::Many(vec!["a".into(), "b".into()])
    );
    for bad in ["1", "null", "{}", r#"["a",1]"#, r#"[["a"]]"#, "true"] {
        assert!(de(bad).is_err(), "{bad}");
    }
    let too_many = serde_json::to_string(&vec!["a"; MAX_AUDIENCE_VALUES + 1]).unwrap();
    assert!(de(&too_many).is_err());
    let just_enough = serde_json::to_string(&vec!["a"; MAX_AUDIENCE_VALUES]).unwrap();
    assert!(de(&just_enough).is_ok());
    let aud = Audience::Many(vec!["x".into(), "y".into()]);
    assert_eq!(aud.iter().collect::<Vec<_>>(), ["x", "y"]);
}

fn uri_strategy() -> impl Strategy<Value = String> {
    let scheme = prop_oneof![Just("https"), Just("HTTPS"), Just("http"), Just("HtTp")];
    let host = prop_oneof![
        "[a-zA-Z][a-zA-Z0-9-]{0,10}(\\.[a-zA-Z][a-zA-Z0-9-]{0,10}){0,3}",
        Just("localhost".to_owned()),
        Just("127.0.0.1".to_owned()),
        Just("[::1]".to_owned()),
        Just("[2001:DB8::1]".to_owned()),
    ];
    let port = proptest::option::of(0u32..70000);
    let path = "(/[a-zA-Z0-9._~!$&'()*+,;=:@%-]{0,8}){0,4}";
    let query = proptest::option::of("[a-zA-Z0-9._~!$&'()*+,;=:@/?-]{0,12}");
    (scheme, host, port, path, query).prop_map(|(s, h, p, path, q)| {
        let mut out = format!("{s}://{h}");
        if let Some(p) = p {
            out.push_str(&format!(":{p}"));
        }
        out.push_str(&path);
        if let Some(q) = q {
            out.push('?');
            out.push_str(&q);
        }
        out
    })
}

proptest! {
    /// Canonicalisation is idempotent, and the canonical form is its own audience.
    #[test]
    fn canonicalisation_is_idempotent(s in uri_strategy()) {
        if let Ok(r) = ResourceUri::parse(&s) {
            let again = ResourceUri::parse(r.as_str()).unwrap();
            prop_assert_eq!(again.as_str(), r.as_str());
            prop_assert!(r.matches_audience_value(r.as_str()));
            prop_assert!(!r.as_str().ends_with("://"));
            prop_assert!(r.as_str().starts_with("https://") || r.as_str().starts_with("http://"));
            // The query survives byte for byte.
            if let Some((_, q)) = s.split_once('?') {
                prop_assert_eq!(r.query(), Some(q));
            }
        }
    }

    /// Arbitrary strings never panic the parser, and whatever parses re-parses to itself.
    #[test]
    fn arbitrary_strings_never_panic(s in ".{0,200}") {
        if let Ok(r) = ResourceUri::parse(&s) {
            prop_assert_eq!(ResourceUri::parse(r.as_str()).unwrap(), r);
        }
    }

    #[test]
    fn arbitrary_uri_shaped_strings_never_panic(s in "[a-zA-Z]{1,5}://[\\[\\]a-zA-Z0-9.:@%/?#-]{0,40}") {
        if let Ok(r) = ResourceUri::parse(&s) {
            prop_assert_eq!(ResourceUri::parse(r.as_str()).unwrap(), r);
        }
    }

    /// The form encoding decodes back to the canonical string.
    #[test]
    fn form_round_trip(s in uri_strategy()) {
        if let Ok(r) = ResourceUri::parse(&s) {
            let enc = r.form_encoded();
            let back = resources_from_pairs(url::form_urlencoded::parse(enc.as_bytes())).unwrap();
            prop_assert_eq!(back, vec![r]);
        }
    }
}
