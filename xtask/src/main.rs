//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does
//! (matklad's cargo-xtask pattern). Run `cargo xtask help` for the commands.

#![forbid(unsafe_code)]

mod bench;
mod bench_http;
mod ci;
mod conformance;
mod demo;
mod fuzz;
mod gen_vectors;
mod interop;
mod interop_client;
mod layering;
mod tools;
mod util;

use std::process::ExitCode;

const HELP: &str = "\
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
  deny [--advisories]            cargo-deny bans/licenses/sources; --advisories also checks
                                 the RustSec database (needs internet access)
  gen-vectors                    regenerate tests/vectors/jwt.json from the test keys in
                                 tests/fixtures/jwt/
  layering                       fail if a core crate's normal dependencies reach an async
                                 runtime or HTTP stack (tokio, hyper, reqwest, mio)
  bench jwt [--json] [--rounds N] [--ms N]
                                 tokens per second of JWT validation against the raw
                                 signature verify, ring and aws-lc-rs, jsonwebtoken, and the
                                 verified-token cache; one core, interleaved rounds
  bench tenant [--json]          validation throughput with 1 and with 10,000 tenants
                                 (distinct issuers and keys), and memory per tenant
  bench http [--json] [--seconds N]
                                 wrk against the rmcp example server (unprotected, cached,
                                 uncached, forged tokens) and the TypeScript SDK reference
  serve --listen ADDR --issuer URL [--resource URL] [--accept-typ TYP]
                                 the rmcp example server, protected, against an external
                                 authorization server (MCP endpoint http://ADDR/mcp)
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
  help                           this text
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, rest) = match args.split_first() {
        Some((c, r)) => (c.as_str(), r),
        None => ("help", &[][..]),
    };
    let result = match cmd {
        "ci" => ci::main(rest),
        "bench" => bench::main(rest),
        "conformance" => return conformance::main(rest),
        "fuzz" => fuzz::main(rest),
        "deny" => tools::deny(rest),
        "layering" => layering::main(rest),
        "gen-vectors" => gen_vectors::main(rest),
        "serve" => interop::serve(rest),
        "demo" => demo::demo(rest),
        "interop" => interop::main(rest),
        "help" | "--help" | "-h" => {
            print!("{HELP}");
            Ok(())
        }
        other => Err(format!("unknown command `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
