//! The command line: every command, its flags and their defaults, parsed with `lexopt`.
//! A command module receives its typed flags and never sees raw arguments.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::PathBuf;

use lexopt::{Arg, Parser, ValueExt as _};

/// `cargo xtask help`.
pub(crate) const HELP: &str = "\
cargo xtask <command>

Commands:
  ci [--fuzz-seconds N]          every check CI runs: fmt, layering, clippy, tests, docs,
                                 cargo-deny (bans licenses sources), conformance, fuzz smoke
  conformance [--vectors DIR]... [--json]
                                 run conformance vectors (default: tests/vectors); see
                                 ../shared/conformance/FORMAT.md for the format
  fuzz <target>|all [--seconds N]
                                 run cargo-fuzz on one target (or each in turn), N seconds
                                 each (default 60); `fuzz list` lists the targets
  as-server [ARGS...]            run the authorization server program
                                 (mcp-oauth-as-server): --listen, --issuer, --store
                                 memory|sqlite:PATH, --signing-key, --resource,
                                 --access-token-ttl, --consent auto; `as-server --help`
  engines [-- CMD ARGS...]       start a private Postgres and a redis-server for tests; run
                                 CMD with MCP_OAUTH_TEST_POSTGRES and MCP_OAUTH_TEST_REDIS
                                 set to their URLs, then stop them (CMD's exit status is
                                 returned); without CMD, print the two `export` lines and
                                 keep them until Ctrl-C or end of input
  deny [--advisories]            cargo-deny bans/licenses/sources; --advisories also checks
                                 the RustSec database (needs internet access)
  gen-vectors                    regenerate tests/vectors/jwt.json from the cases in
                                 xtask/vectors/ and the test keys in tests/fixtures/jwt/
  layering                       fail if a core crate's normal dependencies reach an async
                                 runtime or HTTP stack (tokio, hyper, reqwest, mio)
  bench jwt [--json] [--rounds N] [--ms N]
                                 tokens per second of JWT validation against the raw
                                 signature verify, ring and aws-lc-rs, jsonwebtoken, and the
                                 verified-token cache; one core, interleaved rounds
  bench tenant [--json] [--rounds N] [--ms N]
                                 validation throughput with 1 and with 10,000 tenants
                                 (distinct issuers and keys), and memory per tenant
  bench http [--json] [--seconds N] [--rounds N]
                                 wrk against the rmcp example server (unprotected, cached,
                                 uncached, forged tokens) and the TypeScript SDK reference
  serve [--listen ADDR] [--issuer URL] [--tenant HOST=ISSUER]... [--resource URL]
        [--accept-typ TYP]...    the rmcp example server, protected, against an external
                                 authorization server (MCP endpoint http://ADDR/mcp); each
                                 --tenant trusts ISSUER for requests to HOST; with neither
                                 --issuer nor --tenant, against the embedded one (the demo's)
  demo [--serve] [--listen ADDR]  the embedded authorization server, the protected rmcp
                                 example server and our client: discovery, registration,
                                 PKCE, token, tool call, step-up, refresh, narrated; with
                                 --serve, keeps both servers running for any MCP client
  interop server                 oidc-provider + the official TypeScript MCP SDK client
                                 against the example server, then a token matrix (npm
                                 packages installed into .peers/)
  interop as                     the conformance suite's authorization-server scenarios
                                 against our AS, and the TS SDK client against the demo
  interop client                 the official MCP conformance suite (client auth scenarios,
                                 Node 22 from npm) against our mcp-oauth-client CLI, then
                                 the CLI against oidc-provider and the TS SDK servers
  help                           this text (also --help, -h, and --help after a command)
";

/// A parsed command line.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Command {
    Ci(Ci),
    Conformance(Conformance),
    Fuzz(Fuzz),
    Deny(Deny),
    Engines(Engines),
    AsServer(AsServer),
    GenVectors,
    Layering,
    Bench(Bench),
    Serve(Serve),
    Demo(Demo),
    Interop(Interop),
    Help,
}

/// `ci [--fuzz-seconds N]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Ci {
    /// Seconds each fuzz target runs in the smoke run.
    pub(crate) fuzz_seconds: u64,
}

/// `conformance [--vectors DIR]... [--json]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Conformance {
    /// The folders to run; empty means `tests/vectors`.
    pub(crate) vectors: Vec<PathBuf>,
    pub(crate) json: bool,
}

/// What `fuzz` runs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum FuzzTarget {
    List,
    All,
    One(String),
}

/// `fuzz <target>|all|list [--seconds N]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Fuzz {
    pub(crate) target: FuzzTarget,
    pub(crate) seconds: u64,
}

/// `deny [--advisories]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Deny {
    pub(crate) advisories: bool,
}

/// `as-server [ARGS...]`: every argument goes to the program unchanged.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct AsServer {
    pub(crate) args: Vec<OsString>,
}

/// `engines [-- CMD ARGS...]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Engines {
    /// The command to run with the engines, program first; empty: wait instead.
    pub(crate) command: Vec<OsString>,
}

/// `bench jwt|tenant|http ...`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Bench {
    /// `bench jwt|tenant [--json] [--rounds N] [--ms N]`: the named `tests/benches` binary.
    Binary {
        name: String,
        json: bool,
        rounds: u64,
        ms: u64,
    },
    /// `bench http [--json] [--seconds N] [--rounds N]`.
    Http {
        json: bool,
        seconds: u64,
        rounds: u64,
    },
}

/// `serve [--listen ADDR] [--issuer URL] [--tenant HOST=ISSUER]... [--resource URL]
/// [--accept-typ TYP]...`.
#[derive(Debug, PartialEq, Eq, Default)]
pub(crate) struct Serve {
    pub(crate) listen: Option<String>,
    pub(crate) issuer: Option<String>,
    /// `HOST=ISSUER` pairs, in order.
    pub(crate) tenants: Vec<String>,
    pub(crate) resource: Option<String>,
    pub(crate) accept_typ: Vec<String>,
}

/// `demo [--serve] [--listen ADDR]`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Demo {
    pub(crate) serve: bool,
    pub(crate) listen: Option<SocketAddr>,
}

/// `interop server|client|as`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Interop {
    Server,
    Client,
    As,
}

/// Parses the arguments after `cargo xtask`. Errors name the command and the flag.
pub(crate) fn parse<I>(args: I) -> Result<Command, String>
where
    I: IntoIterator,
    I::Item: Into<OsString>,
{
    let mut p = Parser::from_args(args);
    let cmd = match p.next().map_err(|e| e.to_string())? {
        None => return Ok(Command::Help),
        Some(Arg::Long("help") | Arg::Short('h')) => return Ok(Command::Help),
        Some(Arg::Value(v)) => v.string().map_err(|e| e.to_string())?,
        Some(other) => return Err(format!("{}; expected a command", other.unexpected())),
    };
    let parsed = match cmd.as_str() {
        "help" => no_args(&mut p).map(|()| Command::Help),
        "ci" => ci(&mut p).map(Command::Ci),
        "conformance" => conformance(&mut p).map(Command::Conformance),
        "fuzz" => fuzz(&mut p).map(Command::Fuzz),
        "deny" => deny(&mut p).map(Command::Deny),
        "engines" => engines(&mut p).map(Command::Engines),
        "as-server" => Ok(Command::AsServer(AsServer {
            args: p.raw_args().map_err(|e| e.to_string())?.collect(),
        })),
        "gen-vectors" => no_args(&mut p).map(|()| Command::GenVectors),
        "layering" => no_args(&mut p).map(|()| Command::Layering),
        "bench" => bench(&mut p).map(Command::Bench),
        "serve" => serve(&mut p).map(Command::Serve),
        "demo" => demo(&mut p).map(Command::Demo),
        "interop" => interop(&mut p).map(Command::Interop),
        other => return Err(format!("unknown command `{other}`")),
    };
    match parsed {
        Ok(c) => Ok(c),
        Err(Failure::Help) => Ok(Command::Help),
        Err(Failure::Usage(e)) => Err(format!("{cmd}: {e}")),
    }
}

/// Why a command's flags did not parse: `--help` was asked for, or a usage error.
enum Failure {
    Help,
    Usage(String),
}

impl From<lexopt::Error> for Failure {
    fn from(e: lexopt::Error) -> Failure {
        Failure::Usage(e.to_string())
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Failure {
        Failure::Usage(e)
    }
}

type Parsed<T> = Result<T, Failure>;

/// `--help`/`-h` wherever it appears; anything else is an error naming the argument.
fn unexpected(arg: Arg<'_>) -> Failure {
    match arg {
        Arg::Long("help") | Arg::Short('h') => Failure::Help,
        other => other.unexpected().into(),
    }
}

fn string(p: &mut Parser) -> Parsed<String> {
    Ok(p.value()?.string()?)
}

fn number(p: &mut Parser, flag: &str) -> Parsed<u64> {
    let v = string(p)?;
    v.parse()
        .map_err(|_| Failure::Usage(format!("--{flag} takes a whole number, not `{v}`")))
}

fn no_args(p: &mut Parser) -> Parsed<()> {
    match p.next()? {
        None => Ok(()),
        Some(arg) => Err(unexpected(arg)),
    }
}

fn ci(p: &mut Parser) -> Parsed<Ci> {
    let mut ci = Ci { fuzz_seconds: 10 };
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("fuzz-seconds") => ci.fuzz_seconds = number(p, "fuzz-seconds")?,
            other => return Err(unexpected(other)),
        }
    }
    Ok(ci)
}

fn conformance(p: &mut Parser) -> Parsed<Conformance> {
    let mut c = Conformance {
        vectors: Vec::new(),
        json: false,
    };
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("vectors") => c.vectors.push(p.value()?.into()),
            Arg::Long("json") => c.json = true,
            other => return Err(unexpected(other)),
        }
    }
    Ok(c)
}

fn fuzz(p: &mut Parser) -> Parsed<Fuzz> {
    let mut seconds = 60;
    let mut target = None;
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("seconds") => seconds = number(p, "seconds")?,
            Arg::Value(v) if target.is_none() => {
                target = Some(match v.string()?.as_str() {
                    "list" => FuzzTarget::List,
                    "all" => FuzzTarget::All,
                    t => FuzzTarget::One(t.to_owned()),
                });
            }
            other => return Err(unexpected(other)),
        }
    }
    let target =
        target.ok_or("usage: cargo xtask fuzz <target>|all|list [--seconds N]".to_owned())?;
    Ok(Fuzz { target, seconds })
}

fn deny(p: &mut Parser) -> Parsed<Deny> {
    let mut d = Deny { advisories: false };
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("advisories") => d.advisories = true,
            other => return Err(unexpected(other)),
        }
    }
    Ok(d)
}

/// Everything from the first plain value (after `--`, or without it) is the command,
/// passed on untouched; before it, only `--help`.
fn engines(p: &mut Parser) -> Parsed<Engines> {
    let mut command = Vec::new();
    match p.next()? {
        None => {}
        Some(Arg::Value(program)) => {
            command.push(program);
            command.extend(p.raw_args()?);
        }
        Some(other) => return Err(unexpected(other)),
    }
    Ok(Engines { command })
}

fn bench(p: &mut Parser) -> Parsed<Bench> {
    const USAGE: &str = "usage: cargo xtask bench jwt|tenant [--json] [--rounds N] [--ms N] | bench http [--json] [--seconds N] [--rounds N]";
    let (mut name, mut json, mut rounds, mut ms, mut seconds) = (None, false, None, None, None);
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("json") => json = true,
            Arg::Long("rounds") => rounds = Some(number(p, "rounds")?),
            Arg::Long("ms") => ms = Some(number(p, "ms")?),
            Arg::Long("seconds") => seconds = Some(number(p, "seconds")?),
            Arg::Value(v) if name.is_none() => name = Some(v.string()?),
            other => return Err(unexpected(other)),
        }
    }
    match name.as_deref() {
        Some("http") if ms.is_none() => Ok(Bench::Http {
            json,
            seconds: seconds.unwrap_or(3),
            rounds: rounds.unwrap_or(3).max(1),
        }),
        Some(b @ ("jwt" | "tenant")) if seconds.is_none() => Ok(Bench::Binary {
            name: b.to_owned(),
            json,
            rounds: rounds.unwrap_or(5),
            ms: ms.unwrap_or(400),
        }),
        _ => Err(Failure::Usage(USAGE.to_owned())),
    }
}

fn serve(p: &mut Parser) -> Parsed<Serve> {
    let mut s = Serve::default();
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("listen") => s.listen = Some(string(p)?),
            Arg::Long("issuer") => s.issuer = Some(string(p)?),
            Arg::Long("resource") => s.resource = Some(string(p)?),
            Arg::Long("accept-typ") => s.accept_typ.push(string(p)?),
            Arg::Long("tenant") => {
                let t = string(p)?;
                match t.split_once('=') {
                    Some((host, issuer)) if !host.is_empty() && !issuer.is_empty() => {
                        s.tenants.push(t);
                    }
                    _ => {
                        return Err(Failure::Usage(format!(
                            "--tenant takes HOST=ISSUER, not `{t}`"
                        )));
                    }
                }
            }
            other => return Err(unexpected(other)),
        }
    }
    Ok(s)
}

fn demo(p: &mut Parser) -> Parsed<Demo> {
    let mut d = Demo {
        serve: false,
        listen: None,
    };
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Long("serve") => d.serve = true,
            Arg::Long("listen") => {
                let v = string(p)?;
                d.listen = Some(v.parse().map_err(|e| format!("--listen: {e}"))?);
            }
            other => return Err(unexpected(other)),
        }
    }
    Ok(d)
}

fn interop(p: &mut Parser) -> Parsed<Interop> {
    let mut which = None;
    while let Some(arg) = p.next()? {
        match arg {
            Arg::Value(v) if which.is_none() => {
                which = Some(match v.string()?.as_str() {
                    "server" => Interop::Server,
                    "client" => Interop::Client,
                    "as" => Interop::As,
                    other => return Err(Failure::Usage(format!("no interop run `{other}`"))),
                });
            }
            other => return Err(unexpected(other)),
        }
    }
    which.ok_or_else(|| Failure::Usage("usage: cargo xtask interop server|client|as".into()))
}

#[cfg(test)]
mod tests;
