//! kanari's integration tests: one binary that runs the real `kanari` program against copies of
//! the fixtures in temporary folders, and checks what it writes with the real `kubectl kustomize`.
//! The environment is hermetic: no `KANARI_*` or `NO_COLOR` from outside, a fixed clock.

mod analysis;
mod bundled;
mod comment;
mod completions;
mod decisions;
mod decisions_remote;
mod disk;
mod docpaths;
mod ecosystem;
mod errors;
mod examples;
mod failures;
mod fidelity;
mod fleet_analysis;
mod fleet_spec;
mod git;
mod gittoken;
mod hostile;
mod hung;
mod index;
mod init;
mod kills;
mod lint;
mod neighbours;
mod overlaytrust;
mod own;
mod ports;
mod prometheus;
mod props;
mod proptesting;
mod push;
mod readme;
mod render;
mod review;
mod schema;
mod secrets;
mod semantics;
mod servers;
mod signing;
mod simulation;
mod spec_schema;
mod specs;
mod stats_reference;
mod structure;
mod template;
mod tools;
mod transitions;
mod ux;
mod watched;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;
pub use specs::{Spec, Stage};
pub use tools::tool;

/// The project's own folder.
pub fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// What one run of the binary did.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `kanari` with a clean environment, run in `cwd`.
pub fn kanari(cwd: &Path, args: &[&str]) -> Run {
    kanari_env(cwd, args, &[])
}

/// `kanari` with a clean environment plus `env`: no user or system Git configuration, no
/// `KANARI_*`, `GIT_*` or `NO_COLOR` from outside, and a fixed clock unless `env` sets one.
pub fn kanari_env(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let out = kanari_command(cwd, args, env).output().expect("failed to run kanari");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).expect("stdout is UTF-8"),
        stderr: String::from_utf8(out.stderr).expect("stderr is UTF-8"),
    }
}

/// The command [`kanari_env`] runs, for tests that start it themselves.
pub fn kanari_command(cwd: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_kanari"));
    cmd.args(args).current_dir(cwd);
    hermetic(&mut cmd);
    cmd.env("KANARI_NOW", "2026-01-02T03:04:05Z");
    for (key, value) in env {
        cmd.env(key, value);
    }
    cmd
}

fn hermetic(cmd: &mut Command) {
    for (key, _) in std::env::vars() {
        if key.starts_with("KANARI_") || key.starts_with("GIT_") || key == "NO_COLOR" {
            cmd.env_remove(key);
        }
    }
    // libgit2 reads the global configuration from HOME, whatever GIT_CONFIG_GLOBAL says.
    cmd.env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", "/nonexistent/kanari-test-home")
        .env_remove("XDG_CONFIG_HOME");
}

/// The real `git` in `dir`, hermetic, with a fixed identity and time; panics when it fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let mut cmd = Command::new(tool("git"));
    cmd.args(args).current_dir(dir);
    hermetic(&mut cmd);
    cmd.env("GIT_AUTHOR_NAME", "Dev")
        .env("GIT_AUTHOR_EMAIL", "dev@example.com")
        .env("GIT_COMMITTER_NAME", "Dev")
        .env("GIT_COMMITTER_EMAIL", "dev@example.com")
        .env("GIT_AUTHOR_DATE", "2026-01-01T00:00:00Z")
        .env("GIT_COMMITTER_DATE", "2026-01-01T00:00:00Z");
    let out = cmd.output().expect("git runs");
    assert!(out.status.success(), "git {args:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// A copy of a fixture as a Git repository with one commit on `main`.
pub fn fixture_repo(name: &str) -> tempfile::TempDir {
    let dir = fixture(name);
    git(dir.path(), &["init", "-q", "-b", "main"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "the release's spec"]);
    dir
}

/// Like [`kanari`], but the run must succeed.
pub fn kanari_ok(cwd: &Path, args: &[&str]) -> Run {
    let run = kanari(cwd, args);
    assert_eq!(run.code, 0, "kanari {args:?} failed:\n{}\n{}", run.stdout, run.stderr);
    run
}

/// A copy of `fixtures/<name>` in a temporary folder.
pub fn fixture(name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    copy_tree(&project().join("fixtures").join(name), dir.path());
    dir
}

/// A temporary repository holding `files` (path → contents).
pub fn repo_with(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (path, text) in files {
        let path = dir.path().join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}

pub fn copy_tree(from: &Path, to: &Path) {
    for entry in walkdir::WalkDir::new(from).sort_by_file_name() {
        let entry = entry.unwrap();
        let target = to.join(entry.path().strip_prefix(from).unwrap());
        if entry.file_type().is_dir() {
            std::fs::create_dir_all(&target).unwrap();
        } else {
            std::fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// Every file below `dir` (symlinks as their targets' text), for "nothing changed" checks.
pub fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.unwrap();
        let rel = entry.path().strip_prefix(dir).unwrap().to_path_buf();
        if entry.path_is_symlink() {
            let target = std::fs::read_link(entry.path()).unwrap();
            out.insert(rel, format!("symlink -> {}", target.display()).into_bytes());
        } else if entry.file_type().is_file() {
            out.insert(rel, std::fs::read(entry.path()).unwrap());
        } else {
            out.insert(rel, b"<dir>".to_vec());
        }
    }
    out
}

/// `kubectl kustomize dir`: the real program; the test fails when it cannot build the overlay.
pub fn kustomize(dir: &Path) -> String {
    let out = Command::new(tool("kubectl")).arg("kustomize").arg(dir).output().expect("kubectl runs");
    assert!(
        out.status.success(),
        "kubectl kustomize {} failed:\n{}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The documents of a YAML stream, as JSON values.
pub fn documents(yaml: &str) -> Vec<Value> {
    serde_saphyr::from_multiple::<Value>(yaml).expect("valid YAML").into_iter().filter(|v| !v.is_null()).collect()
}

/// The one document of `kind` in `docs`.
pub fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| d["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

/// The documents of `kind` in `docs`.
pub fn all<'a>(docs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| d["kind"] == kind).collect()
}

/// The catch-all route's weights by subset: `[("v1", 90), ("v2", 10)]`.
pub fn weights(vs: &Value) -> Vec<(String, u64)> {
    let http = vs["spec"]["http"].as_array().expect("http routes");
    let last = http.last().expect("a catch-all route");
    assert!(last.get("match").is_none(), "the last route must be the catch-all: {last}");
    last["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["destination"]["subset"].as_str().unwrap().to_string(), r["weight"].as_u64().unwrap_or(100)))
        .collect()
}

/// The catch-all weights of an HTTPRoute (the rule without `matches`, last), by backend name.
pub fn backend_weights(route: &Value) -> Vec<(String, u64)> {
    let rules = route["spec"]["rules"].as_array().expect("HTTPRoute rules");
    let last = rules.last().expect("a catch-all rule");
    assert!(last.get("matches").is_none(), "the last rule must be the catch-all: {last}");
    let backends = last["backendRefs"].as_array().unwrap();
    backends.iter().map(|b| (b["name"].as_str().unwrap().to_string(), b["weight"].as_u64().unwrap_or(1))).collect()
}

/// Deployment name → `spec.replicas` (None when an HPA owns the count).
pub fn replicas(docs: &[Value]) -> BTreeMap<String, Option<u64>> {
    all(docs, "Deployment")
        .into_iter()
        .map(|d| (d["metadata"]["name"].as_str().unwrap().to_string(), d["spec"]["replicas"].as_u64()))
        .collect()
}

/// `text` with the temporary folder `dir` (as given, and as its real path) written as `name`, so
/// that a snapshot of it is the same on every run.
pub fn redact(text: &str, dir: &Path, name: &str) -> String {
    let real = dir.canonicalize().unwrap_or_else(|_| dir.to_path_buf());
    let mut out = text.to_string();
    for path in [real, dir.to_path_buf()] {
        out = out.replace(path.to_str().expect("a UTF-8 temporary path"), name);
    }
    out
}

/// The pods of one version as a table row expects them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pods {
    /// No Deployment of that version.
    None,
    /// A Deployment whose count an HPA owns (no `spec.replicas`).
    Autoscaled,
    /// A Deployment with `spec.replicas` of this many pods.
    Replicas(u64),
}

/// The pods of the Deployment named `name` in `docs`.
pub fn pods(docs: &[Value], name: &str) -> Pods {
    match replicas(docs).get(name) {
        None => Pods::None,
        Some(None) => Pods::Autoscaled,
        Some(Some(n)) => Pods::Replicas(*n),
    }
}

/// A state name as kanari's YAML writes it: quoted when it would read as a number.
pub fn quoted_if_numeric(s: &str) -> String {
    if s.parse::<f64>().is_ok() { format!("\"{s}\"") } else { s.to_string() }
}
