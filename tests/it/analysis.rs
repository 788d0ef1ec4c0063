//! Promotion judged by the canary's metrics, against a real Prometheus loaded with Istio metrics
//! the tests make (backfilled, so every run sees the same numbers): a healthy canary walks to
//! the end; a sick one is aborted by one commit naming the check (exit 5); no data, too few
//! requests, a slight difference and a cluster behind Git hold (exit 3); an unreachable
//! Prometheus is exit 4 and a query of the wrong shape exit 2, with nothing committed.

use std::path::Path;

use jiff::{SignedDuration, Timestamp};

use crate::prometheus::{Latency, OpenMetrics, Prometheus, Replicas, Traffic, day};
use crate::{git, kanari_env, repo_with};

const SPEC: &str = "canaries/reviews.yaml";

/// The release's spec with `metrics` (YAML lines under `metrics:`).
pub fn spec(metrics: &str) -> String {
    format!(
        "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {{name: reviews, namespace: shop}}
spec:
  output: overlays/reviews
  service: {{port: 9080}}
  stable: {{version: v1, image: r:1}}
  canary: {{version: v2, image: r:2}}
  replicas: 4
  analysis:
    minRequests: 100
    metrics:
{metrics}  stages:
    - {{name: ten, weight: 10}}
    - {{name: half, weight: 50}}
    - {{name: all, weight: 100}}
"
    )
}

pub const SUCCESS: &str = "      - {name: success-rate, builtin: success-rate, min: 99}\n";
const LATENCY: &str = "      - {name: latency, builtin: latency-p99, max: 500}\n";
pub const ERRORS: &str = "      - {name: errors, builtin: errors-vs-stable, margin: 1}\n";
const SHARE: &str = "      - {name: traffic, builtin: traffic-share, max: 5}\n";

pub fn at(minutes: i64) -> Timestamp {
    day() + SignedDuration::from_mins(minutes)
}

/// A repository with the release entered into its first stage (`ten`) at the data's first
/// minute, `prometheus` showing its pods available.
fn release(metrics: &str, prometheus: &str) -> tempfile::TempDir {
    let repo = release_of(&spec(metrics), prometheus);
    assert_eq!(subject(repo.path()), "reviews: promote prepare -> ten (stage 1 of 3)");
    repo
}

/// A repository with the release of `spec_text` entered into its first stage at the data's
/// first minute.
pub fn release_of(spec_text: &str, prometheus: &str) -> tempfile::TempDir {
    let repo = repo_with(&[(SPEC, spec_text)]);
    let r = repo.path();
    for git_args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-q", "-m", "spec"]] {
        git(r, git_args);
    }
    git(r, &["config", "user.name", "CI"]);
    git(r, &["config", "user.email", "ci@example.com"]);
    for minute in [-3, -2, 0] {
        let run = promote(r, Some(prometheus), minute);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    repo
}

pub fn promote(repo: &Path, url: Option<&str>, minute: i64) -> crate::Run {
    let mut args = vec!["-C", repo.to_str().unwrap()];
    if let Some(url) = url {
        args.extend(["--prometheus", url]);
    }
    args.push("promote");
    kanari_env(repo, &args, &[("KANARI_NOW", &at(minute).to_string())])
}

pub fn subject(repo: &Path) -> String {
    git(repo, &["log", "-1", "--format=%s"]).trim().to_string()
}

/// Istio's metrics for v1 and v2 from the first minute on, and kube-state-metrics' count of
/// available pods.
pub fn metrics(minutes: u32, canary: Traffic) -> OpenMetrics {
    let mut series = OpenMetrics::every(60);
    series.traffic(Traffic::steady("shop", "reviews", "v1", minutes, 2000.0)).traffic(canary);
    available(&mut series, |_| 10);
    series
}

/// Both Deployments with `pods(minute)` pods available, for 100 minutes.
pub fn available(series: &mut OpenMetrics, pods: fn(u32) -> u32) {
    for version in ["v1", "v2"] {
        series.replicas(Replicas {
            namespace: "shop".into(),
            deployment: format!("reviews-{version}"),
            from: day(),
            minutes: 100,
            available: pods,
        });
    }
}

pub fn canary(minutes: u32) -> Traffic {
    Traffic::steady("shop", "reviews", "v2", minutes, 1000.0)
}

#[test]
fn a_healthy_canary_walks_to_the_end_with_its_checks_in_each_commit() {
    let prometheus = Prometheus::start(&metrics(100, canary(100)));
    let repo = release(&format!("{SUCCESS}{LATENCY}{ERRORS}"), &prometheus.url);
    let r = repo.path();
    for (minute, expected) in
        [(30, "reviews: promote ten -> half (stage 2 of 3)"), (60, "reviews: promote half -> all (stage 3 of 3)")]
    {
        let run = promote(r, Some(&prometheus.url), minute);
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert_eq!(subject(r), expected);
        let body = git(r, &["log", "-1", "--format=%b"]);
        assert!(body.contains("analysis: success-rate 100 (min 99): pass"), "{body}");
        assert!(body.contains("analysis: latency ") && body.contains("(max 500): pass"), "{body}");
        assert!(body.contains("analysis: errors 0 (margin 1): pass; canary 0 of 30000 failed"), "{body}");
    }
    let done = promote(r, Some(&prometheus.url), 95);
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(done.stdout.contains("at the last stage"), "{}", done.stdout);
}

/// One commit to `aborted`, exit 5, the reason naming the check, its value, bound and window.
fn aborted_by(canary: Traffic, check: &str, metrics_yaml: &str, reason: &str) {
    let prometheus = Prometheus::start(&metrics(40, canary));
    let repo = release(metrics_yaml, &prometheus.url);
    let r = repo.path();
    let before = git(r, &["rev-list", "--count", "HEAD"]);
    let run = promote(r, Some(&prometheus.url), 30);
    assert_eq!(run.code, 5, "{check}: {}{}", run.stdout, run.stderr);
    assert_eq!(git(r, &["rev-list", "--count", "HEAD~1"]), before, "one commit");
    assert_eq!(subject(r), "reviews: abort ten");
    let k = std::fs::read_to_string(r.join("overlays/reviews/kustomization.yaml")).unwrap();
    assert!(k.contains("kanari.dev/stage: aborted") && k.contains(reason), "{check}: {k}");
    let body = git(r, &["log", "-1", "--format=%b"]);
    assert!(body.contains(&format!("analysis: {check} ")) && body.contains("window 1800s"), "{body}");
}

#[test]
fn a_canary_failing_one_request_in_ten_is_aborted_by_one_commit_naming_the_check() {
    let sick = Traffic { error_ratio: 0.1, ..canary(40) };
    aborted_by(
        sick,
        "success-rate",
        SUCCESS,
        "analysis: success-rate 90 (min 99): fail; 3000 of 30000 requests failed, window 1800s",
    );
}

#[test]
fn a_canary_slower_than_its_bound_is_aborted() {
    let slow = Traffic { latency: |_| Latency::around(2000.0, 200.0), ..canary(40) };
    aborted_by(slow, "latency", LATENCY, "(max 500): fail; 30000 requests, window 1800s");
}

#[test]
fn an_error_rate_clearly_above_stables_is_aborted_and_a_slightly_higher_one_holds() {
    let worse = Traffic { error_ratio: 0.05, ..canary(40) };
    aborted_by(
        worse,
        "errors",
        ERRORS,
        "analysis: errors 5 (margin 1): fail; canary 1500 of 30000 failed (5%, at least 4.44%, at most 5.6%), stable 0 of 60000 in 1800s",
    );

    // 1.2% against 0.6%, on few requests: above stable, but neither clearly beyond the margin
    // nor clearly within it.
    let mut series = OpenMetrics::every(60);
    series
        .traffic(Traffic { error_ratio: 0.006, ..Traffic::steady("shop", "reviews", "v1", 40, 200.0) })
        .traffic(Traffic { error_ratio: 0.012, ..Traffic::steady("shop", "reviews", "v2", 40, 100.0) });
    available(&mut series, |_| 10);
    let prometheus = Prometheus::start(&series);
    let repo = release(ERRORS, &prometheus.url);
    let r = repo.path();
    let head = git(r, &["rev-parse", "HEAD"]);
    let run = promote(r, Some(&prometheus.url), 30);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("errors 0.6 (margin 1): inconclusive; canary 36 of 3000 failed (1.2%, at least "),
        "{}",
        run.stderr
    );
    assert_eq!(git(r, &["rev-parse", "HEAD"]), head, "nothing committed");
}

#[test]
fn too_few_requests_hold_and_commit_nothing_and_no_request_while_stable_serves_aborts() {
    // Stable serves, and not one request reaches the canary in a stage that sends it 10%: the
    // canary is broken (or its pods cannot be reached), not idle.
    let prometheus = Prometheus::start(&metrics(40, Traffic::steady("shop", "ratings", "v2", 40, 1000.0)));
    let repo = release(SUCCESS, &prometheus.url);
    let run = promote(repo.path(), Some(&prometheus.url), 30);
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    let k = std::fs::read_to_string(repo.path().join("overlays/reviews/kustomization.yaml")).unwrap();
    assert!(k.contains("no traffic reaches the canary: 0 requests in 1800s"), "{k}");
    // 3 canary requests a minute: 90 in the window, fewer than minRequests.
    let prometheus = Prometheus::start(&metrics(40, Traffic::steady("shop", "reviews", "v2", 40, 3.0)));
    let repo = release(SUCCESS, &prometheus.url);
    let r = repo.path();
    let head = git(r, &["rev-parse", "HEAD"]);
    let run = promote(r, Some(&prometheus.url), 30);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("inconclusive; 90 canary requests, fewer than minRequests 100"), "{}", run.stderr);
    assert_eq!(git(r, &["rev-parse", "HEAD"]), head, "nothing committed");
}

#[test]
fn a_cluster_still_on_the_previous_weights_holds() {
    // The canary serves nothing of the catch-all traffic although the stage says 10%: what Git
    // says is not applied yet. The release waits; it is not the canary's fault.
    let mut series = OpenMetrics::every(60);
    series.traffic(Traffic::steady("shop", "reviews", "v1", 40, 2000.0)).traffic(canary(40));
    available(&mut series, |_| 10);
    let prometheus = Prometheus::start(&series);
    let repo = release(SHARE, &prometheus.url);
    let r = repo.path();
    let run = promote(r, Some(&prometheus.url), 30);
    // v2 takes a third of the requests here, not 10%.
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("traffic") && run.stderr.contains("the stage says 10%"), "{}", run.stderr);
    assert_eq!(subject(r), "reviews: promote prepare -> ten (stage 1 of 3)");
}

#[test]
fn an_unreachable_prometheus_is_exit_4_and_a_query_of_several_series_exit_2() {
    let gone = Prometheus::start(&metrics(40, canary(40)));
    let repo = release(SUCCESS, &gone.url);
    let url = gone.url.clone();
    drop(gone);
    let r = repo.path();
    let head = git(r, &["rev-parse", "HEAD"]);
    let run = promote(r, Some(&url), 30);
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("cannot be reached") && run.stderr.contains("after 3 attempts"), "{}", run.stderr);
    assert_eq!(git(r, &["rev-parse", "HEAD"]), head);

    let prometheus = Prometheus::start(&metrics(40, canary(40)));
    let several = "      - name: by-version\n        query: 'sum by (destination_workload) (rate(istio_requests_total{destination_workload_namespace=\"{{ namespace }}\"}[{{ window }}]))'\n        max: 1000\n";
    let repo = release(several, &prometheus.url);
    let r = repo.path();
    let run = promote(r, Some(&prometheus.url), 30);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("canaries/reviews.yaml:13:15") && run.stderr.contains("returned 2 series"),
        "{}",
        run.stderr
    );
}

#[test]
fn traffic_moves_onto_pods_only_once_prometheus_shows_them_available() {
    // v2's pods come up slowly: none until minute 20, then all of them.
    let mut series = OpenMetrics::every(60);
    series.traffic(Traffic::steady("shop", "reviews", "v1", 60, 2000.0)).traffic(canary(60));
    series.replicas(Replicas {
        namespace: "shop".into(),
        deployment: "reviews-v1".into(),
        from: day() - SignedDuration::from_mins(5),
        minutes: 70,
        available: |_| 4,
    });
    series.replicas(Replicas {
        namespace: "shop".into(),
        deployment: "reviews-v2".into(),
        from: day() - SignedDuration::from_mins(5),
        minutes: 70,
        available: |minute| if minute < 25 { 1 } else { 2 },
    });
    let prometheus = Prometheus::start(&series);
    let repo = release(SUCCESS, &prometheus.url);
    let r = repo.path();
    // ten runs the 2 pods half needs; Prometheus shows 1 available.
    let held = promote(r, Some(&prometheus.url), 15);
    assert_eq!(held.code, 3, "{}{}", held.stdout, held.stderr);
    assert!(
        held.stderr.contains(
            "traffic moves onto `reviews-v2` once its 2 pods are available; Prometheus shows 1 of 2 pods available"
        ),
        "{}",
        held.stderr
    );
    assert_eq!(subject(r), "reviews: promote prepare -> ten (stage 1 of 3)");
    let run = promote(r, Some(&prometheus.url), 30);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(subject(r), "reviews: promote ten -> half (stage 2 of 3)");
}

#[test]
fn analyze_status_and_the_pull_request_comment_show_each_check() {
    let sick = Traffic { error_ratio: 0.1, ..canary(40) };
    let prometheus = Prometheus::start(&metrics(40, sick));
    let repo = release(&format!("{SUCCESS}{LATENCY}"), &prometheus.url);
    let r = repo.path();
    let now = at(30).to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["-C", r.to_str().unwrap(), "--prometheus", &prometheus.url];
        all.extend_from_slice(args);
        kanari_env(r, &all, &[("KANARI_NOW", &now)])
    };
    let text = run(&["analyze"]);
    assert_eq!(text.code, 3, "{}{}", text.stdout, text.stderr);
    assert!(text.stdout.starts_with("shop/reviews  ten  window 1800s\n"), "{}", text.stdout);
    assert!(
        text.stdout.contains("  success-rate 90 (min 99): fail; 3000 of 30000 requests failed, window 1800s\n"),
        "{}",
        text.stdout
    );
    let json = run(&["analyze", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v[0]["checks"][0]["verdict"], "fail");
    assert_eq!(v[0]["checks"][0]["value"], 90.0);
    assert_eq!(v[0]["checks"][1]["name"], "latency");
    let markdown = run(&["analyze", "--format", "markdown"]).stdout;
    assert!(markdown.contains("| `success-rate` | 90 | min 99 | **fail** |"), "{markdown}");

    let status = run(&["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    // The next promote aborts: said so, not as a gate that holds.
    assert_eq!((v[0]["status"].as_str(), v[0]["gate"].as_str()), (Some("failing"), None));
    assert!(v[0]["aborts"].as_str().is_some_and(|a| a.starts_with("analysis: success-rate 90 (min 99): fail")), "{v}");

    let comment = run(&["diff", "--next", "--format", "markdown", "--analysis"]);
    assert!(comment.stdout.contains("## kanari analyze") && comment.stdout.contains("**fail**"), "{}", comment.stdout);
    // The diff's table and the analysis' table, as a CommonMark parser reads them.
    assert_eq!(crate::review::shape(&comment.stdout).tables, 2, "{}", comment.stdout);
}

#[test]
fn the_token_and_a_tenant_header_go_to_prometheus_and_the_token_is_never_printed() {
    let prometheus = Prometheus::start(&metrics(40, canary(40)));
    let repo = release(SUCCESS, &prometheus.url);
    let r = repo.path();
    // A server that records each request's head and refuses the credentials.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        use std::io::{BufRead, BufReader, Write};
        let mut heads = Vec::new();
        // kanari asks once: a refusal of credentials is not retried. Waits 30 s at most.
        listener.set_nonblocking(true).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        let accepted = loop {
            match listener.accept() {
                Ok((stream, _)) => break Some(stream),
                Err(_) if std::time::Instant::now() < deadline => {
                    std::thread::sleep(std::time::Duration::from_millis(20))
                }
                Err(_) => break None,
            }
        };
        if let Some(stream) = accepted {
            stream.set_nonblocking(false).unwrap();
            stream.set_read_timeout(Some(std::time::Duration::from_secs(10))).unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut head = String::new();
            while reader.read_line(&mut head).map(|n| n > 2).unwrap_or(false) && head.len() < 16384 {}
            let mut stream = stream;
            stream.write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\nconnection: close\r\n\r\n").unwrap();
            heads.push(head.to_lowercase());
        }
        heads
    });
    let url = format!("http://127.0.0.1:{port}");
    let env = [("KANARI_NOW", at(30).to_string()), ("KANARI_PROMETHEUS_TOKEN", "s3cret-token".into())];
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let args =
        ["-C", r.to_str().unwrap(), "--prometheus", &url, "--prometheus-header", "X-Scope-OrgID: tenant-a", "promote"];
    let run = kanari_env(r, &args, &env);
    let heads = server.join().unwrap();
    assert_eq!(run.code, 4, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("refused the credentials (HTTP 401)"), "{}", run.stderr);
    assert!(!run.stderr.contains("s3cret") && !run.stdout.contains("s3cret"), "{}", run.stderr);
    assert_eq!(heads.len(), 1, "{heads:?}");
    assert!(heads[0].contains("authorization: bearer s3cret-token\r\n"), "{}", heads[0]);
    assert!(heads[0].contains("x-scope-orgid: tenant-a\r\n"), "{}", heads[0]);
    assert!(heads[0].starts_with("get /api/v1/query?"), "{}", heads[0]);
}

#[test]
fn lint_finds_a_misspelled_builtin_and_a_query_that_does_not_render_at_their_lines() {
    for (metrics, place, said) in [
        (
            "      - {name: p99, builtin: latency-p98, max: 500}\n",
            "canaries/reviews.yaml:13:30",
            "`latency-p98` is no builtin check",
        ),
        (
            "      - name: jobs\n        query: 'sum(rate(jobs{ns=\"{{ namespaec }}\"}[{{ window }}]))'\n        max: 1\n",
            "canaries/reviews.yaml:13:15",
            "`namespaec` is undefined",
        ),
        ("      - {name: errors, builtin: errors-vs-stable}\n", "canaries/reviews.yaml:13:16", "needs a `margin`"),
    ] {
        let repo = repo_with(&[(SPEC, &spec(metrics))]);
        let run = kanari_env(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"], &[]);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains(place) && run.stderr.contains(said), "{}", run.stderr);
    }
}

#[test]
fn a_release_whose_prometheus_fails_holds_while_the_others_move_and_the_run_ends_with_4() {
    let mut series = metrics(70, canary(70));
    series
        .traffic(Traffic::steady("shop", "ratings", "v1", 70, 2000.0))
        .traffic(Traffic::steady("shop", "ratings", "v2", 70, 1000.0));
    for version in ["v1", "v2"] {
        let deployment = format!("ratings-{version}");
        series.replicas(Replicas {
            namespace: "shop".into(),
            deployment,
            from: day(),
            minutes: 100,
            available: |_| 10,
        });
    }
    let prometheus = Prometheus::start(&series);
    let repo = release(SUCCESS, &prometheus.url);
    let r = repo.path();
    // A second release, `ratings`, whose own Prometheus is gone; reviews names the live one.
    let gone = Prometheus::start(&metrics(40, canary(40)));
    let with_url = |url: &str, name: &str| {
        spec(SUCCESS)
            .replace("  analysis:\n", &format!("  analysis:\n    prometheus: {url}\n"))
            .replace("name: reviews", &format!("name: {name}"))
            .replace("output: overlays/reviews", &format!("output: overlays/{name}"))
    };
    std::fs::write(r.join(SPEC), with_url(&prometheus.url, "reviews")).unwrap();
    std::fs::write(r.join("canaries/ratings.yaml"), with_url(&gone.url, "ratings")).unwrap();
    git(r, &["add", "-A"]);
    git(r, &["commit", "-q", "-m", "ratings"]);
    let dead = gone.url.clone();
    drop(gone);
    let now = at(30).to_string();
    let run = kanari_env(r, &["-C", r.to_str().unwrap(), "promote", "reviews"], &[("KANARI_NOW", &now)]);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(subject(r), "reviews: promote ten -> half (stage 2 of 3)");
    // ratings is new: its first promote commits steady; from there on its analysis is due only
    // in a stage. Bring it to `ten` with the live Prometheus, then point it at the dead one.
    for minute in [31, 32, 33] {
        let live = kanari_env(
            r,
            &["-C", r.to_str().unwrap(), "--prometheus", &prometheus.url, "promote", "ratings"],
            &[("KANARI_NOW", &at(minute).to_string())],
        );
        assert_eq!(live.code, 0, "{}{}", live.stdout, live.stderr);
    }
    let both = kanari_env(r, &["-C", r.to_str().unwrap(), "promote"], &[("KANARI_NOW", &at(60).to_string())]);
    assert_eq!(both.code, 4, "{}{}", both.stdout, both.stderr);
    assert!(
        both.stderr.contains(&format!(
            "shop/ratings: held: the analysis cannot run: release `shop/ratings`: Prometheus at {dead} cannot be reached"
        )),
        "{}",
        both.stderr
    );
    assert_eq!(subject(r), "reviews: promote half -> all (stage 3 of 3)");
}

#[test]
fn a_canary_in_a_mirror_stage_is_judged_by_the_copies_it_serves() {
    // The first stage copies 20% of stable's requests to the canary: v1 serves all 2000 a
    // minute, v2 a copy of 400, a sixth of what both serve.
    let mirrored = spec(&format!("{SUCCESS}{SHARE}")).replace("{name: ten, weight: 10}", "{name: shadow, mirror: 20}");
    let judged = |canary: Traffic| {
        let prometheus = Prometheus::start(&metrics(40, canary));
        let repo = release_of(&mirrored, &prometheus.url);
        assert_eq!(subject(repo.path()), "reviews: promote prepare -> shadow (stage 1 of 3)");
        let run = promote(repo.path(), Some(&prometheus.url), 30);
        (repo, run)
    };
    let copies = Traffic::steady("shop", "reviews", "v2", 40, 400.0);
    let (repo, run) = judged(copies.clone());
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(subject(repo.path()), "reviews: promote shadow -> half (stage 2 of 3)");
    let body = git(repo.path(), &["log", "-1", "--format=%b"]);
    assert!(body.contains("analysis: success-rate 100 (min 99): pass; 0 of 12000 requests failed"), "{body}");
    // The split of the last 5 minutes: 2000 + 400 requests a minute.
    assert!(
        body.contains(
            "(max 5): pass; the canary took 16.7% of 12000 requests in the last 300s, the stage's mirror of 20% makes it 16.7%"
        ),
        "{body}"
    );

    // Copies that fail are the canary's failures: aborted, as in any stage.
    let (repo, run) = judged(Traffic { error_ratio: 0.1, ..copies });
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    assert_eq!(subject(repo.path()), "reviews: abort shadow");
    let k = std::fs::read_to_string(repo.path().join("overlays/reviews/kustomization.yaml")).unwrap();
    assert!(k.contains("analysis: success-rate 90 (min 99): fail; 1200 of 12000 requests failed"), "{k}");

    // The canary serving a third of the requests is not a mirror of 20%: the cluster is not
    // running what Git says; the release holds.
    let (repo, run) = judged(canary(40));
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("the stage's mirror of 20% makes it 16.7%"), "{}", run.stderr);
    assert_eq!(subject(repo.path()), "reviews: promote prepare -> shadow (stage 1 of 3)");
}
