#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;

fn p(args: &str) -> Result<Command, String> {
    parse(args.split_whitespace())
}

#[test]
fn no_arguments_and_help_flags_print_help() {
    for args in [
        "",
        "help",
        "--help",
        "-h",
        "demo --help",
        "bench http -h",
        "ci --help",
    ] {
        assert_eq!(p(args), Ok(Command::Help), "{args:?}");
    }
}

#[test]
fn every_command_keeps_its_flags_and_defaults() {
    assert_eq!(p("ci"), Ok(Command::Ci(Ci { fuzz_seconds: 10 })));
    assert_eq!(
        p("ci --fuzz-seconds=3"),
        Ok(Command::Ci(Ci { fuzz_seconds: 3 }))
    );
    assert_eq!(
        p("conformance --vectors a --json --vectors b"),
        Ok(Command::Conformance(Conformance {
            vectors: vec!["a".into(), "b".into()],
            json: true
        }))
    );
    assert_eq!(
        p("fuzz jwt_parse --seconds 5"),
        Ok(Command::Fuzz(Fuzz {
            target: FuzzTarget::One("jwt_parse".into()),
            seconds: 5
        }))
    );
    assert_eq!(
        p("fuzz list"),
        Ok(Command::Fuzz(Fuzz {
            target: FuzzTarget::List,
            seconds: 60
        }))
    );
    assert_eq!(
        p("deny --advisories"),
        Ok(Command::Deny(Deny { advisories: true }))
    );
    assert_eq!(p("gen-vectors"), Ok(Command::GenVectors));
    assert_eq!(p("layering"), Ok(Command::Layering));
    assert_eq!(
        p("bench tenant --json"),
        Ok(Command::Bench(Bench::Binary {
            name: "tenant".into(),
            json: true,
            rounds: 5,
            ms: 400
        }))
    );
    assert_eq!(
        p("bench http --seconds 2 --rounds 0"),
        Ok(Command::Bench(Bench::Http {
            json: false,
            seconds: 2,
            rounds: 1
        }))
    );
    assert_eq!(
        p("demo --serve --listen 127.0.0.1:9000"),
        Ok(Command::Demo(Demo {
            serve: true,
            listen: Some(([127, 0, 0, 1], 9000).into())
        }))
    );
    assert_eq!(p("interop as"), Ok(Command::Interop(Interop::As)));
}

#[test]
fn serve_takes_repeatable_tenants() {
    assert_eq!(
        p(
            "serve --listen 0.0.0.0:8080 --tenant a.example=https://as.a --tenant b=https://as.b --accept-typ JWT"
        ),
        Ok(Command::Serve(Serve {
            listen: Some("0.0.0.0:8080".into()),
            tenants: vec!["a.example=https://as.a".into(), "b=https://as.b".into()],
            accept_typ: vec!["JWT".into()],
            ..Serve::default()
        }))
    );
    let e = p("serve --tenant nohost").unwrap_err();
    assert!(e.contains("HOST=ISSUER") && e.contains("nohost"), "{e}");
    assert!(p("serve --tenant =https://as").is_err());
}

#[test]
fn as_server_passes_every_argument_on() {
    assert_eq!(
        p("as-server --listen 127.0.0.1:1 --consent auto --help"),
        Ok(Command::AsServer(AsServer {
            args: ["--listen", "127.0.0.1:1", "--consent", "auto", "--help"]
                .map(OsString::from)
                .to_vec(),
        }))
    );
}

#[test]
fn engines_passes_its_command_on_untouched() {
    let cmd = |args: &[&str]| {
        Ok(Command::Engines(Engines {
            command: args.iter().map(Into::into).collect(),
        }))
    };
    assert_eq!(p("engines"), cmd(&[]));
    assert_eq!(
        p("engines -- cargo test --test engines -- --nocapture"),
        cmd(&["cargo", "test", "--test", "engines", "--", "--nocapture"])
    );
    assert_eq!(p("engines env --help"), cmd(&["env", "--help"]));
    assert_eq!(p("engines --help"), Ok(Command::Help));
    assert!(p("engines --bogus").unwrap_err().contains("--bogus"));
}

#[test]
fn unknown_flags_and_arguments_are_errors_naming_them() {
    for (args, named) in [
        ("demo --frobnicate", "--frobnicate"),
        ("ci --fuzz-secs 3", "--fuzz-secs"),
        ("serve --issuer x --bogus y", "--bogus"),
        ("layering extra", "extra"),
        ("gen-vectors --check", "--check"),
        ("interop server client", "client"),
        ("nonsense", "nonsense"),
    ] {
        let e = p(args).unwrap_err();
        assert!(e.contains(named), "{args:?}: {e}");
    }
}

#[test]
fn values_are_checked() {
    let e = p("ci --fuzz-seconds ten").unwrap_err();
    assert!(e.contains("--fuzz-seconds") && e.contains("ten"), "{e}");
    assert!(p("demo --listen nowhere").unwrap_err().contains("--listen"));
    assert!(
        p("ci --fuzz-seconds")
            .unwrap_err()
            .contains("--fuzz-seconds")
    );
    assert!(p("bench jwt --seconds 3").is_err());
    assert!(p("bench http --ms 3").is_err());
    assert!(p("bench").is_err());
    assert!(p("interop").is_err());
    assert!(p("interop nope").unwrap_err().contains("nope"));
    assert!(p("fuzz").is_err());
}

#[test]
fn the_help_text_lists_every_command_and_flag() {
    for needle in [
        "ci [--fuzz-seconds N]",
        "conformance [--vectors DIR]... [--json]",
        "fuzz <target>|all",
        "deny [--advisories]",
        "engines [-- CMD ARGS...]",
        "gen-vectors",
        "layering",
        "bench jwt [--json] [--rounds N] [--ms N]",
        "bench http [--json] [--seconds N] [--rounds N]",
        "--tenant HOST=ISSUER",
        "--accept-typ TYP",
        "demo [--serve] [--listen ADDR]",
        "interop server",
        "interop client",
        "interop as",
    ] {
        assert!(HELP.contains(needle), "{needle}");
    }
}
