//! A remote that accepts the connection and never answers ends the run within `--timeout`, with
//! exit 4 and nothing committed: `git://` (which has no timeout of its own), `http://`, and a
//! Prometheus. The servers are loopback listeners that hold every connection open without
//! reading or writing; each stops when the test ends, also when it fails. kanari runs under a
//! watchdog that kills its process group, so a regression fails the test instead of hanging it.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::{Run, fixture_repo, git, kanari_command};

/// Far above the 3 s the runs are given: a hang guard, not a speed claim.
const HANG_GUARD: Duration = Duration::from_secs(20);
/// How long the watchdog lets kanari run before it kills it.
const KILL_AFTER: Duration = Duration::from_secs(60);

/// A loopback server that accepts connections and never says a word: every connection is held
/// open, unread, until the server is dropped. It accepts for at most two minutes.
struct Silent {
    port: u16,
    held: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Silent {
    fn start() -> Silent {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (held, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (into, stopped) = (held.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            let until = Instant::now() + Duration::from_secs(120);
            while !stopped.load(Ordering::SeqCst) && Instant::now() < until {
                match listener.accept() {
                    Ok((stream, _)) => into.lock().unwrap().push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Silent { port, held, stop, thread: Some(thread) }
    }

    /// How many connections it took.
    fn accepted(&self) -> usize {
        self.held.lock().unwrap().len()
    }

    /// Asserts that whoever connected has closed its end: the process that talked to the remote
    /// was stopped, not left behind holding the connection.
    fn assert_peers_gone(&self) {
        let held: Vec<TcpStream> = self.held.lock().unwrap().iter().map(|s| s.try_clone().unwrap()).collect();
        for mut stream in held {
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut sent = Vec::new();
            // What the client sent before it went (an HTTP request), then the end of the stream.
            match stream.read_to_end(&mut sent) {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
                Err(e) => panic!("a process still holds its connection to the silent remote: {e}"),
            }
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        self.held.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clear();
    }
}

/// Runs `cmd` as the leader of a process group of its own; kills the group when it has not
/// ended after [`KILL_AFTER`] (then the test fails). Returns what it did and how long it took.
fn bounded(mut cmd: Command) -> (Run, Duration) {
    use std::os::unix::process::CommandExt;
    let started = Instant::now();
    let child = cmd.process_group(0).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = rustix::process::Pid::from_child(&child);
    let (tx, rx) = mpsc::channel();
    let waiter = std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let out = match rx.recv_timeout(KILL_AFTER) {
        Ok(out) => out.unwrap(),
        Err(_) => {
            let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
            let _ = waiter.join();
            panic!("kanari was still running after {KILL_AFTER:?}: killed");
        }
    };
    let _ = waiter.join();
    let run = Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    (run, started.elapsed())
}

/// The bookinfo fixture with `origin` at `url`, and `promote --push --timeout 3s` run on it
/// under the watchdog.
fn promote_push_to(url: &str) -> (tempfile::TempDir, Run, Duration) {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    git(r, &["remote", "add", "origin", url]);
    let args = ["-C", r.to_str().unwrap(), "promote", "--push", "--timeout", "3s", "--author", "CI <ci@example.com>"];
    let (run, took) = bounded(kanari_command(r, &args, &[]));
    (repo, run, took)
}

/// Exit 4 within the guard, the message naming the remote, its URL and the wait, and nothing
/// committed: the branch where it was, the work tree and index clean.
fn assert_hung_run_ended(repo: &Path, url: &str, run: &Run, took: Duration) {
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(took < HANG_GUARD, "the run took {took:?}");
    // The wait is what was left of --timeout 3s when git started: 3s on a quiet machine, a tenth
    // or two less when starting up took that long.
    let said = regex::Regex::new(&format!(
        r"the remote `origin` \({}\) did not answer within (3|2\.[5-9])s; nothing was committed",
        regex::escape(url)
    ))
    .unwrap();
    assert!(said.is_match(&run.stderr), "{}", run.stderr);
    assert_eq!(git(repo, &["log", "--format=%s", "main"]).trim(), "the release's spec");
    assert_eq!(git(repo, &["status", "--porcelain"]), "");
}

#[test]
fn a_git_daemon_that_never_answers_ends_promote_push_within_the_timeout() {
    let silent = Silent::start();
    let url = format!("git://127.0.0.1:{}/x", silent.port);
    let (repo, run, took) = promote_push_to(&url);
    assert_hung_run_ended(repo.path(), &url, &run, took);
    assert!(silent.accepted() >= 1, "git never connected: {}", run.stderr);
    silent.assert_peers_gone();
}

#[test]
fn an_http_remote_that_never_answers_ends_promote_push_within_the_timeout() {
    let silent = Silent::start();
    let url = format!("http://127.0.0.1:{}/x", silent.port);
    let (repo, run, took) = promote_push_to(&url);
    assert_hung_run_ended(repo.path(), &url, &run, took);
    assert!(silent.accepted() >= 1, "git never connected: {}", run.stderr);
    // git's HTTP helper is a process of its own: it went with git.
    silent.assert_peers_gone();
}

#[test]
fn a_prometheus_that_never_answers_holds_the_release_within_the_timeout() {
    let silent = Silent::start();
    let spec = crate::analysis::spec(crate::analysis::SUCCESS);
    let repo = crate::repo_with(&[("canaries/reviews.yaml", &spec)]);
    let r = repo.path();
    git(r, &["init", "-q", "-b", "main"]);
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "the release's spec"]);
    let url = format!("http://127.0.0.1:{}", silent.port);
    let promote = |minute: u32| {
        let now = format!("2026-01-02T03:{minute:02}:00Z");
        let args = [
            "-C",
            r.to_str().unwrap(),
            "--prometheus",
            &url,
            "promote",
            "--timeout",
            "3s",
            "--author",
            "CI <ci@example.com>",
        ];
        bounded(kanari_command(r, &args, &[("KANARI_NOW", &now)]))
    };
    // Entering steady, and scaling the canary up in prepare, need no answer from Prometheus.
    for minute in [0, 2] {
        let (run, took) = promote(minute);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(took < HANG_GUARD, "the run took {took:?}");
    }
    let head = git(r, &["rev-parse", "HEAD"]);
    // Moving traffic onto the canary needs Prometheus to show its pods available.
    let (run, took) = promote(5);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(took < HANG_GUARD, "the run took {took:?}");
    assert!(run.stderr.contains(&format!("Prometheus at {url} did not answer within the 1.5s")), "{}", run.stderr);
    assert_eq!(git(r, &["rev-parse", "HEAD"]), head);
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    assert!(silent.accepted() >= 1, "kanari never connected: {}", run.stderr);
}

#[test]
fn a_timeout_that_is_not_a_duration_is_bad_input() {
    let repo = fixture_repo("bookinfo");
    let r = repo.path();
    for (timeout, said) in [("soon", "--timeout `soon` must be a duration"), ("0s", "--timeout `0s` must be longer")] {
        let args = ["-C", r.to_str().unwrap(), "promote", "--timeout", timeout, "--author", "CI <ci@example.com>"];
        let (run, _) = bounded(kanari_command(r, &args, &[]));
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains(said), "{}", run.stderr);
        assert_eq!(git(r, &["log", "--format=%s", "main"]).trim(), "the release's spec");
    }
}
