//! The git token goes to the push remote's own host alone, over HTTPS: a plain `http://` remote
//! needs `--allow-insecure-http`, a redirect to another host gets no credentials, and the user's
//! own credential helpers (`credential.helper store`) never see it. And the names `--branch`,
//! `--remote` and `--base` are refs, never options. Every server listens on 127.0.0.1, logs what
//! it receives, and stops with the test, also when it fails; every loop is bounded.

use std::path::{Path, PathBuf};

use crate::servers::{LoggingHttp, SmartHttp, base64};
use crate::{Run, fixture_repo, git, kanari_env};

const USER: &str = "x-access-token";
const TOKEN: &str = "kanari-scoped-token-7c41e9";

/// What a [`Logger`] answers every request.
enum Answer {
    /// 401, asking for Basic credentials.
    Unauthorized,
    /// 302 to the same path below this base URL.
    Redirect(String),
    /// 401 to a request without credentials; 302 as [`Answer::Redirect`] to one with them.
    RedirectOnceAuthorized(String),
}

/// A loopback HTTP server ([`LoggingHttp`]) that logs the head of every request it receives
/// and answers each with the same [`Answer`].
struct Logger {
    server: LoggingHttp,
}

impl Logger {
    fn serve(answer: Answer) -> Logger {
        Logger { server: LoggingHttp::serve(move |head| respond(&answer, head)) }
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.server.base())
    }

    /// The heads of the requests received so far.
    fn requests(&self) -> Vec<String> {
        self.server.heads()
    }

    /// The heads received so far that carry the token, plain or in a Basic header.
    fn with_token(&self) -> Vec<String> {
        let basic = base64(format!("{USER}:{TOKEN}").as_bytes());
        self.requests().into_iter().filter(|h| h.contains(TOKEN) || h.contains(&basic)).collect()
    }
}

/// The answer to a request whose head is `head`.
fn respond(answer: &Answer, head: &str) -> String {
    let target = head.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').to_string();
    let body = "no\n";
    let authorized = head.to_ascii_lowercase().contains("\nauthorization:");
    match answer {
        Answer::Unauthorized | Answer::RedirectOnceAuthorized(_) if !authorized => format!(
            "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic realm=\"git\"\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
        Answer::Unauthorized => unreachable!("answered above"),
        Answer::Redirect(base) | Answer::RedirectOnceAuthorized(base) => format!(
            "HTTP/1.1 302 Found\r\nLocation: {base}{target}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    }
}

/// A bare `origin.git` holding the bookinfo fixture on `main`, and a clone of it whose `origin`
/// is `url(origin folder's parent)` (the clone's `origin` as the test wants it).
fn origin_and_clone() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    let seed = fixture_repo("bookinfo");
    let origin = dir.path().join("origin.git");
    git(seed.path(), &["push", "-q", origin.to_str().unwrap(), "main"]);
    git(dir.path(), &["clone", "-q", origin.to_str().unwrap(), "clone"]);
    let clone = dir.path().join("clone");
    (dir, clone)
}

/// `kanari promote --push` in `clone` with `extra` flags, the token in the environment.
fn promote_push(clone: &Path, extra: &[&str], env: &[(&str, &str)]) -> Run {
    let mut args = vec!["-C", clone.to_str().unwrap(), "promote", "--push", "--author", "CI <ci@example.com>"];
    args.extend_from_slice(extra);
    let mut vars = vec![("KANARI_GIT_TOKEN", TOKEN), ("KANARI_NOW", "2026-04-01T00:00:00Z")];
    vars.extend_from_slice(env);
    kanari_env(clone, &args, &vars)
}

/// Every ref of the repository at `dir` with its commit.
fn refs(dir: &Path) -> String {
    git(dir, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

#[test]
fn a_plain_http_remote_gets_the_token_only_with_allow_insecure_http() {
    let logger = Logger::serve(Answer::Unauthorized);
    let repo = fixture_repo("bookinfo");
    let url = logger.url("platform/gitops.git");
    git(repo.path(), &["remote", "add", "origin", &url]);
    let out = promote_push(repo.path(), &[], &[]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains(&format!("the remote `origin` ({url}) is plain `http://`")), "{}", out.stderr);
    assert!(out.stderr.contains("--allow-insecure-http"), "{}", out.stderr);
    assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN));
    assert_eq!(logger.with_token(), Vec::<String>::new(), "the token went over plain HTTP");
    assert_eq!(logger.requests(), Vec::<String>::new(), "a run refused for its remote still asked it");
    assert_eq!(git(repo.path(), &["log", "--format=%s"]).trim(), "the release's spec");

    // With the flag, the token from the environment pushes over git's smart HTTP.
    let (dir, clone) = origin_and_clone();
    let http = SmartHttp::serve(dir.path(), USER, TOKEN);
    git(&clone, &["remote", "set-url", "origin", &http.url("origin.git")]);
    let out = promote_push(&clone, &["--allow-insecure-http"], &[]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let log = git(&dir.path().join("origin.git"), &["log", "-1", "--format=%s", "main"]);
    assert_eq!(log.trim(), "reviews: promote (new) -> steady");
    assert!(http.requests() >= 2, "the server never asked for credentials");
}

#[test]
fn a_redirect_to_another_host_never_gets_the_token() {
    // The remote redirects at once, or once it has the token: either way the host it redirects
    // to asks for credentials and gets none.
    for redirect in [Answer::Redirect as fn(String) -> Answer, Answer::RedirectOnceAuthorized] {
        let elsewhere = Logger::serve(Answer::Unauthorized);
        let remote = Logger::serve(redirect(elsewhere.url("")));
        let repo = fixture_repo("bookinfo");
        git(repo.path(), &["remote", "add", "origin", &remote.url("platform/gitops.git")]);
        let out = promote_push(repo.path(), &["--allow-insecure-http"], &[]);
        assert_eq!(out.code, 4, "{}{}", out.stdout, out.stderr);
        assert!(!remote.requests().is_empty(), "the remote was never asked: {}", out.stderr);
        // git followed the redirect and was asked for credentials there.
        assert!(!elsewhere.requests().is_empty(), "the redirect was not followed: {:?}", remote.requests());
        assert_eq!(elsewhere.with_token(), Vec::<String>::new(), "the token went to the host redirected to");
        assert!(!out.stderr.contains(TOKEN) && !out.stdout.contains(TOKEN));
        assert_eq!(git(repo.path(), &["log", "--format=%s"]).trim(), "the release's spec");
    }
}

#[test]
fn the_user_s_own_credential_helpers_never_get_the_token() {
    let (dir, clone) = origin_and_clone();
    let http = SmartHttp::serve(dir.path(), USER, TOKEN);
    git(&clone, &["remote", "set-url", "origin", &http.url("origin.git")]);
    git(&clone, &["config", "credential.helper", "store"]);
    let home = tempfile::tempdir().unwrap();
    let out = promote_push(&clone, &["--allow-insecure-http"], &[("HOME", home.path().to_str().unwrap())]);
    assert_eq!(out.code, 0, "{}{}", out.stdout, out.stderr);
    let log = git(&dir.path().join("origin.git"), &["log", "-1", "--format=%s", "main"]);
    assert_eq!(log.trim(), "reviews: promote (new) -> steady", "nothing was pushed: the test tests nothing");
    for entry in walkdir::WalkDir::new(home.path()).into_iter().chain(walkdir::WalkDir::new(&clone)) {
        let entry = entry.unwrap();
        if entry.file_type().is_file() {
            let text = String::from_utf8_lossy(&std::fs::read(entry.path()).unwrap()).into_owned();
            assert!(!text.contains(TOKEN), "{} holds the token:\n{text}", entry.path().display());
        }
    }
    assert!(!home.path().join(".git-credentials").exists(), "`credential.helper store` was asked to store");
}

#[test]
fn names_that_git_would_read_as_options_or_symbolic_refs_are_refused_before_git_runs() {
    let (dir, clone) = origin_and_clone();
    let origin = dir.path().join("origin.git");
    let url = format!("file://{}", origin.display());
    git(&clone, &["remote", "set-url", "origin", &url]);
    let (origin_refs, clone_refs) = (refs(&origin), refs(&clone));
    let cases: &[(&[&str], &str)] = &[
        (&["--branch", "HEAD"], "--branch `HEAD` is not a branch name"),
        (&["--branch=-x"], "--branch `-x` is not a branch name"),
        (&["--remote=-x"], "--remote `-x` is not a remote name"),
        (&["--branch", "a..b"], "--branch `a..b` is not a branch name"),
        (&["--branch", "main.lock"], "--branch `main.lock` is not a branch name"),
        (&["--branch", "release/"], "--branch `release/` is not a branch name"),
    ];
    for (flags, said) in cases {
        let out = promote_push(&clone, flags, &[]);
        assert_eq!(out.code, 2, "{flags:?}: {}{}", out.stdout, out.stderr);
        assert!(out.stderr.contains(said), "{flags:?}: {}", out.stderr);
        assert_eq!(refs(&origin), origin_refs, "{flags:?}: the remote's refs changed");
        assert_eq!(refs(&clone), clone_refs, "{flags:?}: the clone's refs changed");
    }
    let c = clone.to_str().unwrap();
    let out = kanari_env(&clone, &["-C", c, "diff", "--base=-x"], &[]);
    assert_eq!(out.code, 2, "{}{}", out.stdout, out.stderr);
    assert!(out.stderr.contains("--base `-x` is not a revision"), "{}", out.stderr);
}
