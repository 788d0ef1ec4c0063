//! kanari where platform engineers meet it: the GitHub Action (action.yml, action/install.sh,
//! action/run.sh), the release workflow, the pre-commit hook and the CI examples.
//!
//! - The workflows, the Action and the GitLab example pass SchemaStore's schemas, as vendored by
//!   PyPI's `check-jsonschema` (`.ci/run` installs it); a misspelled key fails them.
//! - `.pre-commit-hooks.yaml` passes `pre-commit validate-manifest`, and its entry runs.
//! - The install script, against a release served on 127.0.0.1: installs the binary whose
//!   SHA-256 the release's SHA256SUMS lists, refuses one that does not match, and builds from
//!   source (`cargo install --locked`, here a stand-in `cargo` that records its arguments) when
//!   the release has no binary.
//! - The run script splits `args` into words without running anything, refuses an unmatched
//!   quote, and lets the listed exit codes pass.
//! - The install script keeps its token out of every process's arguments, and stops (never
//!   building from source instead) when a download fails for a reason other than 404.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::project;
use crate::servers::ProcessGroup;

fn run(cmd: &mut Command) -> Output {
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The Python tools run as modules of the `python3` that `.ci/run` installed them into, so that
/// they are found whether or not pip put their scripts on PATH.
fn python_module(module: &str) -> Command {
    let mut cmd = Command::new(crate::tools::python3_with(&[module]));
    cmd.args(["-m", module]);
    cmd
}

fn check_jsonschema(schema: &str, files: &[PathBuf]) -> Output {
    run(python_module("check_jsonschema").arg("--builtin-schema").arg(schema).args(files))
}

#[test]
fn the_workflows_the_action_and_the_gitlab_example_pass_the_schemastore_schemas() {
    let p = project();
    let groups: [(&str, Vec<PathBuf>); 3] = [
        (
            "vendor.github-workflows",
            vec![
                p.join(".github/workflows/release.yml"),
                p.join("examples/github/kanari-promote.yml"),
                p.join("examples/github/kanari-diff.yml"),
            ],
        ),
        ("vendor.github-actions", vec![p.join("action.yml")]),
        ("vendor.gitlab-ci", vec![p.join("examples/gitlab/.gitlab-ci.yml")]),
    ];
    for (schema, files) in &groups {
        let out = check_jsonschema(schema, files);
        assert!(out.status.success(), "{schema}: {}", text(&out));
    }
    // The check can fail: a misspelled key in a copy of the Action and of a workflow.
    let dir = tempfile::tempdir().unwrap();
    let action =
        std::fs::read_to_string(p.join("action.yml")).unwrap().replace("  using: composite", "  usin: composite");
    let workflow =
        std::fs::read_to_string(p.join("examples/github/kanari-diff.yml")).unwrap().replace("runs-on:", "run-on:");
    for (schema, name, bytes) in
        [("vendor.github-actions", "action.yml", action), ("vendor.github-workflows", "diff.yml", workflow)]
    {
        std::fs::write(dir.path().join(name), bytes).unwrap();
        let out = check_jsonschema(schema, &[dir.path().join(name)]);
        assert_eq!(out.status.code(), Some(1), "{name} with a misspelled key passed {schema}: {}", text(&out));
    }
}

#[test]
fn the_pre_commit_manifest_is_valid_and_its_entry_runs() {
    let manifest = project().join(".pre-commit-hooks.yaml");
    let out = run(python_module("pre_commit").arg("validate-manifest").arg(&manifest));
    assert!(out.status.success(), "{}", text(&out));
    let hooks: serde_json::Value = serde_saphyr::from_str(&std::fs::read_to_string(&manifest).unwrap()).unwrap();
    let entry = hooks[0]["entry"].as_str().unwrap();
    let words: Vec<&str> = entry.split_whitespace().collect();
    assert_eq!(words[0], "kanari", "{entry}");
    let repo = crate::fixture("bookinfo");
    let run = crate::kanari(repo.path(), &words[1..]);
    assert_eq!(run.code, 0, "{entry} on bookinfo: {}{}", run.stdout, run.stderr);
}

/// The Rust target triple the install script picks on this machine.
fn triple() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "x86_64-unknown-linux-musl",
        "aarch64" => "aarch64-unknown-linux-musl",
        other => panic!("no release target for {other}"),
    }
}

/// A release of `owner/kanari` tagged v9.9.9 with this build's binary, and its GitHub API
/// answer, as files under a folder served over HTTP on 127.0.0.1.
struct Release {
    root: tempfile::TempDir,
    _server: ProcessGroup,
    url: String,
}

impl Release {
    fn serve() -> Release {
        let root = tempfile::tempdir().unwrap();
        let download = root.path().join("owner/kanari/releases/download/v9.9.9");
        std::fs::create_dir_all(&download).unwrap();
        let stage = tempfile::tempdir().unwrap();
        std::fs::copy(env!("CARGO_BIN_EXE_kanari"), stage.path().join("kanari")).unwrap();
        let asset = format!("kanari-v9.9.9-{}.tar.gz", triple());
        let tar =
            run(Command::new("tar").arg("-czf").arg(download.join(&asset)).arg("-C").arg(stage.path()).arg("kanari"));
        assert!(tar.status.success(), "{}", text(&tar));
        let sum = run(Command::new("sha256sum").arg(&asset).current_dir(&download));
        std::fs::write(download.join("SHA256SUMS"), &sum.stdout).unwrap();
        let api = root.path().join("api/repos/owner/kanari/releases");
        std::fs::create_dir_all(&api).unwrap();
        std::fs::write(
            api.join("latest"),
            "{\n  \"url\": \"x\",\n  \"tag_name\": \"v9.9.9\",\n  \"name\": \"v9.9.9\"\n}\n",
        )
        .unwrap();

        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut cmd = Command::new(crate::tool("python3"));
        cmd.args(["-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let server = ProcessGroup::spawn(cmd);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the release server did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Release { root, _server: server, url: format!("http://127.0.0.1:{port}") }
    }

    fn download(&self) -> PathBuf {
        self.root.path().join("owner/kanari/releases/download/v9.9.9")
    }

    /// Runs action/install.sh for `version` into `into`, with `path_dir` first on PATH.
    fn install(&self, version: &str, into: &Path, path_dir: &Path) -> Output {
        crate::tool("curl");
        let path = format!("{}:{}", path_dir.display(), std::env::var("PATH").unwrap());
        run(Command::new("bash")
            .arg(project().join("action/install.sh"))
            .env("KANARI_VERSION", version)
            .env("KANARI_REPOSITORY", "owner/kanari")
            .env("KANARI_SOURCE", project())
            .env("KANARI_RELEASES_URL", &self.url)
            .env("KANARI_API_URL", format!("{}/api", self.url))
            .env("KANARI_INSTALL_DIR", into)
            .env("GITHUB_PATH", into.join("github-path"))
            .env("PATH", path)
            .env_remove("KANARI_TOKEN"))
    }
}

/// A stand-in `cargo` that records its arguments and installs a copy of this build's kanari
/// where `--root` says.
fn fake_cargo(dir: &Path) -> PathBuf {
    let log = dir.join("cargo-args");
    let script = format!(
        "#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" > '{}'\nwhile [ $# -gt 0 ]; do [ \"$1\" = --root ] && root=$2; shift; done\nmkdir -p \"$root/bin\" && cp '{}' \"$root/bin/kanari\"\n",
        log.display(),
        env!("CARGO_BIN_EXE_kanari")
    );
    let cargo = dir.join("cargo");
    std::fs::write(&cargo, script).unwrap();
    run(Command::new("chmod").arg("+x").arg(&cargo));
    log
}

#[test]
fn the_action_installs_a_checked_release_binary_and_builds_from_source_when_none_matches() {
    let release = Release::serve();
    let shims = tempfile::tempdir().unwrap();
    let cargo_log = fake_cargo(shims.path());

    // The latest release: its binary, checked, on the job's PATH.
    let into = tempfile::tempdir().unwrap();
    let out = release.install("latest", into.path(), shims.path());
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains(&format!("installed kanari-v9.9.9-{}.tar.gz", triple())), "{}", text(&out));
    let version = run(Command::new(into.path().join("bin/kanari")).arg("--version"));
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("kanari "), "{}", text(&version));
    let github_path = std::fs::read_to_string(into.path().join("github-path")).unwrap();
    assert_eq!(github_path.trim(), into.path().join("bin").to_str().unwrap());
    assert!(!cargo_log.exists(), "a release binary was there: nothing is built");

    // A release with no such tag: built from the action's source.
    let into = tempfile::tempdir().unwrap();
    let out = release.install("v0.0.1", into.path(), shims.path());
    assert!(out.status.success(), "{}", text(&out));
    let args = std::fs::read_to_string(&cargo_log).unwrap();
    let expected =
        format!("install\n--locked\n--quiet\n--path\n{}\n--root\n{}\n", project().display(), into.path().display());
    assert_eq!(args, expected);
    assert!(into.path().join("bin/kanari").exists());

    // A binary that does not match SHA256SUMS: refused, nothing installed, nothing built.
    std::fs::remove_file(&cargo_log).unwrap();
    let sums = release.download().join("SHA256SUMS");
    let good = std::fs::read_to_string(&sums).unwrap();
    let other = if good.starts_with('0') { "1" } else { "0" };
    let tampered = format!("{other}{}", &good[1..]);
    std::fs::write(&sums, tampered).unwrap();
    let into = tempfile::tempdir().unwrap();
    let out = release.install("v9.9.9", into.path(), shims.path());
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("does not match SHA256SUMS"), "{}", text(&out));
    assert!(!into.path().join("bin/kanari").exists() && !cargo_log.exists());
}

/// Runs action/run.sh in the bookinfo fixture with this build's kanari on PATH.
fn action_run(command: &str, args: &str, allowed: &str, output: &Path) -> Output {
    let repo = crate::fixture("bookinfo");
    let bin = Path::new(env!("CARGO_BIN_EXE_kanari")).parent().unwrap().to_path_buf();
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    run(Command::new("bash")
        .arg(project().join("action/run.sh"))
        .current_dir(repo.path())
        .env("PATH", path)
        .env("KANARI_COMMAND", command)
        .env("KANARI_ARGS", args)
        .env("KANARI_ALLOWED", allowed)
        .env("GITHUB_OUTPUT", output))
}

#[test]
fn the_action_runs_one_command_with_its_words_and_allowed_exit_codes() {
    let dir = tempfile::tempdir().unwrap();
    let output = dir.path().join("output");
    let out = action_run("render", "--stage '50-50' --stdout", "0", &output);
    assert!(out.status.success(), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("kind: VirtualService"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "exit-code=0\n");

    // Nothing in the arguments runs: the command substitution reaches kanari as a word.
    let marker = dir.path().join("ran");
    let args = format!("--stage \"$(touch {})\" --stdout", marker.display());
    std::fs::remove_file(&output).unwrap();
    let out = action_run("render", &args, "0", &output);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(!marker.exists(), "an argument was run by the shell");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "exit-code=2\n");

    // An allowed code passes the step and is still the output.
    std::fs::remove_file(&output).unwrap();
    let out = action_run("render", &args, "0 2", &output);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "exit-code=2\n");
}

/// A stand-in for `name` first on PATH that records its arguments, one a line, in `dir/<name>-args`,
/// then runs the real one (or nothing, when `real` is false).
fn recording(dir: &Path, name: &str, real: bool) -> PathBuf {
    let log = dir.join(format!("{name}-args"));
    let then = match real {
        true => {
            format!("exec '{}' \"$@\"\n", crate::tool(name).display())
        }
        false => String::new(),
    };
    let script = format!("#!/usr/bin/env bash\nprintf '%s\\n' \"$@\" >> '{}'\n{then}", log.display());
    let path = dir.join(name);
    std::fs::write(&path, script).unwrap();
    run(Command::new("chmod").arg("+x").arg(&path));
    log
}

/// A server on 127.0.0.1 that answers every request with `status` (a Python one-liner, in a
/// process group stopped when dropped); its URL.
fn answering(status: u16) -> (ProcessGroup, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let script = format!(
        "import http.server\nclass H(http.server.BaseHTTPRequestHandler):\n    def do_GET(self):\n        self.send_response({status}); self.send_header('Content-Length', '0'); self.end_headers()\n    def log_message(self, *a): pass\nhttp.server.HTTPServer(('127.0.0.1', {port}), H).serve_forever()\n"
    );
    let mut cmd = Command::new(crate::tool("python3"));
    cmd.args(["-c", &script]).stdout(Stdio::null()).stderr(Stdio::null());
    let server = ProcessGroup::spawn(cmd);
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not listen on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
    (server, format!("http://127.0.0.1:{port}"))
}

#[test]
fn the_action_keeps_its_token_out_of_argv_and_stops_on_a_download_that_fails_other_than_404() {
    let release = Release::serve();
    let shims = tempfile::tempdir().unwrap();
    let cargo_log = fake_cargo(shims.path());
    let curl_log = recording(shims.path(), "curl", true);

    // The token reaches curl in a header file, never as an argument any process can read.
    let into = tempfile::tempdir().unwrap();
    let path = format!("{}:{}", shims.path().display(), std::env::var("PATH").unwrap());
    let out = run(Command::new("bash")
        .arg(project().join("action/install.sh"))
        .env("KANARI_VERSION", "latest")
        .env("KANARI_REPOSITORY", "owner/kanari")
        .env("KANARI_SOURCE", project())
        .env("KANARI_RELEASES_URL", &release.url)
        .env("KANARI_API_URL", format!("{}/api", release.url))
        .env("KANARI_INSTALL_DIR", into.path())
        .env("KANARI_TOKEN", "tok-in-argv-never-3141")
        .env("PATH", &path));
    assert!(out.status.success(), "{}", text(&out));
    let args = std::fs::read_to_string(&curl_log).unwrap();
    assert!(args.contains("-H\n@"), "the API call carries a header from a file: {args}");
    assert!(!args.contains("tok-in-argv-never-3141"), "the token was an argument of curl: {args}");

    // A release server that refuses the credentials, or that cannot be reached: exit 1, and
    // nothing is built in its place.
    let (_refusing, refusing) = answering(401);
    let closed = {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        format!("http://127.0.0.1:{port}")
    };
    for url in [refusing, closed] {
        let into = tempfile::tempdir().unwrap();
        let out = run(Command::new("bash")
            .arg(project().join("action/install.sh"))
            .env("KANARI_VERSION", "v9.9.9")
            .env("KANARI_REPOSITORY", "owner/kanari")
            .env("KANARI_SOURCE", project())
            .env("KANARI_RELEASES_URL", &url)
            .env("KANARI_INSTALL_DIR", into.path())
            .env("PATH", &path)
            .env_remove("KANARI_TOKEN"));
        assert_eq!(out.status.code(), Some(1), "{url}: {}", text(&out));
        assert!(text(&out).contains("not installed"), "{url}: {}", text(&out));
        assert!(!cargo_log.exists(), "{url}: a failed download fell back to building from source");
        assert!(!into.path().join("bin/kanari").exists());
    }
}

#[test]
fn the_action_refuses_args_with_an_unmatched_quote_and_runs_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let kanari_log = recording(dir.path(), "kanari", false);
    let output = dir.path().join("output");
    let path = format!("{}:{}", dir.path().display(), std::env::var("PATH").unwrap());
    let out = run(Command::new("bash")
        .arg(project().join("action/run.sh"))
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("KANARI_COMMAND", "promote")
        .env("KANARI_ARGS", "--reason don't --dry-run")
        .env("KANARI_ALLOWED", "0")
        .env("GITHUB_OUTPUT", &output));
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("unmatched quote"), "{}", text(&out));
    assert!(!kanari_log.exists(), "kanari ran with the words before the quote");
    assert_eq!(std::fs::read_to_string(&output).unwrap(), "exit-code=2\n");
    // Balanced quotes still group words.
    let out = run(Command::new("bash")
        .arg(project().join("action/run.sh"))
        .current_dir(dir.path())
        .env("PATH", &path)
        .env("KANARI_COMMAND", "promote")
        .env("KANARI_ARGS", "--reason \"don't stop\" --dry-run")
        .env("GITHUB_OUTPUT", &output));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&kanari_log).unwrap(), "promote\n--reason\ndon't stop\n--dry-run\n");
}
