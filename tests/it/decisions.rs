//! What happens next, decided once (`release::decide`) and said the same way by `promote`,
//! `status` and `diff --next`: a finish passes the gates it leaves, every gate that holds a
//! release is named, a move that puts no traffic on the canary never waits for an analysis that
//! cannot conclude, and every promote makes progress or commits nothing. Each against a real
//! repository (the bookinfo fixture, and a release judged by a real Prometheus).

use std::path::Path;

use jiff::{SignedDuration, Timestamp};
use serde_json::Value;

use crate::analysis::{SUCCESS, at, available, promote, release_of, subject};
use crate::prometheus::{OpenMetrics, Prometheus, Traffic};
use crate::{Run, fixture_repo, git, kanari_env};

const SPEC: &str = "canaries/reviews.yaml";
const V1: &str = "    version: v1\n    image: docker.io/istio/examples-bookinfo-reviews-v1:1.16.2\n";
const V2: &str = "    version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n";

/// The bookinfo fixture as a repository with a committer, and a clock.
struct Bookinfo {
    repo: tempfile::TempDir,
    now: Timestamp,
}

impl Bookinfo {
    fn new() -> Bookinfo {
        let repo = fixture_repo("bookinfo");
        git(repo.path(), &["config", "user.name", "CI"]);
        git(repo.path(), &["config", "user.email", "ci@example.com"]);
        Bookinfo { repo, now: "2026-05-01T10:00:00Z".parse().unwrap() }
    }

    fn path(&self) -> &Path {
        self.repo.path()
    }

    /// `kanari -C REPO args` at the clock's time.
    fn run(&self, args: &[&str]) -> Run {
        let mut all = vec!["-C", self.path().to_str().unwrap()];
        all.extend_from_slice(args);
        kanari_env(self.path(), &all, &[("KANARI_NOW", &self.now.to_string())])
    }

    /// As [`Bookinfo::run`], which must exit with `code`.
    fn expect(&self, code: i32, args: &[&str]) -> Run {
        let run = self.run(args);
        assert_eq!(run.code, code, "kanari {args:?}:\n{}{}", run.stdout, run.stderr);
        run
    }

    fn later(&mut self, minutes: i64) {
        self.now += SignedDuration::from_mins(minutes);
    }

    fn head(&self) -> String {
        git(self.path(), &["rev-parse", "HEAD"])
    }

    fn subjects(&self) -> Vec<String> {
        git(self.path(), &["log", "--reverse", "--format=%s"]).lines().map(str::to_string).collect()
    }

    /// Promotes an hour apart until the committed stage is `stage` (at most 12 promotes).
    fn walk_to(&mut self, stage: &str) {
        for _ in 0..12 {
            if self.stage() == stage {
                return;
            }
            self.later(60);
            self.expect(0, &["promote"]);
        }
        panic!("bookinfo did not reach `{stage}`: {:?}", self.subjects());
    }

    fn stage(&self) -> String {
        let k = std::fs::read_to_string(self.path().join("overlays/reviews/kustomization.yaml")).unwrap_or_default();
        k.lines().find_map(|l| l.trim().strip_prefix("kanari.dev/stage: ")).unwrap_or("").to_string()
    }

    /// Commits the spec with `edit` applied, as a person merging a pull request would.
    fn commit_spec(&self, message: &str, edit: impl Fn(String) -> String) {
        let path = self.path().join(SPEC);
        let text = std::fs::read_to_string(&path).unwrap();
        let edited = edit(text.clone());
        assert_ne!(edited, text, "the edit changes the spec");
        std::fs::write(&path, edited).unwrap();
        git(self.path(), &["commit", "-q", "-am", message]);
    }

    /// The finish: v2 becomes the stable version and the canary leaves the spec.
    fn finish(&self) {
        self.commit_spec("reviews: v2 is the stable version", |spec| {
            spec.replace(&format!("  stable:\n{V1}  canary:\n{V2}"), &format!("  stable:\n{V2}"))
        });
    }
}

#[test]
fn a_finish_merged_at_50_50_holds_naming_every_gate_it_would_skip_until_skipped_on_purpose() {
    let mut b = Bookinfo::new();
    b.walk_to("50-50");
    b.finish();
    let head = b.head();
    b.later(60);
    let held = b.expect(3, &["promote"]);
    assert_eq!(
        held.stderr,
        "bookinfo/reviews: held: the spec finishes the release, which is at `50-50`: stage `50-50` waits for approval (`kanari approve`); stage `0-100` has not run; finish early on purpose with promote --skip-gates --reason TEXT\n"
    );
    assert_eq!(b.head(), head, "nothing committed");

    // The pull request that finishes early says so, in every format, beside what the finish
    // will change once its gates pass.
    let text = b.expect(1, &["diff", "--next"]);
    insta::assert_snapshot!("early-finish-diff-text", text.stdout);
    let markdown = b.expect(1, &["diff", "--next", "--format", "markdown"]);
    insta::assert_snapshot!("early-finish-diff-markdown", markdown.stdout);
    let json: Value = serde_json::from_str(&b.expect(1, &["diff", "--next", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["holds"][0], "the spec finishes the release early: needs approval of 50-50, 0-100 has not run");
    let status: Value = serde_json::from_str(&b.expect(0, &["status", "--format", "json"]).stdout).unwrap();
    assert_eq!(status[0]["gate"], "finish early: approval, 0-100 not run");

    // On purpose: the commit records the gates it skipped, and why.
    b.expect(0, &["promote", "--skip-gates", "--reason", "v2 runs in every other region"]);
    insta::assert_snapshot!("early-finish-commit", git(b.path(), &["log", "-1", "--format=%B"]));
}

#[test]
fn a_finish_merged_during_the_last_stages_bake_holds_until_the_bake_is_over() {
    let mut b = Bookinfo::new();
    b.walk_to("50-50");
    b.later(5);
    b.expect(0, &["approve"]);
    b.walk_to("0-100");
    // The move to 0-100 left v1's pods draining: they go before the finish is judged.
    let since = b.now;
    b.later(5);
    b.expect(0, &["promote"]);
    b.finish();
    b.now = since + SignedDuration::from_mins(10);
    let held = b.expect(3, &["promote"]);
    assert!(
        held.stderr.contains(
            "the spec finishes the release, which is at `0-100`: stage `0-100` bakes for 30m, until 2026-05-01T"
        ),
        "{}",
        held.stderr
    );
    b.now = since + SignedDuration::from_mins(31);
    let done = b.expect(0, &["promote"]);
    assert!(done.stdout.contains("reviews: promote 0-100 -> steady"), "{}", done.stdout);
}

#[test]
fn promote_to_a_later_stage_from_steady_makes_progress_on_every_run_and_then_nothing() {
    let mut b = Bookinfo::new();
    b.expect(0, &["promote"]);
    for _ in 0..4 {
        b.later(60);
        b.expect(0, &["promote", "--to", "50-50"]);
    }
    assert_eq!(
        b.subjects(),
        [
            "the release's spec",
            "reviews: promote (new) -> steady",
            "reviews: promote steady -> prepare",
            "reviews: promote prepare -> 50-50: scale v2 up",
            "reviews: promote prepare -> 50-50 (stage 3 of 4)",
        ]
    );
    assert_eq!(b.stage(), "50-50");
}

#[test]
fn status_and_diff_next_name_every_gate_that_holds_in_every_format() {
    let mut b = Bookinfo::new();
    b.commit_spec("reviews: 50-50 also bakes", |spec| {
        spec.replace(
            "      pause:\n        approval: true\n",
            "      pause:\n        approval: true\n        duration: 30m\n",
        )
    });
    b.walk_to("50-50");
    b.later(10);
    let status = b.expect(0, &["status"]);
    insta::assert_snapshot!("two-holds-status-text", status.stdout);
    let json: Value = serde_json::from_str(&b.expect(0, &["status", "--format", "json"]).stdout).unwrap();
    let holds: Vec<&str> = json[0]["holds"].as_array().unwrap().iter().map(|h| h["gate"].as_str().unwrap()).collect();
    assert_eq!(holds.len(), 2, "{json}");
    assert!(holds[0] == "approval" && holds[1].starts_with("bake until "), "{holds:?}");

    let text = b.expect(0, &["diff", "--next"]);
    assert_eq!(text.stdout, "bookinfo/reviews: 50-50: held: needs approval of 50-50; bake time, 20m left\n");
    let markdown = b.expect(0, &["diff", "--next", "--format", "markdown"]).stdout;
    insta::assert_snapshot!("two-holds-diff-markdown", markdown);
    let json: Value = serde_json::from_str(&b.expect(0, &["diff", "--next", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["holds"], serde_json::json!(["needs approval of 50-50", "bake time, 20m left"]));
    // promote says the same two.
    let held = b.expect(3, &["promote"]);
    insta::assert_snapshot!("two-holds-promote", held.stderr);
}

/// A release of 4 pods whose last stage takes all the traffic and scales stable to 0.
fn to_all_spec() -> String {
    crate::analysis::spec(SUCCESS).replace(
        "    - {name: half, weight: 50}\n    - {name: all, weight: 100}\n",
        "    - {name: all, weight: 100, replicas: {stable: 0}}\n",
    )
}

#[test]
fn a_scale_down_never_waits_for_an_analysis_that_cannot_conclude() {
    // The canary serves until minute 20, then nothing reaches it: from then on its success
    // rate is inconclusive (fewer than minRequests), whatever the wait.
    let mut series = OpenMetrics::every(60);
    series
        .traffic(Traffic::steady("shop", "reviews", "v1", 100, 2000.0))
        .traffic(Traffic::steady("shop", "reviews", "v2", 20, 1000.0));
    available(&mut series, |_| 10);
    let prometheus = Prometheus::start(&series);
    let repo = release_of(&to_all_spec(), &prometheus.url);
    let r = repo.path();
    let moved = promote(r, Some(&prometheus.url), 20);
    assert_eq!(moved.code, 0, "{}{}", moved.stdout, moved.stderr);
    assert_eq!(subject(r), "reviews: promote ten -> all (stage 2 of 2)");
    // v1 keeps its pods while its traffic drains; scaling it down puts no traffic on v2.
    let settled = promote(r, Some(&prometheus.url), 40);
    assert_eq!(settled.code, 0, "{}{}", settled.stdout, settled.stderr);
    assert_eq!(subject(r), "reviews: promote ten -> all: scale v1 down");
    let deployment = std::fs::read_to_string(r.join("overlays/reviews/deployment-reviews-v1.yaml")).unwrap();
    assert!(deployment.contains("replicas: 0"), "{deployment}");
}

#[test]
fn status_and_diff_next_say_when_the_next_promote_aborts() {
    let mut series = OpenMetrics::every(60);
    series
        .traffic(Traffic::steady("shop", "reviews", "v1", 40, 2000.0))
        .traffic(Traffic { error_ratio: 0.1, ..crate::analysis::canary(40) });
    available(&mut series, |_| 10);
    let prometheus = Prometheus::start(&series);
    let repo = release_of(&crate::analysis::spec(SUCCESS), &prometheus.url);
    let r = repo.path();
    let now = at(30).to_string();
    let run = |args: &[&str]| {
        let mut all = vec!["-C", r.to_str().unwrap(), "--prometheus", &prometheus.url];
        all.extend_from_slice(args);
        kanari_env(r, &all, &[("KANARI_NOW", &now)])
    };
    let check = "success-rate 90 (min 99): fail; 3000 of 30000 requests failed, window 1800s";
    let status = run(&["status"]);
    assert!(
        status.stdout.contains(&format!(
            "failing  since {}  next: aborted, draining ten, the next promote aborts: analysis: {check}",
            at(0)
        )),
        "{}",
        status.stdout
    );
    let json: Value = serde_json::from_str(&run(&["status", "--format", "json"]).stdout).unwrap();
    assert_eq!((json[0]["status"].as_str(), json[0]["gate"].as_str()), (Some("failing"), None));
    assert_eq!(json[0]["aborts"], format!("analysis: {check}"));
    let diff = run(&["diff", "--next", "--analysis"]);
    assert!(diff.stdout.contains(&format!("the next promote aborts: analysis: {check}")), "{}", diff.stdout);
    // And promote does what they said.
    let aborted = promote(r, Some(&prometheus.url), 30);
    assert_eq!(aborted.code, 5, "{}{}", aborted.stdout, aborted.stderr);
    assert_eq!(subject(r), "reviews: abort ten");
}

#[test]
fn a_finish_is_judged_by_the_analysis_of_the_stage_it_leaves() {
    // The canary serves all the traffic at `all` (from minute 15) in the second server; in the
    // first, nothing reaches it after minute 14, so its success rate at `all` is inconclusive.
    for (served, finished) in [(14, false), (100, true)] {
        let mut series = OpenMetrics::every(60);
        series
            .traffic(Traffic::steady("shop", "reviews", "v1", 100, 2000.0))
            .traffic(Traffic::steady("shop", "reviews", "v2", served, 1000.0));
        available(&mut series, |_| 10);
        let prometheus = Prometheus::start(&series);
        let repo = release_of(&to_all_spec(), &prometheus.url);
        let r = repo.path();
        for (minute, expected) in
            [(15, "reviews: promote ten -> all (stage 2 of 2)"), (17, "reviews: promote ten -> all: scale v1 down")]
        {
            let run = promote(r, Some(&prometheus.url), minute);
            assert_eq!((run.code, subject(r)), (0, expected.to_string()), "{}{}", run.stdout, run.stderr);
        }
        let spec = std::fs::read_to_string(r.join(SPEC)).unwrap();
        let finish = spec.replace(
            "  stable: {version: v1, image: r:1}\n  canary: {version: v2, image: r:2}\n",
            "  stable: {version: v2, image: r:2}\n",
        );
        assert_ne!(finish, spec);
        std::fs::write(r.join(SPEC), finish).unwrap();
        git(r, &["commit", "-q", "-am", "reviews: v2 is the stable version"]);
        let run = promote(r, Some(&prometheus.url), 40);
        if finished {
            assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
            assert_eq!(subject(r), "reviews: promote all -> steady");
            let body = git(r, &["log", "-1", "--format=%b"]);
            assert!(body.contains("analysis: success-rate 100 (min 99): pass"), "{body}");
        } else {
            assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
            assert!(
                run.stderr.contains("shop/reviews: held: the analysis holds it: success-rate no value (min 99): inconclusive; 0 canary requests"),
                "{}",
                run.stderr
            );
            assert_eq!(subject(r), "reviews: v2 is the stable version", "nothing committed");
        }
    }
}

/// Regression: after a finish edit, `plan` marked `steady` as the current state, while the
/// overlay still recorded `0-100` of v2 and no promote had committed the finish.
#[test]
fn plan_after_a_finish_edit_marks_the_recorded_state_not_steady() {
    let mut b = Bookinfo::new();
    b.walk_to("50-50");
    b.later(5);
    b.expect(0, &["approve"]);
    b.walk_to("0-100");
    b.later(60);
    b.expect(0, &["promote"]);
    b.finish();
    let text = b.expect(0, &["plan"]).stdout;
    insta::assert_snapshot!("plan-after-a-finish-edit", text);
    let json: Value = serde_json::from_str(&b.expect(0, &["plan", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["current"], "0-100 of v2 (recorded)");
    let marked: Vec<&str> = json[0]["states"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["current"] == true)
        .map(|s| s["state"].as_str().unwrap())
        .collect();
    assert_eq!(marked, ["0-100 of v2 (recorded)"]);
    // Once the finish is promoted, steady is the state, and the one marked.
    b.later(60);
    b.expect(0, &["promote"]);
    let json: Value = serde_json::from_str(&b.expect(0, &["plan", "--format", "json"]).stdout).unwrap();
    assert_eq!(json[0]["current"], "steady");
}
