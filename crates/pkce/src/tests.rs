#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

use super::*;
use proptest::prelude::*;

/// RFC 7636 Appendix B (requirement PKCE-3): the 32 octets, the verifier, the challenge.
const APPENDIX_B_OCTETS: [u8; 32] = [
    116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77,
    105, 214, 191, 240, 91, 88, 5, 88, 83, 132, 141, 121,
];
const APPENDIX_B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const APPENDIX_B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

/// A deterministic "CSPRNG" for tests only: it replays a fixed byte pattern.
struct ReplayRng(Vec<u8>, usize);

impl rand_core::TryRng for ReplayRng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst {
            *d = self.0[self.1 % self.0.len()];
            self.1 += 1;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for ReplayRng {}

/// A random source that always fails.
struct BrokenRng;

#[derive(Debug)]
struct Broken;
impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("broken")
    }
}
impl core::error::Error for Broken {}

impl rand_core::TryRng for BrokenRng {
    type Error = Broken;
    fn try_next_u32(&mut self) -> Result<u32, Broken> {
        Err(Broken)
    }
    fn try_next_u64(&mut self) -> Result<u64, Broken> {
        Err(Broken)
    }
    fn try_fill_bytes(&mut self, _: &mut [u8]) -> Result<(), Broken> {
        Err(Broken)
    }
}
impl rand_core::TryCryptoRng for BrokenRng {}

#[test]
fn rfc7636_appendix_b_from_entropy() {
    let v = CodeVerifier::from_entropy(&APPENDIX_B_OCTETS).unwrap();
    assert_eq!(v.as_str(), APPENDIX_B_VERIFIER);
    assert_eq!(v.challenge().as_string(), APPENDIX_B_CHALLENGE);
}

#[test]
fn rfc7636_appendix_b_from_rng() {
    let mut rng = ReplayRng(APPENDIX_B_OCTETS.to_vec(), 0);
    let v = CodeVerifier::generate(&mut rng);
    assert_eq!(v.as_str(), APPENDIX_B_VERIFIER);
    let mut rng = ReplayRng(APPENDIX_B_OCTETS.to_vec(), 0);
    let v = CodeVerifier::try_generate(&mut rng).unwrap();
    assert_eq!(v.as_str(), APPENDIX_B_VERIFIER);
}

#[test]
fn rfc7636_appendix_b_request_parameters() {
    let v = CodeVerifier::parse(APPENDIX_B_VERIFIER).unwrap();
    let params = v.challenge().authorization_params();
    assert_eq!(
        params[0],
        ("code_challenge", APPENDIX_B_CHALLENGE.to_owned())
    );
    assert_eq!(params[1], ("code_challenge_method", "S256".to_owned()));
    assert_eq!(v.token_param(), ("code_verifier", APPENDIX_B_VERIFIER));
}

#[test]
fn rfc7636_appendix_b_server_side() {
    let c = CodeChallenge::from_request(Some(APPENDIX_B_CHALLENGE), Some("S256")).unwrap();
    assert_eq!(c.verify(APPENDIX_B_VERIFIER), Ok(()));
    assert_eq!(c.method(), ChallengeMethod::S256);
    assert_eq!(c.to_string(), APPENDIX_B_CHALLENGE);
}

#[test]
fn rng_failure_is_an_error() {
    assert_eq!(
        CodeVerifier::try_generate(&mut BrokenRng).unwrap_err(),
        PkceError::RandomSource
    );
}

#[test]
fn verifier_length_bounds() {
    assert_eq!(
        CodeVerifier::parse(&"a".repeat(42)).unwrap_err(),
        PkceError::VerifierLength { len: 42 }
    );
    assert_eq!(
        CodeVerifier::parse(&"a".repeat(129)).unwrap_err(),
        PkceError::VerifierLength { len: 129 }
    );
    assert_eq!(
        CodeVerifier::parse("").unwrap_err(),
        PkceError::VerifierLength { len: 0 }
    );
    assert!(CodeVerifier::parse(&"a".repeat(43)).is_ok());
    assert!(CodeVerifier::parse(&"~".repeat(128)).is_ok());
}

#[test]
fn verifier_character_set() {
    let mut s = "a".repeat(50);
    s.replace_range(7..8, "+");
    assert_eq!(
        CodeVerifier::parse(&s).unwrap_err(),
        PkceError::VerifierCharacter { position: 7 }
    );
    // Non-ASCII: the byte length counts, and the first byte of the character is reported.
    let s = format!("{}é", "a".repeat(45));
    assert_eq!(
        CodeVerifier::parse(&s).unwrap_err(),
        PkceError::VerifierCharacter { position: 45 }
    );
    for bad in [" ", "=", "/", "%", "\0", "\n"] {
        let s = format!("{}{bad}", "a".repeat(43));
        assert!(matches!(
            CodeVerifier::parse(&s),
            Err(PkceError::VerifierCharacter { position: 43 })
        ));
    }
}

#[test]
fn entropy_bounds() {
    assert_eq!(
        CodeVerifier::from_entropy(&[0; 31]).unwrap_err(),
        PkceError::EntropyLength { len: 31 }
    );
    assert_eq!(
        CodeVerifier::from_entropy(&[0; 97]).unwrap_err(),
        PkceError::EntropyLength { len: 97 }
    );
    assert_eq!(
        CodeVerifier::from_entropy(&[0; 32]).unwrap().as_str().len(),
        43
    );
    assert_eq!(
        CodeVerifier::from_entropy(&[0; 96]).unwrap().as_str().len(),
        128
    );
}

#[test]
fn plain_and_missing_method_refused() {
    assert_eq!(
        CodeChallenge::from_request(Some(APPENDIX_B_VERIFIER), Some("plain")).unwrap_err(),
        PkceError::PlainRefused
    );
    // RFC 7636 §4.3: an omitted method defaults to plain.
    assert_eq!(
        CodeChallenge::from_request(Some(APPENDIX_B_CHALLENGE), None).unwrap_err(),
        PkceError::PlainRefused
    );
    assert_eq!(
        PkceError::PlainRefused.oauth_error_code(),
        "invalid_request"
    );
}

#[test]
fn unsupported_method_refused() {
    for m in ["s256", "S512", "", "S256 "] {
        assert_eq!(
            CodeChallenge::from_request(Some(APPENDIX_B_CHALLENGE), Some(m)).unwrap_err(),
            PkceError::UnsupportedMethod,
            "{m:?}"
        );
    }
}

#[test]
fn missing_challenge_refused() {
    assert_eq!(
        CodeChallenge::from_request(None, Some("S256")).unwrap_err(),
        PkceError::MissingChallenge
    );
    assert_eq!(
        PkceError::MissingChallenge.oauth_error_code(),
        "invalid_request"
    );
}

#[test]
fn malformed_challenge_refused() {
    let padded = format!("{APPENDIX_B_CHALLENGE}=");
    // Last character 'N' sets bits below the 256th: a non-canonical encoding.
    let stray_bits = format!("{}N", &APPENDIX_B_CHALLENGE[..42]);
    for bad in [
        "",
        &APPENDIX_B_CHALLENGE[..42],
        padded.as_str(),
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw+cM",
        "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw/cM",
        stray_bits.as_str(),
    ] {
        assert_eq!(
            CodeChallenge::parse_s256(bad).unwrap_err(),
            PkceError::MalformedChallenge,
            "{bad:?}"
        );
    }
}

#[test]
fn mismatch_is_invalid_grant() {
    let c = CodeChallenge::parse_s256(APPENDIX_B_CHALLENGE).unwrap();
    let other = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK";
    assert_eq!(c.verify(other).unwrap_err(), PkceError::Mismatch);
    assert_eq!(PkceError::Mismatch.oauth_error_code(), "invalid_grant");
    // A malformed verifier is refused before hashing.
    assert_eq!(
        c.verify("short").unwrap_err(),
        PkceError::VerifierLength { len: 5 }
    );
}

#[test]
fn verifier_is_redacted() {
    let v = CodeVerifier::parse(APPENDIX_B_VERIFIER).unwrap();
    let dbg = format!("{v:?}");
    assert!(!dbg.contains(APPENDIX_B_VERIFIER), "{dbg}");
    // Errors never carry the verifier either.
    let err = CodeVerifier::parse(&format!("{APPENDIX_B_VERIFIER}+")).unwrap_err();
    assert!(!err.to_string().contains(APPENDIX_B_VERIFIER));
    assert!(!format!("{err:?}").contains(APPENDIX_B_VERIFIER));
}

#[test]
fn every_error_displays() {
    let all = [
        PkceError::VerifierLength { len: 1 },
        PkceError::VerifierCharacter { position: 2 },
        PkceError::EntropyLength { len: 3 },
        PkceError::RandomSource,
        PkceError::PlainRefused,
        PkceError::UnsupportedMethod,
        PkceError::MissingChallenge,
        PkceError::MalformedChallenge,
        PkceError::Mismatch,
    ];
    for e in all {
        assert!(!e.to_string().is_empty());
    }
}

fn verifier_strategy() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[A-Za-z0-9._~-]{43,128}").unwrap()
}

proptest! {
    /// Generation → challenge → verification round trip (PKCE-3, PKCE-11).
    #[test]
    fn generated_verifier_round_trips(entropy in proptest::collection::vec(any::<u8>(), 32..=96)) {
        let v = CodeVerifier::from_entropy(&entropy).unwrap();
        prop_assert!((MIN_VERIFIER_LEN..=MAX_VERIFIER_LEN).contains(&v.as_str().len()));
        prop_assert!(CodeVerifier::parse(v.as_str()).is_ok());
        let sent = v.challenge().as_string();
        let stored = CodeChallenge::from_request(Some(&sent), Some("S256")).unwrap();
        prop_assert_eq!(stored.verify(v.as_str()), Ok(()));
    }

    #[test]
    fn any_valid_verifier_round_trips(s in verifier_strategy()) {
        let v = CodeVerifier::parse(&s).unwrap();
        let c = CodeChallenge::parse_s256(&v.challenge().as_string()).unwrap();
        prop_assert_eq!(c.verify(&s), Ok(()));
    }

    #[test]
    fn different_verifiers_do_not_verify(a in verifier_strategy(), b in verifier_strategy()) {
        prop_assume!(a != b);
        let c = CodeVerifier::parse(&a).unwrap().challenge();
        prop_assert_eq!(c.verify(&b), Err(PkceError::Mismatch));
    }

    /// Arbitrary input never panics a parser, and what parses obeys RFC 7636 §4.1.
    #[test]
    fn parsers_never_panic(s in ".*", m in proptest::option::of(".*")) {
        if let Ok(v) = CodeVerifier::parse(&s) {
            prop_assert!((43..=128).contains(&v.as_str().len()));
            prop_assert!(v.as_str().bytes().all(is_unreserved));
        }
        if let Ok(c) = CodeChallenge::from_request(Some(&s), m.as_deref()) {
            prop_assert_eq!(c.as_string(), s.clone());
            prop_assert_eq!(m.as_deref(), Some("S256"));
        }
        let _ = ChallengeMethod::parse(m.as_deref());
    }
}

#[test]
fn verifiers_compare_by_value() {
    let a = "a".repeat(43);
    let mut b = "a".repeat(42);
    b.push('b');
    assert_eq!(
        CodeVerifier::parse(&a).unwrap(),
        CodeVerifier::parse(&a).unwrap()
    );
    assert_ne!(
        CodeVerifier::parse(&a).unwrap(),
        CodeVerifier::parse(&b).unwrap()
    );
    assert_ne!(
        CodeVerifier::parse(&a).unwrap(),
        CodeVerifier::parse(&"a".repeat(44)).unwrap()
    );
}
