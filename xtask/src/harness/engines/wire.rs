//! The few messages of the PostgreSQL wire protocol (v3) xtask needs to create a
//! database and check the server answers, so no `psql` is required.

use std::io::{Read, Write};
use std::net::SocketAddr;

use super::connect;

/// Runs `sql` as user `postgres` on `database` over Postgres's wire protocol (trust
/// auth, simple query): enough to wait for the server and create the database without
/// needing `psql`.
pub(super) fn pg_query(addr: SocketAddr, database: &str, sql: &str) -> Result<(), String> {
    let mut s = connect(addr)?;
    let io = |e: std::io::Error| e.to_string();
    s.write_all(&startup_message("postgres", database))
        .map_err(io)?;
    until_ready(&mut s)?;
    s.write_all(&query_message(sql)).map_err(io)?;
    until_ready(&mut s)?;
    // Terminate; the server closes the connection.
    let _ = s.write_all(&[b'X', 0, 0, 0, 4]);
    Ok(())
}

/// Reads messages until `ReadyForQuery`; an `ErrorResponse` on the way is the error
/// (also when the server then closes the connection, as it does before authentication),
/// and so is authentication other than `AuthenticationOk` (the server must trust us).
pub(super) fn until_ready(r: &mut impl Read) -> Result<(), String> {
    let mut error = None;
    loop {
        let (tag, body) = match read_message(r) {
            Ok(m) => m,
            Err(e) => return Err(error.unwrap_or_else(|| e.to_string())),
        };
        match tag {
            b'R' if body != [0, 0, 0, 0] => {
                return Err("the server asks for a password (trust auth expected)".into());
            }
            b'E' if error.is_none() => error = Some(error_text(&body)),
            b'Z' => return error.map_or(Ok(()), Err),
            _ => {}
        }
    }
}

/// A protocol-3.0 `StartupMessage` for `user` on `database`.
pub(super) fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut body = 196_608_u32.to_be_bytes().to_vec(); // 3 << 16: protocol 3.0
    for s in ["user", user, "database", database] {
        body.extend_from_slice(s.as_bytes());
        body.push(0);
    }
    body.push(0);
    with_length(None, body)
}

/// A simple `Query` message.
pub(super) fn query_message(sql: &str) -> Vec<u8> {
    let mut body = sql.as_bytes().to_vec();
    body.push(0);
    with_length(Some(b'Q'), body)
}

/// `[tag] length body`, the length counting itself and the body.
pub(super) fn with_length(tag: Option<u8>, body: Vec<u8>) -> Vec<u8> {
    let len = u32::try_from(body.len() + 4).unwrap_or(u32::MAX);
    let mut out: Vec<u8> = tag.into_iter().collect();
    out.extend_from_slice(&len.to_be_bytes());
    out.extend(body);
    out
}

/// One backend message: its tag and body.
pub(super) fn read_message(r: &mut impl Read) -> std::io::Result<(u8, Vec<u8>)> {
    let mut head = [0u8; 5];
    r.read_exact(&mut head)?;
    let [tag, l0, l1, l2, l3] = head;
    let len = u32::from_be_bytes([l0, l1, l2, l3]);
    let Some(body_len) = usize::try_from(len).ok().and_then(|l| l.checked_sub(4)) else {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("message length {len}"),
        ));
    };
    let mut body = vec![0; body_len];
    r.read_exact(&mut body)?;
    Ok((tag, body))
}

/// An `ErrorResponse`'s text: `SEVERITY: message` from its `S`/`V` and `M` fields.
pub(super) fn error_text(body: &[u8]) -> String {
    let (mut severity, mut message) = (String::new(), String::new());
    for field in body.split(|b| *b == 0) {
        if let Some((kind, value)) = field.split_first() {
            let value = String::from_utf8_lossy(value).into_owned();
            match kind {
                b'V' => severity = value,
                b'S' if severity.is_empty() => severity = value,
                b'M' => message = value,
                _ => {}
            }
        }
    }
    format!("{severity}: {message}")
}
