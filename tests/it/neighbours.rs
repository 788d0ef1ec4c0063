//! One broken spec never blocks another release, least of all its rollback: with release
//! `ratings` broken (`weight: 250`, a file that is no YAML, two releases in one folder), every
//! release whose own spec loads is judged, moved and aborted as usual, and the run ends naming
//! each broken one with its `file:line:column`, with the worst exit code. `abort` of a release
//! whose spec no longer loads works from its committed overlay with the last spec that loaded.
//! Real repositories, a real Prometheus for the analysis, overlays built by `kubectl kustomize`.

use std::path::Path;

use jiff::SignedDuration;

use crate::prometheus::{OpenMetrics, Prometheus, Replicas, Traffic, day};
use crate::{documents, git, kanari_env, kustomize, one, replicas, repo_with, weights};

/// A release of three stages with four pods; `analysis` is YAML lines under `spec:`.
fn spec(name: &str, analysis: &str) -> String {
    format!(
        "apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {{name: {name}, namespace: shop}}
spec:
  output: overlays/{name}
  service: {{port: 9080}}
  stable: {{version: v1, image: {name}:1}}
  canary: {{version: v2, image: {name}:2}}
  replicas: 4
{analysis}  stages:
    - {{name: ten, weight: 10}}
    - {{name: half, weight: 50}}
    - {{name: all, weight: 100}}
"
    )
}

/// The typo every test makes in `ratings`: a weight over 100, at line 12, column 28.
fn broken(text: &str) -> String {
    let out = text.replace("{name: half, weight: 50}", "{name: half, weight: 250}");
    assert_ne!(out, text);
    out
}

const RATINGS_ERROR: &str = "canaries/ratings.yaml:12:28: weight must be from 0 to 100, got 250";

const ANALYSIS: &str =
    "  analysis:\n    minRequests: 100\n    metrics:\n      - {name: success-rate, builtin: success-rate, min: 99}\n";

fn at(minutes: i64) -> String {
    (day() + SignedDuration::from_mins(minutes)).to_string()
}

fn kanari_at(repo: &Path, args: &[&str], minutes: i64) -> crate::Run {
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    kanari_env(repo, &all, &[("KANARI_NOW", &at(minutes))])
}

fn commit_all(repo: &Path, message: &str) {
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", message]);
}

/// A repository holding `files`, committed, with an identity for kanari's commits.
fn repository(files: &[(&str, &str)]) -> tempfile::TempDir {
    let repo = repo_with(files);
    let r = repo.path();
    git(r, &["init", "-q", "-b", "main"]);
    commit_all(r, "specs");
    git(r, &["config", "user.name", "CI"]);
    git(r, &["config", "user.email", "ci@example.com"]);
    repo
}

fn subjects(repo: &Path) -> Vec<String> {
    git(repo, &["log", "--format=%s"]).lines().map(str::to_string).collect()
}

fn kustomization(repo: &Path, name: &str) -> String {
    std::fs::read_to_string(repo.join(format!("overlays/{name}/kustomization.yaml"))).unwrap()
}

/// Catch-all weights by subset, and pods by Deployment.
type Built = (Vec<(String, u64)>, Vec<(String, Option<u64>)>);

/// The release's overlay as `kubectl kustomize` builds it: catch-all weights and pods per version.
fn built(repo: &Path, name: &str) -> Built {
    let docs = documents(&kustomize(&repo.join(format!("overlays/{name}"))));
    (weights(one(&docs, "VirtualService")), replicas(&docs).into_iter().collect())
}

fn pairs<T: Copy>(list: &[(&str, T)]) -> Vec<(String, T)> {
    list.iter().map(|(k, v)| (k.to_string(), *v)).collect()
}

/// Promotes `name` from minute `from` on, a minute apart, until it stands at `stage`
/// (settled: nothing on the way); returns the next free minute.
fn promote_to(repo: &Path, name: &str, stage: &str, mut minute: i64) -> i64 {
    for _ in 0..10 {
        let k = std::fs::read_to_string(repo.join(format!("overlays/{name}/kustomization.yaml"))).unwrap_or_default();
        if k.contains(&format!("kanari.dev/stage: {stage}\n")) && !k.contains("kanari.dev/toward") {
            return minute;
        }
        let run = kanari_at(repo, &["promote", name], minute);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        minute += 2;
    }
    panic!("{name} did not reach {stage}:\n{}", kustomization(repo, name));
}

#[test]
fn a_failing_canary_is_aborted_while_another_release_s_spec_is_broken() {
    let mut series = OpenMetrics::every(60);
    series
        .traffic(Traffic::steady("shop", "reviews", "v1", 60, 2000.0))
        .traffic(Traffic { error_ratio: 0.1, ..Traffic::steady("shop", "reviews", "v2", 60, 1000.0) });
    for version in ["v1", "v2"] {
        let deployment = format!("reviews-{version}");
        series.replicas(Replicas {
            namespace: "shop".into(),
            deployment,
            from: day(),
            minutes: 100,
            available: |_| 10,
        });
    }
    let prometheus = Prometheus::start(&series);
    let url = prometheus.url.as_str();
    let repo = repository(&[("canaries/reviews.yaml", &spec("reviews", ANALYSIS))]);
    let r = repo.path();
    for minute in [-3, -2, 0] {
        let run = kanari_at(r, &["--prometheus", url, "promote"], minute);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    assert!(kustomization(r, "reviews").contains("kanari.dev/stage: ten\n"));
    std::fs::write(r.join("canaries/ratings.yaml"), broken(&spec("ratings", ""))).unwrap();
    commit_all(r, "ratings, with a typo");

    let run = kanari_at(r, &["--prometheus", url, "promote"], 30);
    // The abort's 5 is the worst outcome; the broken spec is named with its place all the same.
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    assert_eq!(subjects(r)[0], "reviews: abort ten");
    assert!(run.stdout.contains("reviews: abort ten"), "{}", run.stdout);
    assert!(run.stderr.contains(RATINGS_ERROR), "{}", run.stderr);
    assert!(run.stderr.contains("shop/ratings"), "{}", run.stderr);
    let k = kustomization(r, "reviews");
    assert!(k.contains("kanari.dev/stage: aborted") && k.contains("analysis: success-rate 90 (min 99): fail"), "{k}");
    let (traffic, _) = built(r, "reviews");
    assert_eq!(traffic, pairs(&[("v1", 100)]));
    assert_eq!(git(r, &["status", "--porcelain"]), "");
}

#[test]
fn abort_and_status_of_one_release_work_beside_a_broken_one_in_the_same_file() {
    let both = format!("{}---\n{}", spec("reviews", ""), spec("ratings", ""));
    let repo = repository(&[("canaries/shop.yaml", &both)]);
    let r = repo.path();
    let minute = promote_to(r, "reviews", "ten", 0);
    let typo = format!("{}---\n{}", spec("reviews", ""), broken(&spec("ratings", "")));
    std::fs::write(r.join("canaries/shop.yaml"), typo).unwrap();
    commit_all(r, "ratings, with a typo");

    let status = kanari_at(r, &["status", "--format", "json"], minute);
    assert_eq!(status.code, 2, "{}{}", status.stdout, status.stderr);
    let shown: serde_json::Value = serde_json::from_str(&status.stdout).expect("the good releases as JSON");
    assert_eq!(shown[0]["name"], "shop/reviews", "{shown}");
    assert_eq!(shown[0]["stage"], "ten", "{shown}");
    assert!(
        status.stderr.contains("canaries/shop.yaml:26:28: weight must be from 0 to 100, got 250"),
        "{}",
        status.stderr
    );

    let run = kanari_at(r, &["abort", "reviews", "--reason", "x"], minute);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(subjects(r)[0], "reviews: abort ten");
    let k = kustomization(r, "reviews");
    assert!(k.contains("kanari.dev/stage: aborted") && k.contains("kanari.dev/reason: x"), "{k}");
    let (traffic, _) = built(r, "reviews");
    assert_eq!(traffic, pairs(&[("v1", 100)]));

    // Named, the broken release is refused, with its error: nothing is committed for it.
    let before = subjects(r);
    let run = kanari_at(r, &["promote", "ratings"], minute + 5);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains("canaries/shop.yaml:26:28: weight must be from 0 to 100, got 250"), "{}", run.stderr);
    assert_eq!(subjects(r), before);
}

#[test]
fn abort_of_a_release_whose_spec_no_longer_loads_uses_the_last_spec_that_loaded() {
    let repo =
        repository(&[("canaries/reviews.yaml", &spec("reviews", "")), ("canaries/ratings.yaml", &spec("ratings", ""))]);
    let r = repo.path();
    let minute = promote_to(r, "ratings", "half", 0);
    let (traffic, pods) = built(r, "ratings");
    assert_eq!(traffic, pairs(&[("v1", 50), ("v2", 50)]));
    assert_eq!(pods, pairs(&[("ratings-v1", Some(4)), ("ratings-v2", Some(4))]));
    let loaded = git(r, &["rev-parse", "--short=12", "HEAD"]).trim().to_string();
    let text = std::fs::read_to_string(r.join("canaries/ratings.yaml")).unwrap();
    std::fs::write(r.join("canaries/ratings.yaml"), broken(&text)).unwrap();
    commit_all(r, "ratings, with a typo");
    std::fs::write(r.join("NOTES"), "unrelated\n").unwrap();
    commit_all(r, "notes");

    let minute = minute + 10;
    let run = kanari_at(r, &["abort", "shop/ratings", "--reason", "x"], minute);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    let said = format!(
        "shop/ratings: the spec does not load at HEAD ({RATINGS_ERROR}); aborting with the spec of {loaded}, the last commit where it loaded"
    );
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    assert_eq!(subjects(r)[0], "ratings: abort half");
    let (traffic, pods) = built(r, "ratings");
    assert_eq!(traffic, pairs(&[("v1", 100)]), "the traffic is back on stable");
    assert_eq!(pods, pairs(&[("ratings-v1", Some(4)), ("ratings-v2", Some(2))]), "the canary drains");
    assert!(kustomization(r, "ratings").contains("kanari.dev/stage: aborted"));

    // After the warm-up, the second abort scales the canary to 0.
    let run = kanari_at(r, &["abort", "ratings", "--reason", "x"], minute + 5);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stderr.contains(&said), "{}", run.stderr);
    let (traffic, pods) = built(r, "ratings");
    assert_eq!(traffic, pairs(&[("v1", 100)]));
    assert_eq!(pods, pairs(&[("ratings-v1", Some(4)), ("ratings-v2", Some(0))]));
    assert_eq!(git(r, &["status", "--porcelain"]), "");
    // The release next door was never touched.
    assert!(!r.join("overlays/reviews").exists());

    // A release whose spec never loaded in reach cannot be aborted this way: exit 2, its error.
    let never = broken(&spec("details", "")).replace("canaries/ratings", "canaries/details");
    std::fs::write(r.join("canaries/details.yaml"), never).unwrap();
    commit_all(r, "details, with a typo");
    let before = subjects(r);
    let run = kanari_at(r, &["abort", "details", "--reason", "x"], minute + 10);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(
        run.stderr.contains("canaries/details.yaml:12:28: weight must be from 0 to 100, got 250"),
        "{}",
        run.stderr
    );
    assert_eq!(subjects(r), before);
}

#[test]
fn promote_moves_every_release_that_loads_and_exits_2_naming_each_one_that_does_not() {
    let repo = repository(&[("canaries/reviews.yaml", &spec("reviews", ""))]);
    let r = repo.path();
    let minute = promote_to(r, "reviews", "prepare", 0);
    std::fs::write(r.join("canaries/ratings.yaml"), broken(&spec("ratings", ""))).unwrap();
    std::fs::write(r.join("canaries/zz-notyaml.yaml"), "spec: [\n").unwrap();
    commit_all(r, "ratings, with a typo, and a file that is no YAML");

    let run = kanari_at(r, &["promote"], minute);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert_eq!(subjects(r)[0], "reviews: promote prepare -> ten (stage 1 of 3)");
    assert!(run.stdout.contains("reviews: promote prepare -> ten"), "{}", run.stdout);
    assert!(run.stderr.contains(RATINGS_ERROR), "{}", run.stderr);
    assert!(run.stderr.contains("canaries/zz-notyaml.yaml:"), "{}", run.stderr);
    let (traffic, _) = built(r, "reviews");
    assert_eq!(traffic, pairs(&[("v1", 90), ("v2", 10)]));
    assert_eq!(git(r, &["status", "--porcelain"]), "");

    // Two releases writing one folder hold each other, and no one else.
    let same = spec("details", "").replace("output: overlays/details", "output: overlays/productpage");
    std::fs::write(r.join("canaries/details.yaml"), same).unwrap();
    std::fs::write(r.join("canaries/productpage.yaml"), spec("productpage", "")).unwrap();
    commit_all(r, "two releases, one folder");
    let run = kanari_at(r, &["promote", "reviews", "details", "productpage"], minute + 5);
    assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
    assert!(subjects(r)[0].starts_with("reviews: promote ten"), "{:?}", subjects(r));
    assert!(run.stderr.contains("writes to `overlays/productpage`, as release"), "{}", run.stderr);
    assert!(!r.join("overlays/productpage").exists());
    // lint stays strict: every problem, exit 2.
    let lint = kanari_at(r, &["lint"], minute + 5);
    assert_eq!(lint.code, 2, "{}{}", lint.stdout, lint.stderr);
    assert!(
        lint.stderr.contains(RATINGS_ERROR) && lint.stderr.contains("canaries/zz-notyaml.yaml:"),
        "{}",
        lint.stderr
    );
}
