//! What a new user reads and tripped on: the abort reason in `status`, what holds a release in
//! `diff --next`, commit bodies that read as sentences, one JSON shape for traffic and pods in
//! `plan`, `diff` and `status`, and Git errors without libgit2's class and code.

use std::path::Path;

use serde_json::Value;

use crate::{fixture_repo, kanari, kanari_env};

const AUTHOR: &str = "CI <ci@example.com>";

/// kanari run in `repo` at 12:`minute` of a fixed day.
fn at(repo: &Path, minute: u32, args: &[&str]) -> crate::Run {
    let now = format!("2026-05-01T12:{minute:02}:00Z");
    let mut all = vec!["-C", repo.to_str().unwrap()];
    all.extend_from_slice(args);
    kanari_env(repo, &all, &[("KANARI_NOW", &now)])
}

/// The bookinfo release promoted `times` times, a minute apart from 12:00 (past each warmup).
fn promoted(times: u32) -> tempfile::TempDir {
    let repo = fixture_repo("bookinfo");
    for minute in 0..times {
        let run = at(repo.path(), minute, &["promote", "--author", AUTHOR]);
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    repo
}

fn json_of(run: &crate::Run) -> Value {
    serde_json::from_str(&run.stdout).unwrap_or_else(|e| panic!("{e}: {}", run.stdout))
}

/// The reason given to `abort` showed nowhere but in the overlay's annotations.
#[test]
fn status_shows_why_a_release_was_aborted() {
    let repo = promoted(4);
    let r = repo.path();
    let run = at(r, 10, &["abort", "--reason", "p99 latency doubled", "--author", AUTHOR]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for minute in [10, 20] {
        if minute == 20 {
            // The second abort scales the canary down: the reason stays.
            assert_eq!(at(r, 12, &["abort", "--reason", "p99 latency doubled", "--author", AUTHOR]).code, 0);
        }
        let text = at(r, minute, &["status"]);
        assert_eq!(text.code, 0, "{}", text.stderr);
        insta::assert_snapshot!(format!("aborted-status-at-minute-{minute}"), text.stdout);
        let rows = json_of(&at(r, minute, &["status", "--format", "json"]));
        assert_eq!(rows[0]["reason"], "p99 latency doubled", "{rows}");
        assert_eq!(rows[0]["status"], if minute == 10 { "aborting" } else { "aborted" }, "{rows}");
    }
    // A release that was not aborted has no reason.
    let rows = json_of(&at(promoted(2).path(), 5, &["status", "--format", "json"]));
    assert_eq!(rows[0]["reason"], Value::Null, "{rows}");
}

/// `diff --next` said "no changes" when a gate held the release, as if there were nothing to do.
#[test]
fn diff_next_says_which_gate_holds_the_release() {
    // At 50-50, which waits for an approval.
    let repo = promoted(5);
    let r = repo.path();
    let text = at(r, 10, &["diff", "--next"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    assert_eq!(text.stdout, "bookinfo/reviews: 50-50: held: needs approval of 50-50\n");
    let list = json_of(&at(r, 10, &["diff", "--next", "--format", "json"]));
    assert_eq!(list[0]["held"], "needs approval of 50-50", "{list}");
    // Approved, it moves: nothing holds it.
    assert_eq!(at(r, 10, &["approve", "--author", AUTHOR]).code, 0);
    let list = json_of(&at(r, 11, &["diff", "--next", "--format", "json"]));
    assert_eq!(list[0]["held"], Value::Null, "{list}");
    assert_eq!(list[0]["changed"], true, "{list}");
    // Right after a move, the new pods warm up: the warmup's own words.
    let run = at(r, 11, &["promote", "--author", AUTHOR]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let text = at(r, 11, &["diff", "--next"]);
    assert_eq!(text.code, 0, "{}", text.stderr);
    insta::assert_snapshot!("diff-next-draining", text.stdout);
    // Settled, the last stage bakes for 30m from the move.
    assert_eq!(at(r, 12, &["promote", "--author", AUTHOR]).code, 0);
    let text = at(r, 20, &["diff", "--next"]);
    assert_eq!(text.stdout, "bookinfo/reviews: 0-100: held: bake time, 21m left\n");
    // Without --next there is no gate to speak of.
    let plain = json_of(&at(r, 11, &["diff", "--format", "json"]));
    assert_eq!(plain[0]["held"], Value::Null, "{plain}");
}

/// libgit2's "class=Repository (6); code=NotFound (-3)" reached the user.
#[test]
fn git_errors_are_said_without_libgit2_class_and_code() {
    let outside = tempfile::tempdir().unwrap();
    let run = kanari(outside.path(), &["status"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let place = outside.path().canonicalize().unwrap();
    let expected = format!("error: `{}` is not inside a Git repository\n", place.display());
    let raw = format!("error: `{}` is not inside a Git repository\n", outside.path().display());
    assert!(run.stderr == expected || run.stderr == raw, "{}", run.stderr);
    // Any other Git error keeps its message and loses the noise.
    let repo = fixture_repo("bookinfo");
    let run = at(repo.path(), 0, &["diff", "--base", "no-such-rev"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    insta::assert_snapshot!("no-such-base-revision", run.stderr);
}

/// Pods were strings (`"10"`, `"hpa 1-10"`) in `plan`, `[version, value]` pairs in `diff`, and
/// absent from `status`: one shape now, numbers by version.
#[test]
fn plan_diff_and_status_show_traffic_and_pods_in_one_json_shape() {
    let repo = promoted(4);
    let r = repo.path();
    let traffic = serde_json::json!({"v1": 90, "v2": 10});
    let pods = serde_json::json!({"v1": {"replicas": 10}, "v2": {"replicas": 5}});
    let status = json_of(&at(r, 10, &["status", "--format", "json"]));
    assert_eq!((&status[0]["traffic"], &status[0]["pods"]), (&traffic, &pods), "{status}");
    let plan = json_of(&at(r, 10, &["plan", "--format", "json"]));
    let current = plan[0]["states"].as_array().unwrap().iter().find(|s| s["current"] == true).unwrap();
    assert_eq!((&current["traffic"], &current["pods"]), (&traffic, &pods), "{plan}");
    let diff = json_of(&at(r, 10, &["diff", "--next", "--format", "json"]));
    assert_eq!((&diff[0]["before"]["traffic"], &diff[0]["before"]["pods"]), (&traffic, &pods), "{diff}");
    assert_eq!(diff[0]["after"]["traffic"], serde_json::json!({"v1": 50, "v2": 50}), "{diff}");
    // Nothing committed: null.
    let fresh = json_of(&at(fixture_repo("bookinfo").path(), 0, &["status", "--format", "json"]));
    assert_eq!((&fresh[0]["traffic"], &fresh[0]["pods"]), (&Value::Null, &Value::Null), "{fresh}");
}

/// Commit bodies read `pods: v2 1 -> 5`; they say it in sentences now, and the match a stage
/// adds.
#[test]
fn commit_bodies_read_as_sentences() {
    let repo = promoted(3);
    let r = repo.path();
    insta::assert_snapshot!("commit-to-jason", crate::git(r, &["log", "-1", "--format=%B"]));
    assert!(at(r, 3, &["promote", "--author", AUTHOR]).code == 0);
    insta::assert_snapshot!("commit-to-90-10", crate::git(r, &["log", "-1", "--format=%B"]));
}

/// Autoscaled pods read "v2 scales from 2 to 20 pods (autoscaled) to 4 to 20 pods (autoscaled)";
/// now one line per version, the new bounds first. And the commit that scales an aborted
/// canary down read "promote aborted: scale down after the traffic moved", like a promote that
/// failed; it is named after what it does: "abort 100: scale v2 down". The whole log, as a
/// reviewer reads it.
#[test]
fn an_autoscaled_release_and_its_abort_read_one_line_per_version_and_say_what_each_commit_does() {
    let repo = crate::fixture("helloworld");
    let r = repo.path();
    let spec = r.join("canaries/helloworld.yaml");
    let text = std::fs::read_to_string(&spec).unwrap();
    let text = text.replace("minReplicas: 1\n", "minReplicas: 4\n").replace("maxReplicas: 10\n", "maxReplicas: 20\n");
    std::fs::write(&spec, text).unwrap();
    crate::git(r, &["init", "-q", "-b", "main"]);
    crate::git(r, &["add", "-A"]);
    crate::git(r, &["commit", "-q", "-m", "the release's spec"]);
    // To 100 a minute apart (the 50 stage's bake skipped), then an abort that the next
    // promote completes.
    for (minute, args) in [
        (0, &["promote"][..]),
        (1, &["promote"]),
        (2, &["promote"]),
        (3, &["promote"]),
        (4, &["promote", "--skip-gates", "--reason", "load test"]),
        (5, &["abort", "--reason", "p99 latency doubled"]),
        (7, &["promote"]),
    ] {
        let mut all = args.to_vec();
        all.extend(["--author", AUTHOR]);
        let run = at(r, minute, &all);
        assert_eq!(run.code, 0, "{args:?}: {}{}", run.stdout, run.stderr);
    }
    let log = crate::git(r, &["log", "--reverse", "--format=%B-----", "HEAD~7..HEAD"]);
    insta::assert_snapshot!("autoscaled-release-log", log);
}
