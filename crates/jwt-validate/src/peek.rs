//! The one unverified look inside a token: which key and which issuer it names, to choose
//! the keys and the validator that will then verify it.

use serde::de::{DeserializeOwned, IgnoredAny};
use serde::{Deserialize, Deserializer};

use crate::Algorithm;
use crate::token::{STACK_DECODE, decode, decode_small};

/// Longest token [`peek`] reads; a longer one is not looked at. Matches
/// [`DEFAULT_MAX_TOKEN_LEN`](crate::DEFAULT_MAX_TOKEN_LEN): the validator refuses
/// anything longer by default anyway.
pub const MAX_PEEK_LEN: usize = 16 * 1024;

/// Longest header segment read (base64url of a 2 KiB header, the validator's limit).
const MAX_PEEK_HEADER: usize = 2048 * 4 / 3 + 4;

/// What a token says about itself before anything is verified. **Untrusted**: use it only
/// to pick keys (`kid`) or a validator (`iss`), never to decide anything else.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Peeked {
    /// The header's `alg`, when it is one this crate verifies.
    pub alg: Option<Algorithm>,
    /// The header's `kid`, when a string.
    pub kid: Option<String>,
    /// The header's `typ`, when a string.
    pub typ: Option<String>,
    /// The claims' `iss`, when a string.
    pub iss: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    #[serde(default, deserialize_with = "string")]
    alg: Option<String>,
    #[serde(default, deserialize_with = "string")]
    kid: Option<String>,
    #[serde(default, deserialize_with = "string")]
    typ: Option<String>,
}

#[derive(Deserialize)]
struct Issuer {
    #[serde(default, deserialize_with = "string")]
    iss: Option<String>,
}

/// A member that is a string, or `None` when it is of another type (one odd member
/// does not hide the others).
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Member {
        Text(String),
        Other(IgnoredAny),
    }
    Ok(match Member::deserialize(d)? {
        Member::Text(s) => Some(s),
        Member::Other(_) => None,
    })
}

/// Decodes a base64url segment and reads it as `T`; `None` on any failure.
fn read<T: DeserializeOwned>(segment: &str) -> Option<T> {
    let mut stack = [0u8; STACK_DECODE];
    let heap;
    let bytes = match decode_small(segment, &mut stack).ok()? {
        Some(b) => b,
        None => {
            heap = decode(segment).ok()?;
            heap.as_slice()
        }
    };
    // serde would map an array onto a struct by position.
    let object = bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
    object.then(|| serde_json::from_slice(bytes).ok()).flatten()
}

/// The header's `alg`, `kid`, `typ` and the claims' `iss` of a compact JWS, **without
/// verifying anything** (RFC 8725 §2.6 on the risks; AC-035: claims are trusted only after
/// the signature).
///
/// `None` when the token is longer than [`MAX_PEEK_LEN`] or has no `.`; otherwise each
/// member is read on its own: absent when its segment does not decode or is not a JSON
/// object (duplicate members included), or when the member is not a string. Work is bounded by the length cap (one base64 decode
/// and one JSON read per segment; serde_json's depth limit bounds nesting), and no input
/// panics.
pub fn peek(token: &str) -> Option<Peeked> {
    if token.len() > MAX_PEEK_LEN {
        return None;
    }
    let (h64, rest) = token.split_once('.')?;
    let c64 = rest.split_once('.').map_or(rest, |(c, _)| c);
    let mut out = Peeked::default();
    if h64.len() <= MAX_PEEK_HEADER
        && let Some(h) = read::<Header>(h64)
    {
        out.alg = h.alg.as_deref().and_then(Algorithm::parse);
        out.kid = h.kid;
        out.typ = h.typ;
    }
    if let Some(c) = read::<Issuer>(c64) {
        out.iss = c.iss;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use proptest::prelude::*;

    use super::*;

    fn seg(json: &str) -> String {
        URL_SAFE_NO_PAD.encode(json)
    }

    #[test]
    fn reads_header_and_issuer() {
        let t = format!(
            "{}.{}.sig",
            seg(r#"{"alg":"RS256","kid":"k1","typ":"at+jwt"}"#),
            seg(r#"{"iss":"https://as.example.com","sub":"x"}"#)
        );
        let p = peek(&t).unwrap();
        assert_eq!(p.alg, Some(Algorithm::RS256));
        assert_eq!(p.kid.as_deref(), Some("k1"));
        assert_eq!(p.typ.as_deref(), Some("at+jwt"));
        assert_eq!(p.iss.as_deref(), Some("https://as.example.com"));
    }

    /// Each member on its own: an odd member or a broken segment hides nothing else.
    #[test]
    fn members_are_read_one_by_one() {
        let t = format!(
            "{}.{}",
            seg(r#"{"alg":"none","kid":7,"typ":null}"#),
            seg(r#"{"iss":"i"}"#)
        );
        let p = peek(&t).unwrap();
        assert_eq!((p.alg, p.kid, p.typ), (None, None, None));
        assert_eq!(p.iss.as_deref(), Some("i"));

        let t = format!("%%%.{}", seg(r#"{"iss":"i"}"#));
        assert_eq!(peek(&t).unwrap().iss.as_deref(), Some("i"));
        let t = format!("{}.!!.x", seg(r#"{"kid":"k"}"#));
        let p = peek(&t).unwrap();
        assert_eq!((p.kid.as_deref(), p.iss), (Some("k"), None));
        // An array is not an object, though serde would read it by position.
        let t = format!("{}.{}", seg(r#"["ES256","k"]"#), seg(r#"["i"]"#));
        assert_eq!(peek(&t).unwrap(), Peeked::default());
        // Duplicate members make the segment unreadable.
        let t = format!(".{}", seg(r#"{"iss":"a","iss":"b"}"#));
        assert_eq!(peek(&t).unwrap().iss, None);
    }

    #[test]
    fn refuses_what_it_will_not_read() {
        assert_eq!(peek("no-dot"), None);
        assert_eq!(peek(""), None);
        let long = format!("{}.{}", seg(r#"{"kid":"k"}"#), "A".repeat(MAX_PEEK_LEN));
        assert_eq!(peek(&long), None);
        // A header past the validator's size limit is not read; the issuer still is.
        let big = format!(r#"{{"kid":"{}"}}"#, "k".repeat(2100));
        let t = format!("{}.{}", seg(&big), seg(r#"{"iss":"i"}"#));
        let p = peek(&t).unwrap();
        assert_eq!((p.kid, p.iss.as_deref()), (None, Some("i")));
    }

    proptest! {
        /// Bounded, total: any string gives an answer without panicking, and nothing
        /// over the cap is read.
        #[test]
        fn never_panics(s in "\\PC{0,300}") {
            let _ = peek(&s);
        }

        #[test]
        fn never_panics_on_segments(a in "[A-Za-z0-9_.-]{0,200}", b in "[A-Za-z0-9_-]{0,200}") {
            let t = format!("{a}.{b}");
            prop_assert!(peek(&t).is_some());
        }

        /// Any string members round-trip through base64url JSON segments.
        #[test]
        fn reads_back_any_strings(kid in "\\PC{0,50}", iss in "\\PC{0,50}") {
            let h = serde_json::json!({"alg": "ES256", "kid": kid}).to_string();
            let c = serde_json::json!({"iss": iss}).to_string();
            let p = peek(&format!("{}.{}.", seg(&h), seg(&c))).unwrap();
            prop_assert_eq!(p.kid, Some(kid));
            prop_assert_eq!(p.iss, Some(iss));
        }
    }
}
