//! The fleet fixture (bookinfo's reviews in `eu-1`, wave 1, and in `eu-2` and `us-1` (20 pods),
//! wave 2; an hour's bake and an approval between the waves) driven with the real binary: wave 2
//! waits at `steady` while wave 1 runs and bakes; an abort of one instance aborts every instance
//! that runs the canary; a changed canary sends the fleet back to wave 1; the finish waits for the
//! last wave. Every commit of every instance keeps the four rules and builds with `kubectl
//! kustomize` ([`check_instance`]).

use std::path::Path;

use super::drive::{Driver, identity};
use super::{check_instance, history, overlay_at};
use crate::{fixture_repo, git};

const SPEC: &str = "canaries/reviews.yaml";
const CLUSTERS: [&str; 3] = ["eu-1", "eu-2", "us-1"];
const STABLE_V1: &str = "  stable:\n    version: v1\n    image: docker.io/istio/examples-bookinfo-reviews-v1:1.16.2\n";
const STABLE_V2: &str = "  stable:\n    version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n";
const CANARY_V2: &str = "  canary:\n    version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n";
const CANARY_V3: &str = "  canary:\n    version: v3\n    image: docker.io/istio/examples-bookinfo-reviews-v3:1.16.2\n";

fn dir(cluster: &str) -> String {
    format!("overlays/{cluster}/reviews")
}

fn fleet() -> tempfile::TempDir {
    let repo = fixture_repo("fleet");
    identity(repo.path());
    repo
}

fn edited(repo: &Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(repo.join(SPEC)).unwrap();
    assert_eq!(text.matches(from).count(), 1, "the fleet spec has changed:\n{text}");
    text.replace(from, to)
}

/// Every instance's committed stage, `-` where nothing is committed.
fn stages(driver: &Driver) -> Vec<String> {
    CLUSTERS.iter().map(|c| driver.stage(&dir(c)).unwrap_or_else(|| "-".into())).collect()
}

/// Every instance's history checked: the four rules between its commits, `kubectl kustomize`
/// on each overlay.
fn check_all(repo: &Path, driver: &Driver) {
    for cluster in CLUSTERS {
        check_instance(repo, &dir(cluster), SPEC, Some(cluster))
            .unwrap_or_else(|e| panic!("{cluster}: {e}\nlog:\n{}", driver.log.join("\n")));
    }
}

/// One promote, 2 hours after the last run, then the approvals it asks for: a stage's, by
/// instance, and a wave's (`--wave N`). Returns the promote's exit code and its output.
fn step(driver: &mut Driver, approve_waves: bool) -> (i32, String) {
    driver.advance_hours(2);
    let run = driver.run(&["promote"], &[0, 3, 5]).unwrap_or_else(|e| panic!("{e}"));
    for line in run.stderr.lines() {
        if let Some((id, _)) = line.split_once(": held: stage `").filter(|_| line.contains("waits for approval")) {
            driver.run(&["approve", id], &[0]).unwrap_or_else(|e| panic!("{e}"));
        }
    }
    if approve_waves && let Some(at) = run.stderr.find("--wave ") {
        let wave: String = run.stderr[at + 7..].chars().take_while(char::is_ascii_digit).collect();
        driver.run(&["approve", "reviews", "--wave", &wave], &[0]).unwrap_or_else(|e| panic!("{e}"));
    }
    (run.code, format!("{}{}", run.stdout, run.stderr))
}

/// The committer time (seconds) of the first commit of `dir` that records `stage`.
fn first_at(repo: &Path, dir: &str, stage: &str) -> Option<i64> {
    history(repo, dir)
        .into_iter()
        .find(|c| overlay_at(repo, c, dir).stage == stage)
        .map(|c| git(repo, &["log", "-1", "--format=%ct", &c]).trim().parse().unwrap())
}

#[test]
fn a_fleet_walks_wave_by_wave_and_finishes_everywhere() {
    let repo = fleet();
    let r = repo.path();
    let mut driver = Driver::new(r);
    // Wave 1 walks alone: until eu-1 has passed its last stage, wave 2 stays at `steady`.
    let mut seen = Vec::new();
    for _ in 0..60 {
        step(&mut driver, true);
        let now = stages(&driver);
        seen.push(now.join(" "));
        if now.iter().all(|s| s == "0-100") {
            break;
        }
    }
    let log = || format!("{}\nlog:\n{}", seen.join("\n"), driver.log.join("\n"));
    assert!(stages(&driver).iter().all(|s| s == "0-100"), "the fleet did not reach its last stage:\n{}", log());
    // Wave 2 left `steady` only after eu-1 had run 0-100's 30 minutes and the waves' hour.
    let eu1_last = first_at(r, &dir("eu-1"), "0-100").expect("eu-1 reached 0-100");
    for cluster in ["eu-2", "us-1"] {
        let started = first_at(r, &dir(cluster), "prepare").expect("wave 2 started");
        assert!(
            started >= eu1_last + 30 * 60 + 3600,
            "{cluster} started at {started}, eu-1 reached 0-100 at {eu1_last}:\n{}",
            log()
        );
    }
    let approvals = git(r, &["log", "--format=%s", "--grep", "approve wave 2 for v2"]);
    assert_eq!(approvals.lines().count(), 2, "one wave approval per wave-2 instance:\n{approvals}");
    // The finish settles every instance: v2 alone, at steady.
    let finished = edited(r, STABLE_V1, STABLE_V2).replace(CANARY_V2, "");
    driver.commit_spec(SPEC, &finished, "reviews: v2 is the stable version");
    for _ in 0..20 {
        step(&mut driver, false);
        if stages(&driver).iter().all(|s| s == "steady") {
            break;
        }
    }
    assert_eq!(stages(&driver), ["steady"; 3], "the finish did not settle every instance:\n{}", driver.log.join("\n"));
    check_all(r, &driver);
    for cluster in CLUSTERS {
        let last = overlay_at(r, &history(r, &dir(cluster)).pop().unwrap(), &dir(cluster));
        assert!(last.share("v2") == 100 && !last.pods.contains_key("v1"), "{cluster}: {}", last.summary());
    }
    let us1 = overlay_at(r, &history(r, &dir("us-1")).pop().unwrap(), &dir("us-1"));
    assert_eq!(us1.pods("v2"), 20, "us-1 runs its own 20 pods: {}", us1.summary());
}

/// Drives the fleet until wave 2's instances have left `steady` for a stage with traffic.
fn to_wave_two(driver: &mut Driver) {
    for _ in 0..60 {
        step(driver, true);
        let now = stages(driver);
        if now[1] == "90-10" && now[2] == "90-10" {
            return;
        }
    }
    panic!("wave 2 did not reach 90-10:\n{}", driver.log.join("\n"));
}

#[test]
fn an_abort_in_one_instance_aborts_every_instance_that_runs_the_canary() {
    let repo = fleet();
    let r = repo.path();
    let mut driver = Driver::new(r);
    to_wave_two(&mut driver);
    driver.advance_hours(1);
    let run = driver.run(&["abort", "reviews@us-1", "--reason", "p99 doubled"], &[0]).unwrap();
    assert!(run.stdout.contains("reviews@eu-1: abort") && run.stdout.contains("reviews@eu-2: abort"), "{}", run.stdout);
    // Traffic back first in each, then the canaries scaled to 0; wave 2 clears its canary and
    // waits at `steady` for wave 1, which stays aborted until the canary changes or --restart.
    for _ in 0..8 {
        step(&mut driver, true);
    }
    assert_eq!(stages(&driver), ["aborted", "steady", "steady"], "{}", driver.log.join("\n"));
    let eu1 = overlay_at(r, &history(r, &dir("eu-1")).pop().unwrap(), &dir("eu-1"));
    assert!(eu1.share("v1") == 100 && eu1.pods("v2") == 0, "{}", eu1.summary());
    let reasons = git(r, &["log", "--format=%B", "--", &dir("eu-1")]);
    assert!(reasons.contains("the fleet follows `reviews@us-1`, aborted: p99 doubled"), "{reasons}");
    let status = driver.run(&["status"], &[0]).unwrap().stdout;
    assert!(status.contains("bookinfo/reviews: aborted in eu-1"), "{status}");
    check_all(r, &driver);
}

#[test]
fn a_changed_canary_restarts_the_fleet_at_wave_one() {
    let repo = fleet();
    let r = repo.path();
    let mut driver = Driver::new(r);
    to_wave_two(&mut driver);
    let v3 = edited(r, CANARY_V2, CANARY_V3);
    driver.commit_spec(SPEC, &v3, "reviews: canary v3");
    // No wave approval from here on: wave 2 must drain v2 and wait at `steady`.
    for _ in 0..12 {
        step(&mut driver, false);
    }
    let now = stages(&driver);
    assert_eq!(now[1..], ["steady", "steady"], "wave 2 went back to steady: {now:?}\n{}", driver.log.join("\n"));
    assert_eq!(now[0], "0-100", "wave 1 ran v3 to its last stage: {now:?}\n{}", driver.log.join("\n"));
    let eu1 = overlay_at(r, &history(r, &dir("eu-1")).pop().unwrap(), &dir("eu-1"));
    assert_eq!(eu1.canary.as_deref(), Some("v3"), "{}", eu1.summary());
    for cluster in ["eu-2", "us-1"] {
        let last = overlay_at(r, &history(r, &dir(cluster)).pop().unwrap(), &dir(cluster));
        assert!(
            last.share("v1") == 100 && !last.pods.contains_key("v2") && !last.pods.contains_key("v3"),
            "{cluster}: {}",
            last.summary()
        );
    }
    check_all(r, &driver);
}

#[test]
fn a_finish_before_the_last_wave_has_passed_holds_every_instance() {
    let repo = fleet();
    let r = repo.path();
    let mut driver = Driver::new(r);
    to_wave_two(&mut driver);
    let before = stages(&driver);
    let finished = edited(r, STABLE_V1, STABLE_V2).replace(CANARY_V2, "");
    driver.commit_spec(SPEC, &finished, "reviews: v2 is the stable version, too early");
    driver.advance_hours(2);
    let run = driver.run(&["promote"], &[3]).unwrap();
    assert!(run.stderr.contains("the spec finishes the fleet's release"), "{}", run.stderr);
    assert_eq!(stages(&driver), before, "nothing moved: {}", driver.log.join("\n"));
    // On purpose, the finish goes ahead: every instance settles on v2.
    for _ in 0..12 {
        driver.advance_hours(2);
        driver.run(&["promote", "--skip-gates", "--reason", "hotfix"], &[0, 3]).unwrap();
    }
    assert_eq!(stages(&driver), ["steady"; 3], "{}", driver.log.join("\n"));
    check_all(r, &driver);
}

/// The README's block that follows `after`, between its fences.
fn readme_block(after: &str) -> String {
    let readme = std::fs::read_to_string(crate::project().join("README.md")).unwrap();
    let start = readme.find(after).unwrap_or_else(|| panic!("the README says `{after}`"));
    let block = &readme[start..];
    let open = block.find("```\n").unwrap() + 4;
    block[open..open + block[open..].find("```\n").unwrap()].to_string()
}

#[test]
fn the_readme_shows_the_fleets_real_plan_and_status() {
    let plan = crate::kanari_ok(&crate::project(), &["-C", "fixtures/fleet", "plan", "reviews@us-1"]);
    let shown = readme_block("`kanari plan` shows the waves first");
    assert_eq!(
        shown.replace("...\n", ""),
        plan.stdout,
        "the README's fleet plan is stale; paste `kanari -C fixtures/fleet plan reviews@us-1`"
    );
    let repo = fleet();
    let mut driver = Driver::new(repo.path());
    for _ in 0..5 {
        driver.run(&["promote"], &[0, 3]).unwrap();
        driver.advance_minutes(5);
    }
    driver.advance_minutes(5);
    let status = driver.run(&["status"], &[0]).unwrap();
    assert_eq!(
        readme_block("`kanari status` gives a line per instance"),
        status.stdout,
        "the README's fleet status is stale"
    );
}

#[test]
fn one_promote_moves_every_instance_that_can_move_in_one_push() {
    let repo = fleet();
    let r = repo.path();
    let remote = tempfile::tempdir().unwrap();
    let bare = remote.path().join("origin.git");
    git(remote.path(), &["init", "-q", "--bare", "-b", "main", "origin.git"]);
    git(&bare, &["config", "core.logAllRefUpdates", "always"]);
    git(r, &["remote", "add", "origin", bare.to_str().unwrap()]);
    git(r, &["push", "-q", "origin", "main"]);
    let mut driver = Driver::new(r);
    let pushes = || git(&bare, &["reflog", "show", "--format=%H", "main"]).lines().count();
    let before = pushes();
    // The first run commits `steady` for all three instances: three commits, one push.
    let run = driver.run(&["promote", "--push"], &[0]).unwrap();
    assert_eq!(run.stdout.matches("-> origin]").count(), 3, "{}", run.stdout);
    assert_eq!(pushes(), before + 1, "one push for the run's three commits");
    assert_eq!(git(&bare, &["rev-parse", "main"]), git(r, &["rev-parse", "main"]));
}

#[test]
fn diff_next_and_the_comment_group_the_instances_by_wave_and_say_what_holds_wave_two() {
    let repo = fleet();
    let r = repo.path();
    let mut driver = Driver::new(r);
    for _ in 0..3 {
        driver.run(&["promote"], &[0, 3]).unwrap();
        driver.advance_minutes(5);
    }
    let text = driver.run(&["diff", "--next"], &[1]).unwrap().stdout;
    let (w1, w2) = (
        text.find("bookinfo/reviews: wave 1 of 2 (eu-1)\n"),
        text.find("bookinfo/reviews: wave 2 of 2 (eu-2, us-1)\n"),
    );
    let (eu1, eu2, us1) =
        (text.find("bookinfo/reviews@eu-1:"), text.find("bookinfo/reviews@eu-2:"), text.find("bookinfo/reviews@us-1:"));
    assert!(w1 < eu1 && eu1 < w2 && w2 < eu2 && eu2 < us1 && w1.is_some(), "{text}");
    assert!(
        text.contains("bookinfo/reviews@eu-2: steady: held: wave 2 starts once"),
        "wave 2 is held at steady:\n{text}"
    );
    let markdown = driver.run(&["diff", "--next", "--format", "markdown"], &[1]).unwrap().stdout;
    assert!(markdown.contains("**bookinfo/reviews: wave 2 of 2 (eu-2, us-1)**"), "{markdown}");
    assert!(
        markdown.contains("wave 2 starts once every instance of the waves before it has passed its last stage"),
        "{markdown}"
    );
}
