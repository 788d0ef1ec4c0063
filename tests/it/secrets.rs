//! A pull request cannot reach a secret: the Prometheus token and headers go only to a
//! Prometheus the trusted side names (`--prometheus`, or the base's committed spec), never to a
//! URL only the pull request's head introduces; and nothing secret is printed (a URL's password,
//! a server's error body that echoes the request's Authorization header), in any format.
//!
//! The Prometheus here is a small server on 127.0.0.1 that logs the head of every request it
//! receives and answers the query API minimally, or with an error that echoes the request.

use std::path::Path;

use crate::analysis::{SUCCESS, at, release_of};
use crate::servers::LoggingHttp;
use crate::{git, kanari_env};

const TOKEN: &str = "s3cret-token-7f3a";
const TENANT: &str = "tenant-secret-91";

/// How the logging server answers.
#[derive(Clone, Copy)]
enum Answer {
    /// As Prometheus would: each Deployment with 10 pods available; any other query 1000.
    Metrics,
    /// HTTP 500 with a body that echoes the request's Authorization header.
    EchoError,
}

/// A fake Prometheus on 127.0.0.1 ([`LoggingHttp`]) that logs the head of every request.
struct LoggingServer {
    url: String,
    server: LoggingHttp,
}

impl LoggingServer {
    fn start(answer: Answer) -> LoggingServer {
        let server = LoggingHttp::serve(move |head| respond(answer, head));
        LoggingServer { url: server.base(), server }
    }

    /// The heads received so far, lowercased.
    fn heads(&self) -> Vec<String> {
        self.server.heads().into_iter().map(|h| h.to_lowercase()).collect()
    }
}

/// The answer to a request whose head is `raw`.
fn respond(answer: Answer, raw: &str) -> String {
    let (status, body) = match answer {
        Answer::Metrics if raw.contains("kube_deployment_status_replicas_available") => (
            "200 OK",
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"shop","deployment":"reviews-v1"},"value":[1,"10"]},{"metric":{"namespace":"shop","deployment":"reviews-v2"},"value":[1,"10"]}]}}"#.to_string(),
        ),
        Answer::Metrics => (
            "200 OK",
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1000"]}]}}"#.to_string(),
        ),
        Answer::EchoError => {
            let auth = raw.lines().find(|l| l.to_lowercase().starts_with("authorization:")).unwrap_or("");
            ("500 Internal Server Error", format!("bad gateway; your request had {auth}"))
        }
    };
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}

/// The release's spec, its analysis asking the Prometheus at `url`.
fn spec_at(url: &str) -> String {
    crate::analysis::spec(SUCCESS).replace("  analysis:\n", &format!("  analysis:\n    prometheus: {url}\n"))
}

/// A repository whose `main` has the release in its first stage, its committed spec naming
/// the Prometheus at `url`.
fn committed_with(url: &str, server: &LoggingServer) -> tempfile::TempDir {
    let repo = release_of(&spec_at(url), &server.url);
    assert!(git(repo.path(), &["branch", "--show-current"]).trim() == "main");
    repo
}

fn diff_analysis(repo: &Path, format: &str, extra_env: &[(&str, &str)]) -> crate::Run {
    let now = at(30).to_string();
    let mut env = vec![("KANARI_NOW", now.as_str()), ("KANARI_PROMETHEUS_TOKEN", TOKEN)];
    env.extend_from_slice(extra_env);
    let r = repo.to_str().unwrap();
    let args = ["-C", r, "--prometheus-header", &format!("X-Scope-OrgID: {TENANT}"), "diff", "--next", "--analysis"];
    let mut args = args.to_vec();
    args.extend(["--base", "main", "--format", format]);
    kanari_env(repo, &args, &env)
}

#[test]
fn the_token_goes_to_the_base_s_prometheus_and_never_to_one_only_the_pull_request_names() {
    let trusted = LoggingServer::start(Answer::Metrics);
    let attacker = LoggingServer::start(Answer::Metrics);
    let repo = committed_with(&trusted.url, &trusted);
    let r = repo.path();
    let bearer = format!("authorization: bearer {TOKEN}\r\n");
    let tenant = format!("x-scope-orgid: {TENANT}\r\n");

    // The pull request keeps the base's Prometheus: it is asked, with the token and the header.
    let before = trusted.heads().len();
    let run = diff_analysis(r, "markdown", &[]);
    assert!(run.code == 0 || run.code == 1, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("not asked"), "{}", run.stdout);
    assert!(run.stdout.contains("## kanari analyze"), "{}", run.stdout);
    let heads = trusted.heads()[before..].to_vec();
    assert!(!heads.is_empty(), "the base's Prometheus was not asked");
    assert!(heads.iter().all(|h| h.contains(&bearer) && h.contains(&tenant)), "{heads:?}");

    // The pull request's head points the same release at its author's server: not asked at all.
    let before = trusted.heads().len();
    std::fs::write(r.join("canaries/reviews.yaml"), spec_at(&attacker.url)).unwrap();
    for format in ["markdown", "text", "json"] {
        let run = diff_analysis(r, format, &[]);
        assert!(run.code == 0 || run.code == 1, "{format}: {}{}", run.stdout, run.stderr);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(said.contains("not asked"), "{format}: {said}");
        assert!(said.contains("the pull request's spec names Prometheus"), "{format}: {said}");
        assert!(said.contains("which the base `main` does not"), "{format}: {said}");
        assert!(said.contains(&attacker.url), "{format}: {said}");
        assert!(!said.contains(TOKEN) && !said.contains(TENANT), "{format}: {said}");
    }
    let heads = attacker.heads();
    assert!(heads.iter().all(|h| !h.contains(TOKEN) && !h.contains(TENANT)), "the token went to {heads:?}");
    assert!(heads.is_empty(), "the pull request's Prometheus was asked: {heads:?}");
    // Nor is the base's asked for a release that no longer names it.
    assert_eq!(trusted.heads().len(), before);

    // `--prometheus` is the trusted side too, whatever the pull request's spec names.
    let other = LoggingServer::start(Answer::Metrics);
    let now = at(30).to_string();
    let env = [("KANARI_NOW", now.as_str()), ("KANARI_PROMETHEUS_TOKEN", TOKEN)];
    let args =
        ["-C", r.to_str().unwrap(), "--prometheus", &other.url, "diff", "--next", "--analysis", "--base", "main"];
    let run = kanari_env(r, &args, &env);
    assert!(run.code == 0 || run.code == 1, "{}{}", run.stdout, run.stderr);
    assert!(!run.stdout.contains("not asked"), "{}", run.stdout);
    let heads = other.heads();
    assert!(!heads.is_empty() && heads.iter().all(|h| h.contains(&bearer)), "{heads:?}");
    assert!(attacker.heads().is_empty(), "{:?}", attacker.heads());
}

#[test]
fn a_password_in_the_url_and_an_error_body_that_echoes_the_token_are_never_printed() {
    let trusted = LoggingServer::start(Answer::Metrics);
    let repo = committed_with(&trusted.url, &trusted);
    let r = repo.path();
    let echo = LoggingServer::start(Answer::EchoError);
    let with_password = echo.url.replace("http://", "http://admin:PW-x9q2@");
    let now = at(30).to_string();
    let env = [("KANARI_NOW", now.as_str()), ("KANARI_PROMETHEUS_TOKEN", TOKEN)];
    let header = format!("X-Scope-OrgID: {TENANT}");
    let r_str = r.to_str().unwrap();
    for args in [
        vec!["analyze"],
        vec!["analyze", "--format", "json"],
        vec!["status"],
        vec!["status", "--format", "json"],
        vec!["diff", "--next", "--analysis", "--format", "json"],
        vec!["diff", "--next", "--analysis", "--format", "markdown"],
        vec!["promote"],
    ] {
        let mut all = vec!["-C", r_str, "--prometheus", &with_password, "--prometheus-header", &header];
        all.extend(&args);
        let run = kanari_env(r, &all, &env);
        let said = format!("{}{}", run.stdout, run.stderr);
        // The server was asked, and answered with the token in its words (`status`'s table says
        // only "unavailable").
        if args != ["status"] {
            assert!(said.contains("HTTP 500") && said.contains("bad gateway"), "{args:?}: {said}");
            assert!(said.contains(&echo.url), "{args:?}: the URL without its password is shown: {said}");
        }
        for secret in ["PW-x9q2", TOKEN, TENANT, "admin:"] {
            assert!(!said.contains(secret), "{args:?} printed `{secret}`: {said}");
        }
    }
    assert!(echo.heads().iter().any(|h| h.contains(&format!("authorization: bearer {TOKEN}"))));
    // Nothing committed carries it either.
    let log = git(r, &["log", "--format=%B"]);
    assert!(!log.contains("PW-x9q2") && !log.contains(TOKEN), "{log}");

    // A spec's URL with a password, in a spec that does not validate: the report quotes it.
    let spec = std::fs::read_to_string(r.join("canaries/reviews.yaml")).unwrap();
    let bad = spec.replace(&trusted.url, "ftp://admin:PW-sp3c@127.0.0.1:9");
    std::fs::write(r.join("canaries/reviews.yaml"), bad).unwrap();
    let run = kanari_env(r, &["-C", r_str, "lint"], &env);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("ftp://127.0.0.1:9"), "{said}");
    assert!(!said.contains("PW-sp3c"), "{said}");
    git(r, &["checkout", "-q", "--", "canaries/reviews.yaml"]);

    // A git remote's URL with a password: nothing listens on port 9, the fetch fails, and what
    // is said names the URL without it; nor does the git token show.
    git(r, &["remote", "add", "origin", "http://admin:PW-r3m0te@127.0.0.1:9/repo.git"]);
    let env = [("KANARI_NOW", now.as_str()), ("KANARI_GIT_TOKEN", "git-token-5b7c")];
    let args = ["-C", r_str, "--prometheus", &trusted.url, "promote", "--push", "--timeout", "20s"];
    let run = kanari_env(r, &args, &env);
    assert_ne!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let said = format!("{}{}", run.stdout, run.stderr);
    assert!(said.contains("127.0.0.1:9"), "{said}");
    assert!(!said.contains("PW-r3m0te") && !said.contains("git-token-5b7c"), "{said}");
}
