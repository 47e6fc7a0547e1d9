//! The computations the case file names: byte operations on signatures and key members,
//! token templates, hex.

// Fixed-size big-endian arithmetic over checked lengths.
#![allow(clippy::indexing_slicing)]

type R<T> = Result<T, String>;

/// The P-256 group order n, big-endian.
const P256_N: [u8; 32] = [
    0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51,
];

pub(super) fn hex(s: &str) -> R<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| {
            s.get(i..i + 2)
                .and_then(|p| u8::from_str_radix(p, 16).ok())
                .ok_or_else(|| format!("bad hex {s:?}"))
        })
        .collect()
}

/// `{h}`, `{c}`, `{s}`, `{t}` and the filters of the module doc, filled from `token`.
pub(super) fn template(t: &str, token: &str) -> R<String> {
    let seg: Vec<&str> = token.split('.').collect();
    let (h, c, s) = match seg.as_slice() {
        [h, c, s, ..] => (*h, *c, *s),
        _ => return Err(format!("template over {token:?}: not three segments")),
    };
    let split = c.char_indices().nth(10).map_or(c.len(), |(i, _)| i);
    let (c_head, c_tail) = c.split_at(split);
    let (c_init, last) = c.split_at(c.len().saturating_sub(1));
    // A final character with non-zero unused bits (AC-010).
    let flipped = match last {
        "A" => "B",
        "Q" => "R",
        "g" => "h",
        "w" => "x",
        "B" => "C",
        _ => "B",
    };
    Ok(t.replace("{h}", h)
        .replace("{c}", c)
        .replace("{s}", s)
        .replace("{t}", token)
        .replace("{s/std}", &s.replace('-', "+").replace('_', "/"))
        .replace("{c/nl10}", &format!("{c_head}\n{c_tail}"))
        .replace("{c/noncanonical}", &format!("{c_init}{flipped}")))
}

/// A change to a signature or key member: `flip-first`/`flip-last` (xor 1),
/// `drop-first`/`drop-last`, `prefix-zero`/`append-zero`, and for P-256 `r‖s`:
/// `r-zero`, `s-n` (s := n), `high-s` (s := n − s, the malleable twin) and `der`
/// (`SEQUENCE { INTEGER r, INTEGER s }`, the wrong encoding for JWS).
pub(super) fn byte_op(op: &str, b: &[u8]) -> R<Vec<u8>> {
    let mut v = b.to_vec();
    let half = v.len() / 2;
    match op {
        "flip-first" => v.first_mut().map(|x| *x ^= 1).ok_or("empty")?,
        "flip-last" => v.last_mut().map(|x| *x ^= 1).ok_or("empty")?,
        "drop-first" => v = v.get(1..).ok_or("empty")?.to_vec(),
        "drop-last" => {
            v.pop().ok_or("empty")?;
        }
        "prefix-zero" => v.insert(0, 0),
        "append-zero" => v.push(0),
        "r-zero" => v.iter_mut().take(half).for_each(|x| *x = 0),
        "s-n" => v = [b.get(..32).ok_or("short")?, &P256_N[..]].concat(),
        "high-s" => {
            let (r, s) = b.split_at(half);
            v = [r, &sub256(&P256_N, s)[..]].concat();
        }
        "der" => v = der_signature(b),
        other => return Err(format!("no byte op {other:?}")),
    }
    Ok(v)
}

/// 256-bit big-endian a − b (a ≥ b).
fn sub256(a: &[u8; 32], b: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut borrow = 0i16;
    for (i, o) in out.iter_mut().enumerate().rev() {
        let d = i16::from(a[i]) - i16::from(b.get(i).copied().unwrap_or(0)) - borrow;
        borrow = i16::from(d < 0);
        *o = (d + if d < 0 { 256 } else { 0 }) as u8;
    }
    out
}

/// r‖s → DER `SEQUENCE { INTEGER r, INTEGER s }` (short lengths: P-256 only).
fn der_signature(rs: &[u8]) -> Vec<u8> {
    let int = |v: &[u8]| {
        let v = &v[v.iter().take_while(|b| **b == 0).count()..];
        let pad = v.first().is_some_and(|b| b & 0x80 != 0);
        let mut out = vec![0x02, (v.len() + usize::from(pad)) as u8];
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
