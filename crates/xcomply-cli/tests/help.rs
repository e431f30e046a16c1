//! Every subcommand explains itself, and no help text ever shows the bearer token.

use std::process::Command;

const SUBCOMMANDS: [&str; 11] = [
    "demo", "run", "status", "shard", "jobs", "upload", "download", "decode", "join", "apply",
    "emulator",
];

fn xcomply(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_xcomply"))
        .args(args)
        .env("X_BEARER_TOKEN", "secret-token-must-not-show")
        .output()
        .expect("run xcomply")
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for sub in SUBCOMMANDS {
        let out = xcomply(&[sub, "--help"]);
        assert!(out.status.success(), "{sub} --help failed");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(
            text.contains("Example"),
            "{sub} --help has no example:\n{text}"
        );
        assert!(
            !text.contains("secret-token-must-not-show"),
            "{sub} --help shows the token"
        );
    }
}

#[test]
fn top_level_help_lists_commands_and_exit_codes() {
    let out = xcomply(&["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for sub in SUBCOMMANDS {
        assert!(
            text.contains(&format!("  {sub} ")),
            "{sub} missing from --help"
        );
    }
    assert!(text.contains("Exit codes:"));
    assert!(text.contains("130"));
}

#[test]
fn bad_arguments_exit_with_the_usage_code() {
    let out = xcomply(&["shard", "--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
}
