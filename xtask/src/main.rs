//! `cargo xtask`: the project's automation, in Rust so it runs wherever cargo does
//! (matklad's cargo-xtask pattern). Run `cargo xtask help` for the commands.
//!
//! `flags` parses the command line; each command module gets its typed flags and uses
//! `harness` (processes, ports, peers, builds, reports) and `util`, never another command.

#![forbid(unsafe_code)]

mod bench;
mod ci;
mod conformance;
mod coverage;
mod demo;
mod engines;
mod flags;
mod fuzz;
mod gen_vectors;
mod harness;
mod interop;
mod layering;
mod serve;
mod tools;
mod util;

use std::process::ExitCode;

use flags::Command;
use util::{cargo, run};

fn main() -> ExitCode {
    let command = match flags::parse(std::env::args_os().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("xtask: {e}\n(`cargo xtask help` lists the commands and their flags)");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Ci(f) => ci::main(&f),
        Command::Bench(f) => bench::main(&f),
        Command::Conformance(f) => return conformance::main(&f),
        Command::Fuzz(f) => fuzz::main(&f),
        Command::Deny(f) => tools::run_deny(f.advisories),
        Command::Engines(f) => return engines::main(&f),
        Command::AsServer(f) => run(cargo()
            .args([
                "run",
                "--quiet",
                "-p",
                "mcp-oauth-cli",
                "--bin",
                "mcp-oauth-as-server",
                "--",
            ])
            .args(&f.args)),
        Command::Layering => layering::check_workspace(),
        Command::GenVectors => gen_vectors::main(),
        Command::Serve(f) => serve::main(&f),
        Command::Demo(f) => demo::main(&f),
        Command::Interop(f) => interop::main(&f),
        Command::Help => {
            print!("{}", flags::HELP);
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
