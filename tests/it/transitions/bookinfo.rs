//! The bookinfo release (reviews v1 -> v2: jason, 90-10, 50-50 with an approval, 0-100 with v1
//! at 0 pods) driven to its end and finished, aborted from each of its states, and given a new
//! canary (v3) in each of its states; every consecutive pair of its committed overlays must
//! make before it breaks.

use std::path::Path;

use super::drive::{Driver, identity};
use super::{Overlay, check_release};
use crate::fixture_repo;

const SPEC: &str = "canaries/reviews.yaml";
const OUTPUT: &str = "overlays/reviews";
const STATES: [&str; 5] = ["prepare", "jason", "90-10", "50-50", "0-100"];

const STABLE_V1: &str = "  stable:\n    version: v1\n    image: docker.io/istio/examples-bookinfo-reviews-v1:1.16.2\n";
const STABLE_V2: &str = "  stable:\n    version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n";
const CANARY_V2: &str = "  canary:\n    version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n";
const CANARY_V3: &str = "  canary:\n    version: v3\n    image: docker.io/istio/examples-bookinfo-reviews-v3:1.16.2\n";

/// The spec with `from` replaced by `to`, which must be there once.
fn edited(repo: &Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(repo.join(SPEC)).unwrap();
    assert_eq!(text.matches(from).count(), 1, "the bookinfo spec has changed:\n{text}");
    text.replace(from, to)
}

fn bookinfo() -> tempfile::TempDir {
    let repo = fixture_repo("bookinfo");
    identity(repo.path());
    repo
}

/// The last committed overlay, after the rules were checked on the whole history.
fn checked(repo: &Path) -> Result<Overlay, String> {
    let mut overlays = check_release(repo, OUTPUT, SPEC)?;
    overlays.pop().ok_or_else(|| "nothing was committed".to_string())
}

/// Runs `case` for each state; fails with every state's failure together.
fn each_state(what: &str, case: impl Fn(&str) -> Result<(), String>) {
    let failed: Vec<String> =
        STATES.iter().filter_map(|state| case(state).err().map(|e| format!("== {what} at `{state}`:\n{e}"))).collect();
    assert!(failed.is_empty(), "{} of {} states failed:\n{}", failed.len(), STATES.len(), failed.join("\n\n"));
}

#[test]
fn the_walk_to_the_end_and_the_finish_make_before_break() {
    let repo = bookinfo();
    let r = repo.path();
    let mut driver = Driver::new(r);
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(driver.stage(OUTPUT).as_deref(), Some("0-100"), "{}", driver.log.join("\n"));
    let finished = edited(r, STABLE_V1, STABLE_V2).replace(CANARY_V2, "");
    driver.commit_spec(SPEC, &finished, "reviews: v2 is the stable version");
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r).unwrap_or_else(|e| panic!("{e}\nlog:\n{}", driver.log.join("\n")));
    assert_eq!(last.stage, "steady", "{}", driver.log.join("\n"));
    assert_eq!(last.shares.get("v2"), Some(&100));
    assert!(
        !last.defined.contains("v1") && !last.pods.contains_key("v1"),
        "v1 is gone after the finish: {}",
        last.summary()
    );
}

#[test]
fn an_abort_from_every_state_makes_before_break() {
    each_state("abort", |state| {
        let repo = bookinfo();
        let mut driver = Driver::new(repo.path());
        driver.reach(OUTPUT, state)?;
        driver.abort_fully()?;
        let last = checked(repo.path()).map_err(|e| format!("{e}\nlog:\n{}", driver.log.join("\n")))?;
        let done = last.stage == "aborted" && last.pods("v2") == 0 && last.share("v1") == 100 && !last.routed("v2");
        if !done {
            return Err(format!("the abort did not complete: {}\nlog:\n{}", last.summary(), driver.log.join("\n")));
        }
        Ok(())
    });
}

#[test]
fn a_new_canary_at_every_state_makes_before_break() {
    each_state("v2 -> v3", |state| {
        let repo = bookinfo();
        let mut driver = Driver::new(repo.path());
        driver.reach(OUTPUT, state)?;
        let changed = edited(repo.path(), CANARY_V2, CANARY_V3);
        driver.commit_spec(SPEC, &changed, "reviews: canary v3");
        driver.drive_to_end()?;
        let last = checked(repo.path()).map_err(|e| format!("{e}\nlog:\n{}", driver.log.join("\n")))?;
        if last.stage != "0-100" || last.canary.as_deref() != Some("v3") || last.defined.contains("v2") {
            return Err(format!(
                "v3 did not reach the last stage alone: {}\nlog:\n{}",
                last.summary(),
                driver.log.join("\n")
            ));
        }
        Ok(())
    });
}

/// A new image under the same version (v2 1.16.2 -> 1.16.3 at 90-10): lint warns at the image's
/// line, the next promote re-rolls v2's pods in place with no traffic moved, and the promote
/// after it moves the traffic.
#[test]
fn a_new_image_under_the_same_version_rolls_in_place_before_traffic_moves() {
    let repo = bookinfo();
    let r = repo.path();
    let mut driver = Driver::new(r);
    driver.reach(OUTPUT, "90-10").unwrap_or_else(|e| panic!("{e}"));
    let text = edited(r, "reviews-v2:1.16.2", "reviews-v2:1.16.3");
    driver.commit_spec(SPEC, &text, "reviews: v2 1.16.3");
    let lint = driver.run(&["lint"], &[0]).unwrap();
    assert!(
        lint.stderr.contains("canaries/reviews.yaml:18:12: the image of `v2` changed")
            && lint.stderr.contains("replaces the pods of `v2` in place at the current stage"),
        "{}",
        lint.stderr
    );
    driver.advance_hours(2);
    driver.run(&["promote"], &[0]).unwrap();
    let subject = crate::git(r, &["log", "-1", "--format=%s"]);
    assert_eq!(subject.trim(), "reviews: promote 90-10: re-roll v2 in place");
    let last = checked(r).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((last.stage.as_str(), last.shares.get("v2")), ("90-10", Some(&10)), "{}", last.summary());
    // Right away the new pods warm up; a minute later the traffic moves onto them.
    let held = driver.run(&["promote"], &[3]).unwrap();
    assert!(held.stderr.contains("the pods of v2 came up in this state"), "{}", held.stderr);
    driver.advance_hours(1);
    driver.run(&["promote"], &[0]).unwrap();
    assert_eq!(checked(r).unwrap_or_else(|e| panic!("{e}")).stage, "50-50");
    let lint = driver.run(&["lint"], &[0]).unwrap();
    assert!(!lint.stderr.contains("the image of"), "{}", lint.stderr);
}
