//! Shell completion that knows the repository, driven through the real binary's completion entry
//! point: bash for real (the script `kanari completions bash` prints, sourced in bash, asked as
//! bash asks at a Tab), fish and zsh by the protocol their scripts use (`COMPLETE=<shell> kanari
//! -- <words>`). Release names go after a command, state names after `--stage` and `--to`, refs
//! after `--base`; `-C DIR` picks the repository.

use std::path::Path;
use std::process::Command;

use crate::{fixture_repo, git};

fn bin_dir() -> std::path::PathBuf {
    Path::new(env!("CARGO_BIN_EXE_kanari")).parent().unwrap().to_path_buf()
}

/// The candidates `shell`'s protocol gets for `words` (the last one is being completed), run
/// from `cwd`: one value per line, help after a tab for fish.
fn protocol(shell: &str, cwd: &Path, words: &[&str]) -> Vec<String> {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kanari"));
    cmd.arg("--").args(words).current_dir(cwd).env("COMPLETE", shell);
    if shell == "zsh" {
        cmd.env("_CLAP_COMPLETE_INDEX", (words.len() - 1).to_string()).env("_CLAP_IFS", "\n");
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split('\t').next().unwrap().split(':').next().unwrap().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// What bash offers for `line` (ending where the cursor is), with the registration script sourced.
fn bash(cwd: &Path, words: &[&str]) -> Vec<String> {
    let script = Command::new(env!("CARGO_BIN_EXE_kanari")).args(["completions", "bash"]).output().unwrap();
    assert!(script.status.success());
    let registration = cwd.join("..").join("kanari.bash");
    std::fs::write(&registration, &script.stdout).unwrap();
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let program = format!(
        "source '{}'\nCOMP_WORDS=({})\nCOMP_CWORD={}\nCOMP_LINE='{}'\nCOMP_POINT=${{#COMP_LINE}}\n_clap_complete_kanari kanari '{}' '{}'\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n",
        registration.display(),
        quoted.join(" "),
        words.len() - 1,
        words.join(" "),
        words[words.len() - 1],
        words[words.len() - 2],
    );
    let path = format!("{}:{}", bin_dir().display(), std::env::var("PATH").unwrap());
    let out = Command::new("bash").arg("-c").arg(program).current_dir(cwd).env("PATH", path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

const STATES: [&str; 7] = ["steady", "prepare", "jason", "90-10", "50-50", "0-100", "aborted"];

#[test]
fn bash_completes_states_releases_and_refs_from_the_repository() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    git(r, &["branch", "feature/next"]);
    git(r, &["tag", "v1.0"]);
    assert_eq!(bash(r, &["kanari", "render", "--stage", ""]), STATES);
    assert_eq!(bash(r, &["kanari", "promote", "--to", "9"]), ["90-10"]);
    assert_eq!(bash(r, &["kanari", "status", "rev"]), ["reviews"]);
    assert_eq!(bash(r, &["kanari", "diff", "--base", ""]), ["feature/next", "main", "v1.0"]);
    // Flags are still completed as flags.
    assert!(bash(r, &["kanari", "diff", "--ne"]).contains(&"--next".to_string()));
}

#[test]
fn a_fleet_completes_as_its_name_and_as_each_instance() {
    let repo = fixture_repo("fleet");
    let r = repo.path();
    assert_eq!(bash(r, &["kanari", "status", "rev"]), ["reviews", "reviews@eu-1", "reviews@eu-2", "reviews@us-1"]);
    assert_eq!(bash(r, &["kanari", "abort", "reviews@e"]), ["reviews@eu-1", "reviews@eu-2"]);
}

#[test]
fn fish_and_zsh_get_the_same_names_and_dash_c_picks_the_repository() {
    let repo = fixture_repo("bookinfo");
    let elsewhere = tempfile::tempdir().unwrap();
    let root = repo.path().to_str().unwrap();
    for shell in ["fish", "zsh"] {
        let got = protocol(shell, elsewhere.path(), &["kanari", "-C", root, "render", "--stage", ""]);
        assert_eq!(got, STATES, "{shell}");
        let got = protocol(shell, elsewhere.path(), &["kanari", "-C", root, "approve", ""]);
        assert!(got.contains(&"reviews".to_string()), "{shell}: {got:?}");
    }
    // Outside any repository of specs: no names, and no error either.
    assert!(protocol("fish", elsewhere.path(), &["kanari", "render", "--stage", ""]).is_empty());
    // The registration scripts call kanari back with their shell's name.
    for shell in ["bash", "zsh", "fish"] {
        let out = Command::new(env!("CARGO_BIN_EXE_kanari")).args(["completions", shell]).output().unwrap();
        let script = String::from_utf8_lossy(&out.stdout);
        let asks = [format!("COMPLETE={shell}"), format!("COMPLETE=\"{shell}\"")];
        assert!(asks.iter().any(|a| script.contains(a.as_str())), "{shell}:\n{script}");
    }
}

#[test]
fn help_lists_completions_last_and_a_commands_own_options_before_the_global_ones() {
    let top = crate::kanari_ok(&crate::project(), &["--help"]).stdout;
    let commands: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(commands[commands.len() - 2..], ["completions", "help"], "{top}");
    let diff = crate::kanari_ok(&crate::project(), &["diff", "--help"]).stdout;
    let (own, global) = (diff.find("--next").unwrap(), diff.find("Global options:").expect("a heading for them"));
    assert!(own < global && diff.find("--repo").unwrap() > global, "{diff}");
}
