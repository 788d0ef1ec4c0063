//! The CI examples work as they are: every `kanari ...` line in them and in the README parses
//! with kanari's own command line; every example pins the kanari release; no workflow pastes an
//! expression into a script; the diff workflow runs for every file a spec reads (its `from:`
//! manifests too) and its steps, run with bash against a real repository and a stand-in `gh`,
//! render the diff and update the comment that starts with kanari's marker, no other; the
//! approve workflow passes SchemaStore's schema and its script approves and aborts a real
//! release with `--push`, its inputs never run as code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use clap::Parser;
use serde_json::Value;

use crate::{fixture_repo, git, project};

/// Splits a shell line into words, honouring double and single quotes; stops at `|`, `>`, `;`.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (None, '|' | '>' | ';' | '#') => break,
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn every_kanari_command_in_the_examples_and_readme_parses() {
    let mut files: Vec<std::path::PathBuf> = walkdir::WalkDir::new(project().join("examples"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file())
        .collect();
    files.push(project().join("README.md"));
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let markdown = file.extension().is_some_and(|e| e == "md");
        let mut in_code = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if markdown && !in_code {
                continue;
            }
            let line = line.trim().trim_start_matches("- ").trim_start_matches("run: ");
            if !line.starts_with("kanari ") {
                continue;
            }
            let argv = words(line);
            if let Err(e) = kanari::cli::Cli::try_parse_from(&argv) {
                panic!("{}: `{line}` does not parse:\n{e}", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} commands found");
}

#[test]
fn the_readme_shows_the_real_plan_of_bookinfo() {
    let readme = std::fs::read_to_string(project().join("README.md")).unwrap();
    let start = readme.find("`kanari -C fixtures/bookinfo plan` shows").expect("the README shows the plan");
    let block = &readme[start..];
    let open = block.find("```\n").unwrap() + 4;
    let shown = &block[open..open + block[open..].find("```\n").unwrap()];
    let run = crate::kanari_ok(&project(), &["-C", "fixtures/bookinfo", "plan"]);
    assert_eq!(shown, run.stdout, "the README's plan table is stale; paste `kanari -C fixtures/bookinfo plan`");
}

/// A workflow or GitLab file as JSON values.
fn yaml_file(path: &Path) -> Value {
    serde_saphyr::from_str(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn github_workflows() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(project().join("examples/github"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    files
}

/// Every step of every job of a workflow.
fn steps(workflow: &Value) -> Vec<&Value> {
    workflow["jobs"].as_object().unwrap().values().flat_map(|job| job["steps"].as_array().unwrap()).collect()
}

/// The `run:` script of the step named `name`.
fn script(workflow: &Value, name: &str) -> String {
    let step = steps(workflow).into_iter().find(|s| s["name"] == name).unwrap_or_else(|| panic!("no step `{name}`"));
    step["run"].as_str().unwrap_or_else(|| panic!("step `{name}` has no run:")).to_string()
}

/// A `run:` script run as a GitHub runner runs it (`bash -e`), in `dir`, with `env`, the real
/// `kanari` and the programs in `bin` first on PATH, and no git or kanari settings from outside.
fn run_script(text: &str, dir: &Path, bin: &Path, env: &[(&str, &str)]) -> Output {
    let file = bin.join("step.sh");
    std::fs::write(&file, text).unwrap();
    let kanari = Path::new(env!("CARGO_BIN_EXE_kanari")).parent().unwrap();
    let path = format!("{}:{}:{}", bin.display(), kanari.display(), std::env::var("PATH").unwrap());
    let mut cmd = Command::new("bash");
    cmd.args(["--noprofile", "--norc", "-e"]).arg(&file).current_dir(dir);
    for (key, _) in std::env::vars() {
        if key.starts_with("KANARI_") || key.starts_with("GIT_") || key.starts_with("GITHUB_") || key == "NO_COLOR" {
            cmd.env_remove(key);
        }
    }
    cmd.env("PATH", path)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/nonexistent/kanari-test-home")
        .env("KANARI_NOW", "2026-01-02T03:04:05Z");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd.output().unwrap()
}

fn said(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// `version: latest` (the Action's default) let the binary float under a pinned Action; a
/// `cargo install` with no `--tag` did the same on GitLab.
#[test]
fn every_example_pins_the_kanari_release() {
    let tag = regex::Regex::new(r"^v\d+\.\d+\.\d+$").unwrap();
    let mut pinned = 0;
    for file in github_workflows() {
        for step in steps(&yaml_file(&file)) {
            let Some(uses) = step["uses"].as_str() else { continue };
            if !uses.starts_with("your-org/kanari@") {
                continue;
            }
            let version = step["with"]["version"].as_str().unwrap_or("latest (the default)");
            assert!(
                tag.is_match(version),
                "{}: step {} installs kanari {version}, not a tag",
                file.display(),
                step["name"]
            );
            pinned += 1;
        }
    }
    assert!(pinned >= 4, "only {pinned} kanari steps found");
    let gitlab = std::fs::read_to_string(project().join("examples/gitlab/.gitlab-ci.yml")).unwrap();
    let installs: Vec<&str> =
        gitlab.lines().filter(|l| l.contains("cargo install") && !l.trim_start().starts_with('#')).collect();
    assert!(!installs.is_empty());
    for line in installs {
        assert!(line.contains("--tag \"$KANARI_VERSION\""), "unpinned: {line}");
    }
    let version = yaml_file(&project().join("examples/gitlab/.gitlab-ci.yml"))["variables"]["KANARI_VERSION"].clone();
    assert!(tag.is_match(version.as_str().unwrap_or("")), "KANARI_VERSION: {version}");
}

/// A `${{ }}` expression inside `run:` is pasted into the script before bash reads it: a pull
/// request's branch name or a dispatch input could run code. Inputs go through `env:`.
#[test]
fn no_workflow_pastes_an_expression_into_a_script() {
    for file in github_workflows() {
        for step in steps(&yaml_file(&file)) {
            if let Some(run) = step["run"].as_str() {
                assert!(
                    !run.contains("${{"),
                    "{}: step {} pastes an expression into its script",
                    file.display(),
                    step["name"]
                );
            }
        }
    }
}

/// Glob as GitHub's `paths:` filters read it: `**` any path, `*` and `?` within one folder.
fn glob_matches(glob: &str, path: &str) -> bool {
    let mut re = String::from("^");
    let mut chars = glob.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                re.push_str(".*");
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).unwrap().is_match(path)
}

/// Whether a pull request that changes only `path` runs the workflow, by its `paths:` and
/// `paths-ignore:` filters (none: every pull request runs it).
fn triggers(on_pull_request: &Value, path: &str) -> bool {
    let list = |key: &str| -> Option<Vec<String>> {
        on_pull_request
            .get(key)
            .and_then(Value::as_array)
            .map(|globs| globs.iter().map(|g| g.as_str().unwrap().to_string()).collect())
    };
    if let Some(ignored) = list("paths-ignore") {
        return !ignored.iter().any(|g| glob_matches(g, path));
    }
    match list("paths") {
        None => true,
        Some(globs) => {
            let mut hit = false;
            for g in globs {
                match g.strip_prefix('!') {
                    Some(negated) if glob_matches(negated, path) => hit = false,
                    None if glob_matches(&g, path) => hit = true,
                    _ => {}
                }
            }
            hit
        }
    }
}

/// The diff workflow's `paths:` listed `canaries/**`, `overlays/**` and `.kanari/**`: a pull
/// request that edits a manifest a spec names with `from:` got no comment. Every fixture's spec
/// files and `from:` files must trigger it; the filter itself is checked with a path it skips.
#[test]
fn the_diff_workflow_runs_for_every_file_a_spec_reads() {
    let workflow = yaml_file(&project().join("examples/github/kanari-diff.yml"));
    let on = &workflow["on"]["pull_request"];
    let from = regex::Regex::new(r"(?m)^\s*(?:-\s+)?from:\s*(\S+)\s*$").unwrap();
    let mut read = Vec::new();
    for entry in walkdir::WalkDir::new(project().join("fixtures")).sort_by_file_name() {
        let entry = entry.unwrap();
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(project().join("fixtures")) else { continue };
        let mut parts = rel.components();
        if parts.next().is_none() {
            continue;
        }
        let in_fixture = parts.as_path().to_str().unwrap().to_string();
        if !in_fixture.starts_with("canaries/") || !entry.file_type().is_file() {
            continue;
        }
        read.push(in_fixture.clone());
        let text = std::fs::read_to_string(path).unwrap();
        for file in from.captures_iter(&text) {
            read.push(file[1].trim_matches(['"', '\'']).to_string());
        }
    }
    assert!(read.iter().any(|p| p == "manifests/virtualservice.yaml"), "the fixtures' `from:` files: {read:?}");
    for path in &read {
        assert!(triggers(on, path), "a pull request that edits `{path}` gets no kanari comment: {on}");
    }
    // The filter reading can fail: the old filter skips a `from:` file.
    let old = serde_json::json!({"paths": ["canaries/**", "overlays/**", ".kanari/**"]});
    assert!(triggers(&old, "canaries/reviews.yaml") && !triggers(&old, "manifests/virtualservice.yaml"));
}

/// The diff step against a real repository: the own-manifests release at its last stage, where
/// `diff --next` has nothing to say, then a pull request that edits only the Deployment the
/// spec names with `from:`. kanari, not a path list, decides whether there is something to post.
#[test]
fn the_diff_step_sees_a_pull_request_that_edits_only_a_from_manifest() {
    let workflow = yaml_file(&project().join("examples/github/kanari-diff.yml"));
    let step = script(&workflow, "Render the diff");
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin.git");
    git(dir.path(), &["init", "-q", "--bare", "-b", "main", origin.to_str().unwrap()]);
    let seed = fixture_repo("own-manifests");
    let s = seed.path();
    for day in 1..=9 {
        let now = format!("2026-01-0{day}T00:00:00Z");
        let run = crate::kanari_env(
            s,
            &["promote", "--skip-gates", "--reason", "test", "--author", "CI <ci@example.com>"],
            &[("KANARI_NOW", &now)],
        );
        assert!(run.code == 0, "{}", run.stderr);
    }
    git(s, &["push", "-q", origin.to_str().unwrap(), "main"]);
    let clone = dir.path().join("clone");
    git(dir.path(), &["clone", "-q", origin.to_str().unwrap(), clone.to_str().unwrap()]);
    let bin = tempfile::tempdir().unwrap();
    let output = bin.path().join("github-output");
    let env = |out: &Path| {
        vec![
            ("BASE_REF", "main".to_string()),
            ("GITHUB_OUTPUT", out.display().to_string()),
            ("KANARI_NOW", "2026-01-10T00:00:00Z".to_string()),
        ]
    };
    let run = |out: &Path| {
        let env = env(out);
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        run_script(&step, &clone, bin.path(), &env)
    };
    // Nothing changed: the step passes and says so.
    let out = run(&output);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "changes=0\n");
    // Only the `from:` Deployment changes.
    git(&clone, &["checkout", "-q", "-b", "pull-request"]);
    let manifest = clone.join("manifests/deployment.yaml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(&manifest, text.replace("revisionHistoryLimit: 5", "revisionHistoryLimit: 7")).unwrap();
    git(&clone, &["commit", "-q", "-am", "reviews: keep 7 old ReplicaSets"]);
    let output = bin.path().join("github-output-2");
    let out = run(&output);
    assert!(out.status.success(), "{}", said(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "changes=1\n");
    let comment = std::fs::read_to_string(clone.join("kanari-diff.md")).unwrap();
    assert!(comment.contains("revisionHistoryLimit: 7"), "{comment}");
}

/// A stand-in `gh` that records its arguments, answers a listing's `--jq` with the real `jq`
/// over `$GH_COMMENTS`, and keeps the body a `-F body=@FILE` sends.
fn fake_gh(bin: &Path) {
    let gh = bin.join("gh");
    let jq = crate::tool("jq");
    std::fs::write(
        &gh,
        r#"#!/usr/bin/env bash
set -eu
printf '%s\n' "$*" >> "$GH_LOG"
prev=""
jq_program=""
for arg in "$@"; do
  [ "$prev" = "--jq" ] && jq_program="$arg"
  case "$arg" in body=@*) cp "${arg#body=@}" "$GH_BODY" ;; esac
  prev="$arg"
done
if [ -n "$jq_program" ]; then JQ -r "$jq_program" "$GH_COMMENTS"; fi
"#
        .replace("JQ", &format!("'{}'", jq.display())),
    )
    .unwrap();
    std::fs::set_permissions(&gh, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
}

/// `gh pr comment --edit-last` edits the last comment of whoever the token is, which may be
/// another workflow's. The comment step finds kanari's own by the marker its body starts with,
/// updates it, creates one only when there is something to say, and never touches another's.
#[test]
fn the_comment_step_updates_the_comment_that_starts_with_the_marker_and_no_other() {
    let workflow = yaml_file(&project().join("examples/github/kanari-diff.yml"));
    let step = script(&workflow, "Post or update kanari's comment");
    assert!(
        !std::fs::read_to_string(project().join("examples/github/kanari-diff.yml")).unwrap().contains("--edit-last")
    );
    let comment = |id: u64, body: &str| serde_json::json!({"id": id, "body": body, "user": {"login": "bot"}});
    let others = [
        comment(11, "LGTM"),
        comment(12, "<!-- other-bot -->\nCoverage went down"),
        comment(13, "> <!-- kanari -->\nquoted by a person"),
    ];
    let cases: [(&str, Vec<Value>, &str, Option<&str>); 4] = [
        (
            "an earlier kanari comment",
            [&others[..], &[comment(14, "<!-- kanari -->\nold diff")]].concat(),
            "1",
            Some("--method PATCH repos/o/r/issues/comments/14"),
        ),
        (
            "an earlier comment, and now nothing to say",
            [&others[..], &[comment(14, "<!-- kanari -->\nold diff")]].concat(),
            "0",
            Some("--method PATCH repos/o/r/issues/comments/14"),
        ),
        ("no kanari comment yet", others.to_vec(), "1", Some("--method POST repos/o/r/issues/7/comments")),
        ("nothing to say, nothing said before", others.to_vec(), "0", None),
    ];
    for (case, comments, changes, write) in cases {
        for first_line in ["<!-- kanari -->\n", ""] {
            let bin = tempfile::tempdir().unwrap();
            fake_gh(bin.path());
            let work = tempfile::tempdir().unwrap();
            std::fs::write(work.path().join("kanari-diff.md"), format!("{first_line}### `bookinfo/reviews`\n"))
                .unwrap();
            let files = |name: &str| bin.path().join(name).display().to_string();
            std::fs::write(files("comments.json"), serde_json::to_string(&comments).unwrap()).unwrap();
            let env = [
                ("GH_TOKEN", "t0ken".to_string()),
                ("REPO", "o/r".to_string()),
                ("PR", "7".to_string()),
                ("CHANGES", changes.to_string()),
                ("GH_LOG", files("log")),
                ("GH_BODY", files("body")),
                ("GH_COMMENTS", files("comments.json")),
            ];
            let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
            let out = run_script(&step, work.path(), bin.path(), &env);
            assert!(out.status.success(), "{case}: {}", said(&out));
            let log = std::fs::read_to_string(files("log")).unwrap();
            let calls: Vec<&str> = log.lines().collect();
            assert!(calls[0].starts_with("api --paginate repos/o/r/issues/7/comments --jq "), "{case}: {log}");
            match write {
                Some(call) => {
                    assert_eq!(calls.len(), 2, "{case}: {log}");
                    assert_eq!(calls[1], format!("api {call} -F body=@kanari-comment.md"), "{case}");
                    let body = std::fs::read_to_string(files("body")).unwrap();
                    assert_eq!(body, "<!-- kanari -->\n### `bookinfo/reviews`\n", "{case}: the marker once, first");
                }
                None => assert_eq!(calls.len(), 1, "{case}: {log}"),
            }
        }
    }
}

/// There was no way to approve or abort from CI. The dispatch workflow: its inputs, the promote
/// job's concurrency group, write access to contents alone, and SchemaStore's schema.
#[test]
fn the_approve_workflow_takes_a_release_an_action_and_a_reason_and_shares_the_promote_group() {
    let approve = yaml_file(&project().join("examples/github/kanari-approve.yml"));
    let promote = yaml_file(&project().join("examples/github/kanari-promote.yml"));
    let inputs = &approve["on"]["workflow_dispatch"]["inputs"];
    assert_eq!(inputs["release"]["required"], true);
    assert_eq!(inputs["action"]["options"], serde_json::json!(["approve", "abort"]));
    assert!(inputs["reason"].is_object());
    assert_eq!(approve["concurrency"]["group"], promote["concurrency"]["group"]);
    assert_eq!(approve["concurrency"]["cancel-in-progress"], false);
    assert_eq!(approve["permissions"], serde_json::json!({"contents": "write"}));
    let out = Command::new(crate::tools::python3_with(&["check_jsonschema"]))
        .args(["-m", "check_jsonschema", "--builtin-schema", "vendor.github-workflows"])
        .args(github_workflows())
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{}", said(&out));
}

/// The approve workflow's script against a real remote: the bookinfo release waiting for
/// approval at 50-50 is approved and pushed; then aborted with a reason that would run code
/// if it were pasted into the script, which kanari records as text; bad inputs are refused.
#[test]
fn the_approve_workflow_approves_and_aborts_with_push_and_runs_no_input() {
    let workflow = yaml_file(&project().join("examples/github/kanari-approve.yml"));
    let step = script(&workflow, "Commit the approval or the abort");
    let dir = tempfile::tempdir().unwrap();
    let origin = dir.path().join("origin.git");
    git(dir.path(), &["init", "-q", "--bare", "-b", "main", origin.to_str().unwrap()]);
    let seed = fixture_repo("bookinfo");
    for hour in 0..5 {
        let now = format!("2026-01-02T{:02}:00:00Z", hour + 1);
        let run =
            crate::kanari_env(seed.path(), &["promote", "--author", "CI <ci@example.com>"], &[("KANARI_NOW", &now)]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    git(seed.path(), &["push", "-q", origin.to_str().unwrap(), "main"]);
    let log = || git(&origin, &["log", "--format=%s", "main"]);
    assert!(log().starts_with("reviews: promote 90-10 -> 50-50"), "{}", log());
    let clone = dir.path().join("clone");
    git(dir.path(), &["clone", "-q", origin.to_str().unwrap(), clone.to_str().unwrap()]);
    let bin = tempfile::tempdir().unwrap();
    let run = |action: &str, release: &str, reason: &str| {
        let env = [
            ("RELEASE", release),
            ("ACTION", action),
            ("REASON", reason),
            ("ACTOR", "octocat"),
            ("KANARI_NOW", "2026-01-02T07:00:00Z"),
        ];
        run_script(&step, &clone, bin.path(), &env)
    };
    let out = run("approve", "reviews", "");
    assert!(out.status.success(), "{}", said(&out));
    assert!(log().starts_with("reviews: approve 50-50\n"), "{}", log());

    let refused = run("abort", "reviews", "");
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    assert!(said(&refused).contains("an abort needs a reason"), "{}", said(&refused));
    let refused = run("merge", "reviews", "x");
    assert_eq!(refused.status.code(), Some(2), "{}", said(&refused));
    assert!(log().starts_with("reviews: approve 50-50\n"), "nothing pushed: {}", log());

    let reason = r#"p99 doubled $(touch pwned) `touch pwned` "; touch pwned"#;
    let out = run("abort", "reviews", reason);
    assert!(out.status.success(), "{}", said(&out));
    assert!(log().starts_with("reviews: abort 50-50\n"), "{}", log());
    assert!(!clone.join("pwned").exists() && !bin.path().join("pwned").exists(), "an input ran as a command");
    let message = git(&origin, &["log", "-1", "--format=%B", "main"]);
    assert!(message.contains(&format!("reason: {reason} (by octocat)\n")), "{message}");
}
