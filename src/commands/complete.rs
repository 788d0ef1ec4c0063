//! Shell completion that knows the repository: release names after a command, stage names after
//! `--stage` and `--to`, refs after `--base`, through clap_complete's dynamic completion. The
//! shell runs `COMPLETE=<shell> kanari -- <words>` at each Tab; `kanari completions <shell>`
//! prints the script that registers it (`source <(kanari completions bash)`).
//!
//! The candidates come from the repository the words name (`-C DIR`, `--specs DIR`; else the one
//! around the current folder), read as the commands read it. A spec that does not load gives no
//! candidates rather than an error: a Tab never prints one.

use std::ffi::OsString;

use clap::{CommandFactory, Parser};
use clap_complete::engine::{ArgValueCandidates, CompletionCandidate};
use clap_complete::env::Shells;

use crate::cli::Cli;
use crate::commands::Workspace;
use crate::spec::Canary;

/// The variable the shell scripts set to ask for completions.
pub(crate) const VAR: &str = "COMPLETE";

/// kanari's command line with the repository's names as candidates.
pub(crate) fn command() -> clap::Command {
    let mut cmd = Cli::command();
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_string()).collect();
    for name in names {
        cmd = cmd.mut_subcommand(name, |sub| {
            let ids: Vec<String> = sub.get_arguments().map(|a| a.get_id().to_string()).collect();
            let has = |id: &str| ids.iter().any(|i| i == id);
            let mut sub = sub;
            if has("releases") {
                sub = sub.mut_arg("releases", |a| a.add(ArgValueCandidates::new(releases)));
            }
            for stage in ["stage", "to"] {
                if has(stage) {
                    sub = sub.mut_arg(stage, |a| a.add(ArgValueCandidates::new(stages)));
                }
            }
            if has("base") {
                sub = sub.mut_arg("base", |a| a.add(ArgValueCandidates::new(refs)));
            }
            sub
        });
    }
    cmd
}

/// Answers the shell when it asks for completions; returns only when it did not ask.
pub fn answer_the_shell() {
    clap_complete::CompleteEnv::with_factory(command).var(VAR).complete();
}

/// The script that registers kanari's completion in `shell`.
pub(crate) fn registration(shell: clap_complete::Shell) -> anyhow::Result<String> {
    let name = shell.to_string();
    let shells = Shells::builtins();
    let completer = shells.completer(&name).ok_or_else(|| anyhow::anyhow!("no dynamic completion for {name}"))?;
    let mut out = Vec::new();
    completer.write_registration(VAR, "kanari", "kanari", "kanari", &mut out)?;
    Ok(String::from_utf8(out)?)
}

/// The words the shell passed after `--`: the command line being completed.
fn words() -> Vec<OsString> {
    let args: Vec<OsString> = std::env::args_os().collect();
    match args.iter().position(|a| a == "--") {
        Some(i) => args[i + 1..].to_vec(),
        None => Vec::new(),
    }
}

/// The repository and specs folder the words name, read as the commands read them.
fn workspace() -> Option<Workspace> {
    let words = words();
    let mut flags: Vec<OsString> = vec!["kanari".into()];
    for (i, word) in words.iter().enumerate() {
        let word = word.to_string_lossy();
        for (long, short) in [("--repo", Some("-C")), ("--specs", None)] {
            if word == long || Some(word.as_ref()) == short {
                if let Some(value) = words.get(i + 1) {
                    flags.extend([long.into(), value.clone()]);
                }
            } else if let Some(value) = word.strip_prefix(&format!("{long}=")) {
                flags.extend([long.into(), value.into()]);
            }
        }
    }
    flags.push("status".into());
    let cli = Cli::try_parse_from(flags).ok()?;
    Workspace::from_cli(&cli).ok()
}

fn loaded() -> Vec<Canary> {
    workspace().and_then(|ws| ws.all_releases(&[]).ok()).unwrap_or_default()
}

/// Every release's name; a fleet's once (every instance), then each instance's `name@cluster`.
fn releases() -> Vec<CompletionCandidate> {
    let mut out = Vec::new();
    let mut fleets = std::collections::BTreeSet::new();
    for c in &loaded() {
        let Some(member) = &c.fleet else {
            out.push(
                CompletionCandidate::new(c.name.clone())
                    .help(Some(format!("{} ({})", c.id(), c.file.display()).into())),
            );
            continue;
        };
        if fleets.insert(c.fleet_id()) {
            let help = format!("{}: {} clusters ({})", c.fleet_id(), member.fleet.clusters.len(), c.file.display());
            out.push(CompletionCandidate::new(c.name.clone()).help(Some(help.into())));
        }
        let help = format!("{}, wave {} ({})", c.id(), member.wave, c.file.display());
        out.push(CompletionCandidate::new(format!("{}@{}", c.name, member.cluster)).help(Some(help.into())));
    }
    out
}

/// Every state name of every release (or of the releases the words name), with the release.
fn stages() -> Vec<CompletionCandidate> {
    let releases = loaded();
    let words: Vec<String> = words().iter().map(|w| w.to_string_lossy().into_owned()).collect();
    let named: Vec<&Canary> = releases.iter().filter(|c| words.iter().any(|w| c.is_named(w))).collect();
    let chosen: Vec<&Canary> = if named.is_empty() { releases.iter().collect() } else { named };
    let mut seen = std::collections::BTreeSet::new();
    let mut out = Vec::new();
    for canary in chosen {
        for step in crate::plan::Step::all(canary) {
            let name = step.name(canary).to_string();
            if seen.insert(name.clone()) {
                out.push(CompletionCandidate::new(name).help(Some(canary.id().into())));
            }
        }
    }
    out
}

/// Local branches, remote-tracking branches and tags.
fn refs() -> Vec<CompletionCandidate> {
    let Some(ws) = workspace() else { return Vec::new() };
    let Ok(repo) = crate::repo::Repo::open(&ws.root) else { return Vec::new() };
    repo.ref_names().into_iter().map(CompletionCandidate::new).collect()
}
