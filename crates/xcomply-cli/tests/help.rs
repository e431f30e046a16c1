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

/// The subcommands of `jobs`, whose --help is reached as `xcomply jobs NAME --help`.
const JOBS_SUBCOMMANDS: [&str; 4] = ["create", "get", "list", "cancel"];

/// Every command line that prints a help text: each subcommand and each `jobs` subcommand.
fn help_invocations() -> Vec<Vec<&'static str>> {
    let mut all: Vec<Vec<&str>> = SUBCOMMANDS.iter().map(|s| vec![*s, "--help"]).collect();
    all.extend(JOBS_SUBCOMMANDS.iter().map(|s| vec!["jobs", *s, "--help"]));
    all
}

/// The README's "## Exit codes" table as (code, meaning) rows, backticks removed.
fn readme_exit_codes() -> Vec<(String, String)> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md"))
        .expect("read README.md");
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README has an Exit codes section");
    let section = section.split("\n## ").next().unwrap();
    section
        .lines()
        .filter_map(|line| {
            let cells: Vec<&str> = line.trim().trim_matches('|').split('|').collect();
            let code = cells.first()?.trim();
            (cells.len() == 2 && code.bytes().all(|b| b.is_ascii_digit()) && !code.is_empty())
                .then(|| (code.to_owned(), cells[1].trim().replace('`', "")))
        })
        .collect()
}

/// Whitespace collapsed to single spaces, so that wrapped help text compares with one line.
fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[test]
fn every_help_states_the_readme_exit_code_table() {
    let rows = readme_exit_codes();
    let codes: Vec<&str> = rows.iter().map(|(c, _)| c.as_str()).collect();
    assert_eq!(codes, ["0", "1", "2", "3", "4", "5", "6", "130"]);
    let mut all = help_invocations();
    all.push(vec!["--help"]);
    for args in all {
        let out = xcomply(&args);
        assert!(out.status.success(), "{args:?} failed");
        let text = String::from_utf8(out.stdout).unwrap();
        let exit = text
            .split("Exit codes:")
            .nth(1)
            .unwrap_or_else(|| panic!("{args:?} has no exit-code table:\n{text}"));
        let exit = squash(exit);
        for (code, meaning) in &rows {
            // The help says the same as the README; the README's examples in parentheses may be
            // worded for Markdown, so the comparison stops at the first parenthesis.
            let head = meaning.split(" (").next().unwrap();
            assert!(
                exit.contains(&format!("{code} {head}")),
                "{args:?}: exit code {code} is not `{head}`:\n{text}"
            );
        }
        // No command documents a mapping of its own before the table.
        let before = text.split("Exit codes:").next().unwrap();
        assert!(
            !before.to_lowercase().contains("exit codes"),
            "{args:?} has a second exit-code list:\n{text}"
        );
    }
}

#[test]
fn global_options_have_their_own_heading_and_value_names_mean_something() {
    for args in help_invocations() {
        let out = xcomply(&args);
        let text = String::from_utf8(out.stdout).unwrap();
        let global = text
            .split("Global options:")
            .nth(1)
            .unwrap_or_else(|| panic!("{args:?} has no Global options heading:\n{text}"));
        let global = global.split("Exit codes:").next().unwrap();
        assert!(
            global.contains("--verbose") && global.contains("--quiet"),
            "{args:?}:\n{text}"
        );
        let options = text.split("Global options:").next().unwrap();
        assert!(
            !options.contains("--verbose") && !options.contains("--quiet"),
            "{args:?}: -v/-q among the command's options:\n{text}"
        );
    }
    let out = xcomply(&["emulator", "--help"]);
    let text = String::from_utf8(out.stdout).unwrap();
    // clap's default value name is the option's name in capitals, which says nothing new.
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix("--")
            && let Some((name, value)) = rest.split_once(" <")
        {
            let value = value.trim_end_matches('>');
            // A one-word name that is itself the value's kind is fine as it is.
            if name == "token" {
                continue;
            }
            assert_ne!(
                value,
                name.to_uppercase().replace('-', "_"),
                "emulator --{name} has no meaningful value name"
            );
        }
    }
}

#[test]
fn every_subcommand_has_help_with_an_example() {
    for args in help_invocations() {
        let sub = args.join(" ");
        let out = xcomply(&args);
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
        // Help is plain text: Markdown backticks would print literally.
        if ["jobs", "upload", "download", "emulator"].contains(&args[0]) {
            assert!(
                !text.contains('`'),
                "{sub} --help has literal backticks:\n{text}"
            );
        }
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

/// Example lines are whole command lines at 80 and 100 columns: a command wrapped by the terminal
/// width would continue at column 0 and break when copied; one split on purpose ends its line
/// with a backslash and continues indented.
#[test]
fn help_examples_are_whole_lines_at_80_and_100_columns() {
    for args in help_invocations() {
        for columns in ["80", "100"] {
            let o = Command::new(env!("CARGO_BIN_EXE_xcomply"))
                .args(&args)
                .env("COLUMNS", columns)
                .output()
                .unwrap();
            assert!(o.status.success());
            let help = String::from_utf8(o.stdout).unwrap();
            let examples: Vec<&str> = help
                .lines()
                .skip_while(|l| !l.starts_with("Example"))
                .skip(1)
                .take_while(|l| !l.is_empty())
                .collect();
            assert!(!examples.is_empty(), "{args:?}: {help}");
            for (i, line) in examples.iter().enumerate() {
                assert!(
                    line.starts_with("  "),
                    "{args:?}: wrapped example at {columns} columns: {help}"
                );
                if line.starts_with("      ") {
                    assert!(examples[i - 1].ends_with(" \\"), "{args:?}: {help}");
                }
            }
        }
    }
}
