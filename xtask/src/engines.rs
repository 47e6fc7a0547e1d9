//! `cargo xtask engines [-- CMD ARGS...]`: the database engines tests use, for running
//! tests (or anything else) by hand against them.

use std::io::Read as _;
use std::process::{Command, ExitCode};

use crate::flags;
use crate::harness::Engines;

/// Starts both engines (each is required: asking for them and getting fewer is an
/// error); runs the command with their variables set, or prints the `export` lines and
/// waits for end of input. Returns the command's exit status; the engines are stopped
/// before xtask exits.
pub(crate) fn main(flags: &flags::Engines) -> ExitCode {
    let engines = match Engines::start(true) {
        Ok(e) => e,
        Err(e) => {
            eprintln!("xtask: engines: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match flags.command.split_first() {
        Some((program, args)) => run_with(&engines, Command::new(program).args(args)),
        None => wait(&engines),
    };
    // The engines stop here, whatever happened.
    drop(engines);
    result.unwrap_or_else(|e| {
        eprintln!("xtask: engines: {e}");
        ExitCode::FAILURE
    })
}

/// Runs `cmd` with the engines' variables set; its exit code is ours (1 if it had none,
/// killed by a signal).
fn run_with(engines: &Engines, cmd: &mut Command) -> Result<ExitCode, String> {
    let env = engines.env();
    for (var, url) in &env {
        eprintln!("xtask: {var}={url}");
    }
    let program = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd
        .envs(env)
        .status()
        .map_err(|e| format!("could not start `{program}`: {e}"))?;
    Ok(status.code().map_or(ExitCode::FAILURE, |c| {
        ExitCode::from(u8::try_from(c).unwrap_or(1))
    }))
}

/// Prints `export VAR=URL` for each engine (for `eval`) and waits until stdin ends.
fn wait(engines: &Engines) -> Result<ExitCode, String> {
    for (var, url) in engines.env() {
        println!("export {var}={url}");
    }
    eprintln!("xtask: engines running; Ctrl-C or end of input (Ctrl-D) stops them");
    std::io::stdin()
        .lock()
        .read_to_end(&mut Vec::new())
        .map_err(|e| format!("reading stdin: {e}"))?;
    Ok(ExitCode::SUCCESS)
}
