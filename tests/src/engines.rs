//! The real database engines tests run against: a private PostgreSQL and a `redis-server`
//! that `cargo xtask` starts (`cargo xtask ci`'s test step, or
//! `cargo xtask engines -- cargo test ...`) and announces through two environment
//! variables holding their URLs.
//!
//! A test asks [`postgres_url`] or [`redis_url`]: with the variable set it gets the URL;
//! without it, it returns early (the engine is skipped, with a notice on stderr), except
//! under `CI=true`, where a missing engine fails the test: CI never skips one.
//!
//! [`resp`] speaks just enough of Redis's protocol (RESP2) to send commands and read
//! replies over a plain `TcpStream`; xtask uses it to wait for `PING`, the tests to prove
//! the engine is real.

use std::env;

/// The environment variable holding the Postgres URL,
/// `postgres://postgres@127.0.0.1:PORT/mcp_oauth`.
pub const POSTGRES_VAR: &str = "MCP_OAUTH_TEST_POSTGRES";

/// The environment variable holding the Redis URL, `redis://127.0.0.1:PORT/`.
pub const REDIS_VAR: &str = "MCP_OAUTH_TEST_REDIS";

/// The Postgres URL from [`POSTGRES_VAR`], or `None` (with a skip notice on stderr) when
/// it is not set.
///
/// # Panics
///
/// When it is not set and `CI=true`: CI never skips an engine.
pub fn postgres_url() -> Option<String> {
    engine_url("Postgres", POSTGRES_VAR)
}

/// The Redis URL from [`REDIS_VAR`], or `None` (with a skip notice on stderr) when it is
/// not set.
///
/// # Panics
///
/// When it is not set and `CI=true`: CI never skips an engine.
pub fn redis_url() -> Option<String> {
    engine_url("Redis", REDIS_VAR)
}

/// Whether the `CI` environment variable says this is a CI run (`true` or `1`).
pub fn is_ci() -> bool {
    env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// [`decide`] on the real environment: prints the skip notice, panics under CI.
#[allow(
    clippy::panic,
    reason = "test support: a missing engine under CI must fail the test that needs it"
)]
fn engine_url(engine: &str, var: &str) -> Option<String> {
    match decide(engine, var, env::var(var).ok(), is_ci()) {
        Ok(Some(url)) => Some(url),
        Ok(None) => {
            eprintln!(
                "skipped: {var} is not set, so no {engine}; `cargo xtask engines -- cargo test` starts one"
            );
            None
        }
        Err(message) => panic!("{message}"),
    }
}

/// What a test does about `engine`: `Ok(Some(url))` when `value` (the variable's value)
/// is set and not empty, `Ok(None)` (skip) when it is not, and `Err(message)` when it is
/// not but `ci` is true.
pub fn decide(
    engine: &str,
    var: &str,
    value: Option<String>,
    ci: bool,
) -> Result<Option<String>, String> {
    match value.filter(|v| !v.trim().is_empty()) {
        Some(url) => Ok(Some(url)),
        None if ci => Err(format!(
            "CI=true: the {engine} engine is required ({var} is not set); run through \
             `cargo xtask ci` or `cargo xtask engines -- cargo test`"
        )),
        None => Ok(None),
    }
}

/// The loopback `host:port` of a `postgres://` or `redis://` URL of the form xtask
/// writes (`scheme://[user@]host:port[/path]`), for a plain `TcpStream`.
pub fn host_port(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    (!host_port.is_empty()).then_some(host_port)
}

pub mod resp {
    //! A minimal RESP2 client: commands as arrays of bulk strings, replies parsed into
    //! [`Reply`].

    use std::io::{self, BufRead, BufReader, Write};
    use std::net::TcpStream;

    /// One RESP2 reply.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Reply {
        /// `+OK`.
        Simple(String),
        /// `-ERR ...`.
        Error(String),
        /// `:42`.
        Integer(i64),
        /// `$3\r\nabc`, or `$-1` (nil) as `None`.
        Bulk(Option<Vec<u8>>),
        /// `*2 ...`, or `*-1` (nil) as `None`.
        Array(Option<Vec<Reply>>),
    }

    /// A command as RESP sends it: an array of bulk strings.
    pub fn encode(args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
            out.extend_from_slice(a.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        out
    }

    /// Reads one reply (arrays recursively).
    pub fn read_reply(r: &mut impl BufRead) -> io::Result<Reply> {
        let line = read_line(r)?;
        let (kind, rest) = line.split_at_checked(1).ok_or_else(|| bad("empty reply"))?;
        match kind {
            "+" => Ok(Reply::Simple(rest.to_owned())),
            "-" => Ok(Reply::Error(rest.to_owned())),
            ":" => Ok(Reply::Integer(number(rest)?)),
            "$" => match usize::try_from(number(rest)?) {
                Err(_) => Ok(Reply::Bulk(None)),
                Ok(len) => {
                    let mut data = vec![0; len + 2];
                    r.read_exact(&mut data)?;
                    if !data.ends_with(b"\r\n") {
                        return Err(bad("bulk string not terminated by CRLF"));
                    }
                    data.truncate(len);
                    Ok(Reply::Bulk(Some(data)))
                }
            },
            "*" => match usize::try_from(number(rest)?) {
                Err(_) => Ok(Reply::Array(None)),
                Ok(n) => (0..n)
                    .map(|_| read_reply(r))
                    .collect::<io::Result<_>>()
                    .map(|v| Reply::Array(Some(v))),
            },
            other => Err(bad(&format!("unknown reply type `{other}`"))),
        }
    }

    /// Sends one command and reads its reply.
    pub fn command(stream: &mut TcpStream, args: &[&str]) -> io::Result<Reply> {
        stream.write_all(&encode(args))?;
        read_reply(&mut BufReader::new(stream))
    }

    /// One CRLF-terminated line, without the CRLF.
    fn read_line(r: &mut impl BufRead) -> io::Result<String> {
        let mut line = String::new();
        if r.read_line(&mut line)? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        line.strip_suffix("\r\n")
            .map(str::to_owned)
            .ok_or_else(|| bad("reply line not terminated by CRLF"))
    }

    fn number(s: &str) -> io::Result<i64> {
        s.parse()
            .map_err(|_| bad(&format!("`{s}` is not a RESP integer")))
    }

    fn bad(what: &str) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, format!("RESP: {what}"))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::resp::{Reply, encode, read_reply};
    use super::*;

    #[test]
    fn a_set_variable_is_used_an_unset_one_skips_or_fails_under_ci() {
        let url = Some("redis://127.0.0.1:1/".to_owned());
        assert_eq!(
            decide("Redis", REDIS_VAR, url.clone(), false),
            Ok(url.clone())
        );
        assert_eq!(decide("Redis", REDIS_VAR, url.clone(), true), Ok(url));
        assert_eq!(decide("Redis", REDIS_VAR, None, false), Ok(None));
        assert_eq!(
            decide("Redis", REDIS_VAR, Some(" ".into()), false),
            Ok(None)
        );
        let e = decide("Postgres", POSTGRES_VAR, None, true).unwrap_err();
        assert!(
            e.starts_with("CI=true: the Postgres engine is required"),
            "{e}"
        );
        assert!(e.contains(POSTGRES_VAR) && e.contains("cargo xtask engines -- cargo test"));
    }

    #[test]
    fn host_port_comes_out_of_both_url_forms() {
        assert_eq!(
            host_port("postgres://postgres@127.0.0.1:5433/mcp_oauth"),
            Some("127.0.0.1:5433")
        );
        assert_eq!(host_port("redis://127.0.0.1:6380/"), Some("127.0.0.1:6380"));
        assert_eq!(host_port("redis://127.0.0.1:6380"), Some("127.0.0.1:6380"));
        assert_eq!(host_port("127.0.0.1:6380"), None);
        assert_eq!(host_port("redis:///"), None);
    }

    #[test]
    fn commands_are_arrays_of_bulk_strings() {
        assert_eq!(encode(&["GET", "k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
        assert_eq!(encode(&[]), b"*0\r\n");
    }

    #[test]
    fn every_reply_type_parses() {
        let mut input: &[u8] =
            b"+PONG\r\n-ERR no\r\n:2\r\n$1\r\nv\r\n$-1\r\n*2\r\n:1\r\n$0\r\n\r\n*-1\r\n";
        let mut next = || read_reply(&mut input).unwrap();
        assert_eq!(next(), Reply::Simple("PONG".into()));
        assert_eq!(next(), Reply::Error("ERR no".into()));
        assert_eq!(next(), Reply::Integer(2));
        assert_eq!(next(), Reply::Bulk(Some(b"v".to_vec())));
        assert_eq!(next(), Reply::Bulk(None));
        assert_eq!(
            next(),
            Reply::Array(Some(vec![Reply::Integer(1), Reply::Bulk(Some(Vec::new()))]))
        );
        assert_eq!(next(), Reply::Array(None));
        assert!(read_reply(&mut input).is_err(), "end of input");
    }

    #[test]
    fn malformed_replies_are_errors_not_panics() {
        for bad in [
            &b"PONG\r\n"[..],
            b"+PONG\n",
            b":x\r\n",
            b"$3\r\nab",
            b"$1\r\nabc",
            b"\r\n",
        ] {
            let mut input = bad;
            assert!(read_reply(&mut input).is_err(), "{bad:?}");
        }
    }
}
