//! `--push` against real remotes on this machine: a bare repository over `file://`, and
//! `git daemon` with receive-pack on 127.0.0.1 (a free port, stopped when the test ends), plus a
//! loopback HTTP server that answers 401. Every loop is bounded in count and time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::{fixture_repo, git, kanari_command, kanari_env, kustomize};

/// A bare `origin.git` in a temporary folder, holding the bookinfo fixture on `main`.
struct Origin {
    dir: tempfile::TempDir,
}

impl Origin {
    fn new() -> Origin {
        let dir = tempfile::tempdir().unwrap();
        git(dir.path(), &["init", "-q", "--bare", "-b", "main", "origin.git"]);
        let seed = fixture_repo("bookinfo");
        git(seed.path(), &["push", "-q", dir.path().join("origin.git").to_str().unwrap(), "main"]);
        Origin { dir }
    }

    fn path(&self) -> PathBuf {
        self.dir.path().join("origin.git")
    }

    fn file_url(&self) -> String {
        format!("file://{}", self.path().display())
    }

    fn log(&self) -> Vec<String> {
        git(&self.path(), &["log", "--format=%s", "main"]).lines().map(str::to_string).collect()
    }

    fn clone(&self, url: &str, extra: &[&str]) -> (tempfile::TempDir, PathBuf) {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec!["clone", "-q"];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[url, "clone"]);
        git(tmp.path(), &args);
        let path = tmp.path().join("clone");
        (tmp, path)
    }
}

/// `git daemon` serving a folder on 127.0.0.1, receive-pack enabled; killed when dropped.
struct Daemon {
    child: Child,
    port: u16,
}

impl Daemon {
    fn serve(base: &Path) -> Daemon {
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("git")
            .args(["daemon", "--reuseaddr", "--export-all", "--enable=receive-pack", "--listen=127.0.0.1"])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon");
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not listen on port {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon { child, port }
    }

    fn url(&self, repo: &str) -> String {
        format!("git://127.0.0.1:{}/{repo}", self.port)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn promote_push(clone: &Path, extra: &[&str]) -> Command {
    let mut args = vec!["-C", clone.to_str().unwrap(), "promote", "--push", "--author", "CI <ci@example.com>"];
    args.extend_from_slice(extra);
    kanari_command(clone, &args, &[("KANARI_NOW", "2026-04-01T00:00:00Z")])
}

/// Six clones promote at once, three times over: each race moves the remote exactly one commit.
fn six_clones_race(origin: &Origin, url: &str) {
    let expected = [
        "reviews: promote (new) -> steady",
        "reviews: promote steady -> prepare",
        "reviews: promote prepare -> jason (stage 1 of 4)",
    ];
    for (round, subject) in expected.iter().enumerate() {
        let before = origin.log();
        let clones: Vec<(tempfile::TempDir, PathBuf)> = (0..6).map(|_| origin.clone(url, &[])).collect();
        let children: Vec<Child> = clones
            .iter()
            .map(|(_, path)| promote_push(path, &[]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
            assert_eq!(out.status.code(), Some(0), "round {round}: {stdout}{stderr}");
        }
        let after = origin.log();
        assert_eq!(after.len(), before.len() + 1, "round {round}: {after:?}");
        assert_eq!(&after[0], subject);
        assert_eq!(git(&origin.path(), &["rev-list", "--merges", "main"]), "", "history is not linear");
    }
    git(&origin.path(), &["fsck", "--strict", "--no-progress"]);
}

#[test]
fn six_clones_racing_over_git_daemon_move_the_remote_once_per_race() {
    let origin = Origin::new();
    let daemon = Daemon::serve(origin.dir.path());
    six_clones_race(&origin, &daemon.url("origin.git"));
}

#[test]
fn six_clones_racing_over_file_urls_move_the_remote_once_per_race() {
    let origin = Origin::new();
    six_clones_race(&origin, &origin.file_url());
}

#[test]
fn a_push_the_server_refuses_is_a_failure_that_says_why() {
    let origin = Origin::new();
    let hook = origin.path().join("hooks/pre-receive");
    std::fs::write(&hook, "#!/bin/sh\necho 'main is protected: promotions need a release ticket' >&2\nexit 1\n")
        .unwrap();
    std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let daemon = Daemon::serve(origin.dir.path());
    let (_tmp, clone) = origin.clone(&daemon.url("origin.git"), &[]);
    let before = origin.log();
    let out = promote_push(&clone, &[]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(4), "{stderr}");
    assert!(stderr.contains("the server refused the push"), "{stderr}");
    assert!(stderr.contains("promotions need a release ticket"), "{stderr}");
    assert_eq!(origin.log(), before, "the remote changed");
    // The clone's own branch did not move either: nothing landed.
    assert_eq!(git(&clone, &["log", "-1", "--format=%s", "main"]).trim(), "the release's spec");
}

#[test]
fn a_remote_that_moved_with_an_unrelated_commit_gets_the_promote_on_top_once() {
    let origin = Origin::new();
    let url = origin.file_url();
    let (_stale_tmp, stale) = origin.clone(&url, &[]);
    let (_other_tmp, other) = origin.clone(&url, &[]);
    std::fs::write(other.join("TEAM.md"), "payments\n").unwrap();
    git(&other, &["add", "TEAM.md"]);
    git(&other, &["commit", "-q", "-m", "docs: the owning team"]);
    git(&other, &["push", "-q", "origin", "main"]);

    let out = promote_push(&stale, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(origin.log(), ["reviews: promote (new) -> steady", "docs: the owning team", "the release's spec"]);
    let files = git(&origin.path(), &["show", "--name-only", "--format=", "main"]);
    assert!(files.lines().all(|f| f.starts_with("overlays/reviews/")), "{files}");
    // Once: a second run finds the target state and pushes nothing.
    let again = promote_push(&stale, &[]).output().unwrap();
    assert_eq!(again.status.code(), Some(0));
    assert_eq!(origin.log().len(), 3);
}

#[test]
fn a_depth_1_clone_with_a_detached_head_pushes_to_the_right_branch() {
    let origin = Origin::new();
    let daemon = Daemon::serve(origin.dir.path());
    let (_tmp, clone) = origin.clone(&daemon.url("origin.git"), &["--depth", "1"]);
    git(&clone, &["checkout", "-q", "--detach"]);
    let out = promote_push(&clone, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(origin.log(), ["reviews: promote (new) -> steady", "the release's spec"]);
    assert_eq!(git(&clone, &["rev-parse", "HEAD"]), git(&origin.path(), &["rev-parse", "main"]));
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
    kustomize(&clone.join("overlays/reviews"));
}

#[test]
fn a_stale_git_lock_file_is_a_clear_error_not_a_hang() {
    let origin = Origin::new();
    let (_tmp, clone) = origin.clone(&origin.file_url(), &[]);
    std::fs::write(clone.join(".git/refs/heads/main.lock"), "").unwrap();
    let out = kanari_env(&clone, &["-C", clone.to_str().unwrap(), "promote", "--author", "CI <ci@example.com>"], &[]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains(".git/refs/heads/main.lock` exists"), "{}", out.stderr);
    assert_eq!(git(&clone, &["log", "-1", "--format=%s", "main"]).trim(), "the release's spec");
}

/// A loopback HTTP server that answers every request 401 and records the requests' heads.
fn unauthorized_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    std::thread::spawn(move || {
        // Bounded: at most 50 requests; the listener closes with the test process.
        for stream in listener.incoming().take(50) {
            let Ok(mut stream) = stream else { continue };
            stream.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            for _ in 0..100 {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            log.lock().unwrap().push(head);
            let body = "unauthorized\n";
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes());
            let _ = stream.flush();
            let mut rest = Vec::new();
            let _ = reader.read_to_end(&mut rest);
        }
    });
    (port, seen)
}

#[test]
fn a_bad_token_fails_fast_and_never_shows() {
    let (port, seen) = unauthorized_server();
    let repo = fixture_repo("bookinfo");
    git(repo.path(), &["remote", "add", "origin", &format!("http://127.0.0.1:{port}/platform/gitops.git")]);
    let token = "kanari-test-token-5f0c2a7e";
    let out = kanari_env(
        repo.path(),
        &["-C", repo.path().to_str().unwrap(), "promote", "--push", "--author", "CI <ci@example.com>"],
        &[("KANARI_GIT_TOKEN", token)],
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("failed to fetch"), "{}", out.stderr);
    assert!(
        !out.stdout.contains(token) && !out.stderr.contains(token),
        "the token leaked:\n{}{}",
        out.stdout,
        out.stderr
    );
    let requests = seen.lock().unwrap().clone();
    // The token was offered (base64 in a Basic header), and given up on after a few refusals.
    let offered = requests.iter().filter(|h| h.to_ascii_lowercase().contains("authorization: basic")).count();
    assert!(offered >= 1, "the token was never offered: {requests:?}");
    assert!(requests.len() <= 6, "kept asking: {} requests", requests.len());
    assert_eq!(git(repo.path(), &["log", "--format=%s"]).trim(), "the release's spec");
}
