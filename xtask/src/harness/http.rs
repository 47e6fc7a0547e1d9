//! A minimal blocking HTTP/1.1 client for loopback servers, and token forgery for tests.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A response from [`http()`].
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: String,
}

impl Reply {
    /// The first header named `name` (case-insensitive).
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Parses a raw HTTP/1.1 response (head and body); `from` names the peer in errors.
    fn parse(text: &str, from: &str) -> Result<Reply, String> {
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((text, ""));
        let mut lines = head.lines();
        let status = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("no HTTP status from {from}"))?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Ok(Reply {
            status,
            headers,
            body: body.to_owned(),
        })
    }
}

/// A minimal blocking HTTP/1.1 exchange on loopback (no TLS, `Connection: close`).
pub(crate) fn http(
    method: &str,
    addr: SocketAddr,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> Result<Reply, String> {
    let mut s =
        TcpStream::connect_timeout(&addr, Duration::from_secs(5)).map_err(|e| e.to_string())?;
    s.set_read_timeout(Some(Duration::from_secs(20)))
        .map_err(|e| e.to_string())?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).map_err(|e| e.to_string())?;
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    Reply::parse(&String::from_utf8_lossy(&raw), &format!("{addr}{path}"))
}

/// `token` with the first byte of its signature flipped: well-formed, never valid.
pub(crate) fn forge(token: &str) -> Result<String, String> {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let sig_part = parts.get_mut(2).ok_or("the token has no signature")?;
    let mut sig = URL_SAFE_NO_PAD
        .decode(&*sig_part)
        .map_err(|e| e.to_string())?;
    if let Some(b) = sig.first_mut() {
        *b ^= 1;
    }
    *sig_part = URL_SAFE_NO_PAD.encode(sig);
    Ok(parts.join("."))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_headers_and_body() {
        let r = Reply::parse(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer x\r\nA: b\r\n\r\n{}",
            "t",
        )
        .unwrap();
        assert_eq!(r.status, 401);
        assert_eq!(r.header("www-authenticate"), Some("Bearer x"));
        assert_eq!(r.body, "{}");
        assert!(Reply::parse("garbage", "t").is_err());
    }

    #[test]
    fn http_talks_to_a_loopback_server() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().unwrap();
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).unwrap();
            let req = String::from_utf8_lossy(&buf[..n]).into_owned();
            s.write_all(b"HTTP/1.1 200 OK\r\nX-T: 1\r\n\r\nhello")
                .unwrap();
            req
        });
        let r = http("POST", addr, "/p", &[("A", "b".into())], "body").unwrap();
        let req = server.join().unwrap();
        assert!(req.starts_with("POST /p HTTP/1.1\r\n"), "{req}");
        assert!(
            req.contains("A: b\r\n") && req.ends_with("\r\n\r\nbody"),
            "{req}"
        );
        assert_eq!(
            (r.status, r.header("x-t"), r.body.as_str()),
            (200, Some("1"), "hello")
        );
    }

    #[test]
    fn forge_flips_the_first_signature_byte_only() {
        let t = format!("h.p.{}", URL_SAFE_NO_PAD.encode([0u8, 7]));
        assert_eq!(
            forge(&t).unwrap(),
            format!("h.p.{}", URL_SAFE_NO_PAD.encode([1u8, 7]))
        );
        assert!(forge("h.p").is_err());
    }
}
