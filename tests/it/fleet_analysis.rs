//! A fleet's analysis against real Prometheus servers, one per cluster: each instance asks its
//! own cluster's Prometheus (the cluster's `prometheus:`), so a canary failing in the second
//! wave's cluster only is aborted there by its analysis, and the whole fleet with it in the same
//! run; `analyze` and `status` show each instance's checks from its own server (and
//! `--prometheus URL/{cluster}` sends each instance's queries to its own path); a pull request
//! that points a cluster at a server of its own gets no query and no token sent there.

use std::path::Path;

use crate::analysis::{ERRORS, SUCCESS, at, canary, metrics};
use crate::prometheus::{Prometheus, Traffic};
use crate::servers::LoggingHttp;
use crate::transitions::check_instance;
use crate::{Run, git, kanari_env, repo_with};

const SPEC: &str = "canaries/reviews.yaml";

/// The fleet: `shop/reviews` in `eu-1` (wave 1, its Prometheus at `eu`) and `us-1` (wave 2, at
/// `us`), no bake or approval between the waves, two stages judged by the canary's success rate
/// and its errors against stable's.
fn fleet(eu: &str, us: &str) -> String {
    format!(
        "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {{name: reviews, namespace: shop}}
spec:
  output: overlays/{{cluster}}/reviews
  clusters:
    - {{name: eu-1, wave: 1, prometheus: '{eu}'}}
    - {{name: us-1, wave: 2, prometheus: '{us}'}}
  service: {{port: 9080}}
  stable: {{version: v1, image: r:1}}
  canary: {{version: v2, image: r:2}}
  replicas: 4
  analysis:
    minRequests: 100
    metrics:
{SUCCESS}{ERRORS}  stages:
    - {{name: ten, weight: 10}}
    - {{name: all, weight: 100}}
"
    )
}

fn dir(cluster: &str) -> String {
    format!("overlays/{cluster}/reviews")
}

/// A repository on `main` holding `spec` in one commit, with a committer for kanari.
fn repository(spec: &str) -> tempfile::TempDir {
    let repo = repo_with(&[(SPEC, spec)]);
    let r = repo.path();
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-q", "-m", "spec"]] {
        git(r, args);
    }
    git(r, &["config", "user.name", "CI"]);
    git(r, &["config", "user.email", "ci@example.com"]);
    repo
}

/// `kanari -C REPO args` at the data's `minute`, with a token for Prometheus.
fn kanari(repo: &Path, minute: i64, args: &[&str]) -> Run {
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    kanari_env(repo, &all, &[("KANARI_NOW", &at(minute).to_string()), ("KANARI_PROMETHEUS_TOKEN", TOKEN)])
}

const TOKEN: &str = "fleet-token-5d1c";

/// The committed `kanari.dev/stage` of `cluster`'s overlay.
fn stage(repo: &Path, cluster: &str) -> String {
    let text = std::fs::read_to_string(repo.join(dir(cluster)).join("kustomization.yaml")).unwrap_or_default();
    text.lines()
        .find_map(|l| l.trim().strip_prefix("kanari.dev/stage:"))
        .map(|s| s.trim().trim_matches('"').to_string())
        .unwrap_or_else(|| "-".into())
}

fn stages(repo: &Path) -> String {
    format!("eu-1 {}, us-1 {}", stage(repo, "eu-1"), stage(repo, "us-1"))
}

/// Promotes at `minute`, expecting `code`; returns the run.
fn promote(repo: &Path, minute: i64, codes: &[i32], log: &mut Vec<String>) -> Run {
    let run = kanari(repo, minute, &["promote"]);
    log.push(format!("{minute}: promote -> {}: {}{}=> {}", run.code, run.stdout, run.stderr, stages(repo)));
    assert!(codes.contains(&run.code), "at minute {minute}:\n{}", log.join("\n"));
    run
}

/// Server A (eu-1's cluster): a healthy canary. Server B (us-1's): one request in ten fails.
fn servers() -> (Prometheus, Prometheus) {
    let healthy = Prometheus::start(&metrics(100, canary(100)));
    let sick = Prometheus::start(&metrics(100, Traffic { error_ratio: 0.1, ..canary(100) }));
    (healthy, sick)
}

#[test]
fn a_canary_failing_in_the_second_wave_s_cluster_only_aborts_the_whole_fleet() {
    let (a, b) = servers();
    let repo = repository(&fleet(&a.url, &b.url));
    let r = repo.path();
    let mut log = Vec::new();
    // eu-1 walks its stages judged by server A's healthy data; us-1 waits at `steady` for wave 1.
    // Had eu-1 been judged by server B, it would have been aborted at its first stage.
    for (minute, code) in [(-3, 0), (-2, 3), (0, 3)] {
        promote(r, minute, &[code], &mut log);
    }
    assert_eq!(stages(r), "eu-1 ten, us-1 steady", "{}", log.join("\n"));

    // While wave 2 waits: us-1 is held by its wave, eu-1 is judged by its own Prometheus, and
    // the fleet's line says where the release is.
    let status = kanari(r, 15, &["status"]);
    assert_eq!(status.code, 0, "{}{}", status.stdout, status.stderr);
    let text = &status.stdout;
    let line = |id: &str| text.lines().find(|l| l.starts_with(id)).unwrap_or_else(|| panic!("no {id}:\n{text}"));
    assert!(line("shop/reviews@eu-1 ").contains("ready"), "{text}");
    assert!(line("shop/reviews@us-1 ").contains("held: wave 1 not passed"), "{text}");
    assert!(text.contains("shop/reviews: wave 1 of 2: eu-1 at ten"), "{text}");

    let run = promote(r, 30, &[3], &mut log);
    assert!(run.stdout.contains("reviews@eu-1: promote ten -> all (stage 2 of 2)"), "{}", log.join("\n"));
    // eu-1 has passed its last stage (server A: every check passes): wave 2 starts.
    promote(r, 60, &[0], &mut log);
    promote(r, 61, &[0], &mut log);
    assert_eq!(stages(r), "eu-1 all, us-1 ten", "{}", log.join("\n"));
    let body = git(r, &["log", "-1", "--format=%b", "--", &dir("eu-1")]);
    assert!(body.contains("analysis: success-rate 100 (min 99): pass"), "{body}");

    // `analyze` judges each instance against its own server: eu-1 passes on A, us-1 fails on B.
    let all = kanari(r, 90, &["analyze", "reviews"]);
    let out = &all.stdout;
    let (eu, us) = out.split_once("shop/reviews@us-1").unwrap_or_else(|| panic!("{}{}", out, all.stderr));
    assert!(eu.starts_with("shop/reviews@eu-1  all  window 3600s"), "{out}");
    assert!(eu.contains("success-rate 100 (min 99): pass") && eu.contains("errors 0 (margin 1): pass"), "{out}");
    assert!(!eu.contains("fail;"), "{out}");
    assert!(us.starts_with("  ten  window 1740s"), "{out}");
    assert!(
        us.contains("success-rate 90 (min 99): fail; 2900 of 29000") && us.contains("errors 10 (margin 1): fail"),
        "{out}"
    );
    assert_eq!(all.code, 3, "{out}{}", all.stderr);
    let one = kanari(r, 90, &["analyze", "reviews@us-1"]);
    assert!(one.stdout.starts_with("shop/reviews@us-1  ten") && !one.stdout.contains("eu-1"), "{}", one.stdout);
    assert!(one.stdout.contains("success-rate 90 (min 99): fail"), "{}", one.stdout);
    let json = kanari(r, 90, &["analyze", "reviews", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&json.stdout).unwrap_or_else(|e| panic!("{e}: {}", json.stdout));
    let verdicts: Vec<(String, Vec<String>)> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let checks = i["checks"].as_array().unwrap();
            let v =
                checks.iter().map(|c| format!("{} {}", c["name"].as_str().unwrap(), c["verdict"].as_str().unwrap()));
            (i["name"].as_str().unwrap().to_string(), v.collect())
        })
        .collect();
    let expected = |id: &str, v: &str| (id.to_string(), vec![format!("success-rate {v}"), format!("errors {v}")]);
    assert_eq!(verdicts, [expected("shop/reviews@eu-1", "pass"), expected("shop/reviews@us-1", "fail")], "{json}");

    // `--prometheus` with `{cluster}` sends each instance's queries to its own path there.
    let server = logging();
    let template = format!("{}/{{cluster}}", server.base());
    let run = kanari(r, 90, &["--prometheus", &template, "analyze", "reviews"]);
    assert!(
        run.stdout.contains("shop/reviews@eu-1") && run.stdout.contains("shop/reviews@us-1"),
        "{}{}",
        run.stdout,
        run.stderr
    );
    let prefixes: std::collections::BTreeSet<&str> = server
        .heads()
        .iter()
        .map(|h| match h.split(' ').nth(1).unwrap_or("") {
            p if p.starts_with("/eu-1/api/v1/") => "eu-1",
            p if p.starts_with("/us-1/api/v1/") => "us-1",
            _ => panic!("a query outside the clusters' paths: {h}"),
        })
        .collect();
    assert_eq!(prefixes, ["eu-1", "us-1"].into(), "{:?}", server.heads());

    // One promote aborts us-1 by its analysis and eu-1 with it: a commit each, exit 5.
    let before = git(r, &["rev-parse", "HEAD"]).trim().to_string();
    promote(r, 90, &[5], &mut log);
    let subjects = git(r, &["log", "--format=%s", &format!("{before}..HEAD")]);
    let mut subjects: Vec<&str> = subjects.lines().collect();
    subjects.sort();
    assert_eq!(subjects, ["reviews@eu-1: abort all", "reviews@us-1: abort ten"], "{}", log.join("\n"));
    assert_eq!(stages(r), "eu-1 aborted, us-1 aborted");
    let eu1 = std::fs::read_to_string(r.join(dir("eu-1")).join("kustomization.yaml")).unwrap();
    assert!(
        eu1.contains("the fleet follows `shop/reviews@us-1`, aborted: analysis: success-rate 90 (min 99): fail; 2900 of 29000 requests failed, window 1740s"),
        "{eu1}"
    );
    let us1 = std::fs::read_to_string(r.join(dir("us-1")).join("kustomization.yaml")).unwrap();
    assert!(us1.contains("kanari.dev/reason: \"analysis: success-rate 90 (min 99): fail"), "{us1}");

    // The aborts finish (the canaries scaled down), and every commit of each instance keeps
    // make before break and builds with `kubectl kustomize`.
    promote(r, 95, &[0, 3], &mut log);
    for cluster in ["eu-1", "us-1"] {
        check_instance(r, &dir(cluster), SPEC, Some(cluster))
            .unwrap_or_else(|e| panic!("{cluster}: {e}\n{}", log.join("\n")));
    }
}

/// A fake Prometheus that logs the head of every request and answers as a healthy one would.
fn logging() -> LoggingHttp {
    LoggingHttp::serve(|head| {
        let body = match head.contains("kube_deployment_status_replicas_available") {
            true => {
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"namespace":"shop","deployment":"reviews-v1"},"value":[1,"10"]},{"metric":{"namespace":"shop","deployment":"reviews-v2"},"value":[1,"10"]}]}}"#
            }
            false => {
                r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1000"]}]}}"#
            }
        };
        format!(
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
    })
}

#[test]
fn a_pull_request_s_cluster_prometheus_the_base_does_not_name_is_never_asked() {
    let (a, b) = servers();
    let base = fleet(&a.url, &b.url);
    let repo = repository(&base);
    let r = repo.path();
    let mut log = Vec::new();
    for (minute, code) in [(-3, 0), (-2, 3), (0, 3)] {
        promote(r, minute, &[code], &mut log);
    }
    assert_eq!(stages(r), "eu-1 ten, us-1 steady", "{}", log.join("\n"));
    let diff = |r: &Path| kanari(r, 15, &["diff", "--next", "--analysis", "--base", "main"]);

    // The pull request keeps the base's clusters: eu-1 is judged by its own Prometheus.
    let same = diff(r);
    assert!(same.code == 0 || same.code == 1, "{}{}", same.stdout, same.stderr);
    assert!(!same.stdout.contains("not asked"), "{}", same.stdout);
    assert!(
        same.stdout.contains("analysis: success-rate 100 (min 99): pass; 0 of 15000 requests failed"),
        "{}",
        same.stdout
    );

    // It points eu-1 at a server of its own, and adds a cluster with another: neither is asked,
    // and the token goes nowhere.
    let changed = logging();
    let added = logging();
    let head = base.replace(&format!("prometheus: '{}'}}", a.url), &format!("prometheus: '{}'}}", changed.base()));
    let new_cluster = format!("    - {{name: ap-1, wave: 1, prometheus: '{}'}}\n    - {{name: us-1,", added.base());
    let head = head.replace("    - {name: us-1,", &new_cluster);
    assert!(head.contains(&changed.base()) && head.contains("ap-1"), "{head}");
    std::fs::write(r.join(SPEC), &head).unwrap();
    // The pull request brings an overlay for the new cluster too, at a stage with traffic: the
    // recorded state is read from the base, where the cluster has none.
    std::fs::create_dir_all(r.join(dir("ap-1"))).unwrap();
    for file in std::fs::read_dir(r.join(dir("eu-1"))).unwrap() {
        let file = file.unwrap().path();
        std::fs::copy(&file, r.join(dir("ap-1")).join(file.file_name().unwrap())).unwrap();
    }
    for format in ["text", "markdown", "json"] {
        let run = kanari(r, 15, &["diff", "--next", "--analysis", "--base", "main", "--format", format]);
        let said = format!("{}{}", run.stdout, run.stderr);
        assert!(run.code == 0 || run.code == 1, "{format}: {said}");
        assert!(
            said.contains(&format!("not asked: the pull request's spec names Prometheus `{}`", changed.base())),
            "{format}: {said}"
        );
        assert!(said.contains("which the base `main` does not"), "{format}: {said}");
        assert!(said.contains("ap-1") && !said.contains(TOKEN), "{format}: {said}");
    }
    assert_eq!(changed.heads(), Vec::<String>::new(), "eu-1's new Prometheus was asked");
    assert_eq!(added.heads(), Vec::<String>::new(), "the new cluster's Prometheus was asked");
}
