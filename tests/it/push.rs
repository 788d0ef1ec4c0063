//! `--push` against real remotes on this machine: a bare repository over `file://`, and
//! `git daemon` with receive-pack on 127.0.0.1 (a free port, stopped when the test ends), plus a
//! loopback HTTP server that answers 401. Every loop is bounded in count and time.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::servers::{Daemon, SmartHttp};
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

fn promote_push(clone: &Path, extra: &[&str]) -> Command {
    let mut args = vec!["-C", clone.to_str().unwrap(), "promote", "--push", "--author", "CI <ci@example.com>"];
    args.extend_from_slice(extra);
    kanari_command(clone, &args, &[("KANARI_NOW", "2026-04-01T00:00:00Z")])
}

/// `minute` minutes into the day the push tests run on: each step of a release a minute apart,
/// past the warmup (1m) of the state before.
fn at(minute: u32) -> String {
    format!("2026-04-01T00:{minute:02}:00Z")
}

/// Six clones promote at once, three times over (a minute apart, so that the pods `prepare`
/// brings up have warmed up for `jason`): each race moves the remote exactly one commit.
fn six_clones_race(origin: &Origin, url: &str) {
    let expected = [
        "reviews: promote (new) -> steady",
        "reviews: promote steady -> prepare",
        "reviews: promote prepare -> jason (stage 1 of 4)",
    ];
    for (round, subject) in expected.iter().enumerate() {
        let before = origin.log();
        let clones: Vec<(tempfile::TempDir, PathBuf)> = (0..6).map(|_| origin.clone(url, &[])).collect();
        let now = at(round as u32);
        let children: Vec<Child> = clones
            .iter()
            .map(|(_, path)| {
                kanari_push(path, &["promote"], &now).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
            })
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
    // Once: the stale clone, still behind, sees that the remote has a move of the release it
    // has not seen (its own, which it could not follow past the unrelated commit): someone else
    // moved it first, and a second run pushes nothing.
    let again = promote_push(&stale, &[]).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("someone else moved it first"));
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
    // Busy, not bad input: nothing was committed, and a later run may find the lock gone.
    assert_eq!(out.code, 4, "{}", out.stderr);
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
        &[
            "-C",
            repo.path().to_str().unwrap(),
            "promote",
            "--push",
            "--allow-insecure-http",
            "--author",
            "CI <ci@example.com>",
        ],
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

/// The transports a remote is reached over, each a real remote on this machine.
#[derive(Clone, Copy, Debug)]
enum Transport {
    /// A plain path: `/tmp/…/origin.git`.
    Path,
    /// `file:///tmp/…/origin.git`.
    File,
    /// `git://127.0.0.1:PORT/origin.git`, served by `git daemon`.
    Daemon,
    /// `http://127.0.0.1:PORT/origin.git`, git's smart HTTP with a token in `http.extraheader`.
    Http,
}

const TRANSPORTS: [Transport; 4] = [Transport::Path, Transport::File, Transport::Daemon, Transport::Http];
const HTTP_USER: &str = "x-access-token";
const HTTP_TOKEN: &str = "kanari-http-token-93b1d0";

/// An origin and the server that makes it reachable over one transport.
struct Remote {
    origin: Origin,
    url: String,
    transport: Transport,
    _daemon: Option<Daemon>,
    http: Option<SmartHttp>,
}

impl Remote {
    fn new(transport: Transport) -> Remote {
        let origin = Origin::new();
        let (mut daemon, mut http) = (None, None);
        let url = match transport {
            Transport::Path => origin.path().display().to_string(),
            Transport::File => origin.file_url(),
            Transport::Daemon => {
                let d = Daemon::serve(origin.dir.path());
                let url = d.url("origin.git");
                daemon = Some(d);
                url
            }
            Transport::Http => {
                let h = SmartHttp::serve(origin.dir.path(), HTTP_USER, HTTP_TOKEN);
                let url = h.url("origin.git");
                http = Some(h);
                url
            }
        };
        Remote { origin, url, transport, _daemon: daemon, http }
    }

    /// A fresh clone; over HTTP it carries the token in `http.extraheader`, as actions/checkout
    /// leaves a clone.
    fn clone(&self) -> (tempfile::TempDir, PathBuf) {
        match self.transport {
            Transport::Http => {
                let header = SmartHttp::extraheader(HTTP_USER, HTTP_TOKEN);
                let (tmp, path) = self.origin.clone(&self.url, &["-c", &format!("http.extraheader={header}")]);
                git(&path, &["config", "http.extraheader", &header]);
                (tmp, path)
            }
            _ => self.origin.clone(&self.url, &[]),
        }
    }

    /// `kanari <args> --push` from a fresh clone, at `now`; it must succeed.
    fn run_ok(&self, args: &[&str], now: &str) {
        let (_tmp, clone) = self.clone();
        let out = kanari_push(&clone, args, now).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The stage the remote's tip records for the bookinfo release.
    fn stage(&self) -> String {
        let text = git(&self.origin.path(), &["show", "main:overlays/reviews/kustomization.yaml"]);
        let line = text.lines().find(|l| l.contains("kanari.dev/stage:")).expect("a recorded stage");
        line.split_once(':').unwrap().1.trim().trim_matches('"').to_string()
    }

    /// The `spec.replicas` of the canary's Deployment at the remote's tip.
    fn canary_replicas(&self) -> String {
        let text = git(&self.origin.path(), &["show", "main:overlays/reviews/deployment-reviews-v2.yaml"]);
        let line = text.lines().find(|l| l.trim_start().starts_with("replicas:")).expect("a replica count");
        line.split_once(':').unwrap().1.trim().to_string()
    }
}

fn kanari_push(clone: &Path, args: &[&str], now: &str) -> Command {
    let mut all = vec!["-C", clone.to_str().unwrap()];
    all.extend_from_slice(args);
    all.extend_from_slice(&["--push", "--author", "CI <ci@example.com>"]);
    kanari_command(clone, &all, &[("KANARI_NOW", now)])
}

/// Runs each of `jobs` from its own clone, all at once, and checks what a race must leave: every
/// job exits 0, every commit a job reported pushed is an ancestor of the remote's tip, history
/// is linear, the person's abort landed exactly once, and the release is aborted.
fn race(remote: &Remote, jobs: &[&[&str]], now: &str) {
    let clones: Vec<(tempfile::TempDir, PathBuf)> = jobs.iter().map(|_| remote.clone()).collect();
    let before = remote.origin.log().len();
    let children: Vec<Child> = jobs
        .iter()
        .zip(&clones)
        .map(|(args, (_, clone))| {
            kanari_push(clone, args, now).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap()
        })
        .collect();
    let mut reported = Vec::new();
    for (args, child) in jobs.iter().zip(children) {
        let out = child.wait_with_output().unwrap();
        let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert_eq!(out.status.code(), Some(0), "{:?} {args:?}: {stdout}{stderr}", remote.transport);
        // `[main 0123456789ab -> origin] reviews: abort 90-10`
        for line in stdout.lines().filter(|l| l.starts_with("[main ")) {
            reported.push((args.to_vec(), line.split_whitespace().nth(1).unwrap().to_string()));
        }
    }
    let tip = git(&remote.origin.path(), &["rev-parse", "main"]).trim().to_string();
    for (args, commit) in &reported {
        let ancestor = Command::new(crate::tool("git"))
            .args(["merge-base", "--is-ancestor", commit, &tip])
            .current_dir(remote.origin.path())
            .status()
            .unwrap();
        assert!(
            ancestor.success(),
            "{:?}: {args:?} reported {commit} pushed, but the remote lost it",
            remote.transport
        );
    }
    let log = remote.origin.log();
    assert!(log.len() > before, "{:?}: nothing landed", remote.transport);
    let aborts = log[..log.len() - before].iter().filter(|s| s.starts_with("reviews: abort")).count();
    assert_eq!(aborts, 1, "{:?}: the abort must land once: {log:?}", remote.transport);
    assert_eq!(remote.stage(), "aborted", "{:?}: {log:?}", remote.transport);
    assert_eq!(git(&remote.origin.path(), &["rev-list", "--merges", "main"]), "", "history is not linear");
    git(&remote.origin.path(), &["fsck", "--strict", "--no-progress"]);
}

/// A person's abort racing scheduled promotes, and approvals, on every transport: libgit2's local
/// transport once forced the remote ref, and `abort` once gave up when a promote moved the
/// release first, so the abort was lost while both jobs said they were done. Each abort moves the
/// traffic back at once; the canary goes to 0 with the next promote or abort after the warmup.
#[test]
fn an_abort_racing_promotes_and_approvals_lands_on_every_transport() {
    for transport in TRANSPORTS {
        // At 90-10: two promotes (to 50-50) and an abort.
        let remote = Remote::new(transport);
        for minute in 0..4 {
            remote.run_ok(&["promote"], &at(minute));
        }
        assert_eq!(remote.stage(), "90-10");
        race(&remote, &[&["promote"], &["abort", "--reason", "5xx above 1%"], &["promote"]], &at(4));
        assert_ne!(remote.canary_replicas(), "0", "{transport:?}: the canary went before its traffic drained");
        remote.run_ok(&["promote"], &at(5));
        // The abort lands wherever the race left the release: at 90-10, or at 50-50 after a promote.
        let subject = &remote.origin.log()[0];
        assert!(
            ["reviews: abort 90-10: scale v2 down", "reviews: abort 50-50: scale v2 down"].contains(&subject.as_str()),
            "{transport:?}: {subject}"
        );
        assert_eq!((remote.stage(), remote.canary_replicas()), ("aborted".into(), "0".into()), "{transport:?}");
        // Started again and at 50-50, which waits for approval: two approvals and an abort.
        remote.run_ok(&["promote", "--restart"], &at(6));
        for minute in 7..10 {
            remote.run_ok(&["promote"], &at(minute));
        }
        assert_eq!(remote.stage(), "50-50");
        race(&remote, &[&["approve"], &["abort", "--reason", "latency"], &["approve"]], &at(10));
        assert_ne!(remote.canary_replicas(), "0", "{transport:?}: the canary went before its traffic drained");
        remote.run_ok(&["abort", "--reason", "latency"], &at(11));
        assert_eq!(remote.origin.log()[0], "reviews: abort 50-50: scale v2 down");
        assert_eq!((remote.stage(), remote.canary_replicas()), ("aborted".into(), "0".into()), "{transport:?}");
    }
}

#[test]
fn a_push_the_server_refuses_is_a_failure_that_says_why_on_every_transport() {
    for transport in TRANSPORTS {
        let remote = Remote::new(transport);
        let hook = remote.origin.path().join("hooks/pre-receive");
        std::fs::write(&hook, "#!/bin/sh\necho 'main is protected: promotions need a release ticket' >&2\nexit 1\n")
            .unwrap();
        std::fs::set_permissions(&hook, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
        let (_tmp, clone) = remote.clone();
        let before = remote.origin.log();
        let out = kanari_push(&clone, &["promote"], "2026-04-01T00:00:00Z").output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(4), "{transport:?}: {stderr}");
        assert!(stderr.contains("the server refused the push"), "{transport:?}: {stderr}");
        assert!(stderr.contains("promotions need a release ticket"), "{transport:?}: {stderr}");
        assert_eq!(remote.origin.log(), before, "{transport:?}: the remote changed");
        assert_eq!(git(&clone, &["log", "-1", "--format=%s", "main"]).trim(), "the release's spec");
    }
}

/// A token from the environment reaches git through its environment alone: never as an
/// argument of any `git` that kanari runs (arguments are what `ps` shows everyone).
#[test]
fn a_token_from_the_environment_is_never_an_argument() {
    let remote = Remote::new(Transport::Http);
    let (_tmp, clone) = remote.clone();
    // No header in the clone: the server answers 401, and git asks kanari's credential helper.
    git(&clone, &["config", "--unset", "http.extraheader"]);
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("git-args.log");
    let real = crate::tool("git").display().to_string();
    let wrapper = bin.path().join("git");
    std::fs::write(
        &wrapper,
        format!("#!/bin/sh\nprintf '%s\\n' \"$*\" >> '{}'\nexec '{}' \"$@\"\n", log.display(), real.trim()),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let path = format!("{}:{}", bin.path().display(), std::env::var("PATH").unwrap_or_default());
    let c = clone.to_str().unwrap();
    let out = kanari_command(
        &clone,
        &["-C", c, "promote", "--push", "--allow-insecure-http", "--author", "CI <ci@example.com>"],
        &[("KANARI_GIT_TOKEN", HTTP_TOKEN), ("PATH", &path)],
    )
    .output()
    .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{stdout}{stderr}");
    assert_eq!(remote.origin.log()[0], "reviews: promote (new) -> steady");
    let args = std::fs::read_to_string(&log).unwrap();
    assert!(args.contains("push") && args.contains("fetch"), "kanari did not run git: {args}");
    assert!(!args.contains(HTTP_TOKEN), "the token was an argument: {args}");
    assert!(!stdout.contains(HTTP_TOKEN) && !stderr.contains(HTTP_TOKEN));
    assert!(remote.http.as_ref().unwrap().requests() >= 2, "the server never asked for credentials");
}

/// Regression: with `--push` deciding on the remote's tip, a job that fetched after another
/// job's push moved the release a second step in the same race. A move the clone has not seen
/// is someone else's: nothing to do, as for a race lost.
#[test]
fn a_clone_behind_a_move_it_has_not_seen_does_not_move_the_release_again() {
    let origin = Origin::new();
    let url = origin.file_url();
    let (_first_tmp, first) = origin.clone(&url, &[]);
    let (_late_tmp, late) = origin.clone(&url, &[]);
    let out = promote_push(&first, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let out = promote_push(&late, &[]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(
            "bookinfo/reviews: nothing to do: someone else moved it first (`reviews: promote (new) -> steady`)"
        ),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(origin.log(), ["reviews: promote (new) -> steady", "the release's spec"]);
}
