//! The semver fixture (checkout 6.5.0 -> 6.6.0-rc.1, whose subset is `next`; with autoscaling)
//! walked to its end and finished, then given a new canary 6.7.0 and aborted: versions are label
//! values, objects are named by subsets, and every consecutive pair of its committed overlays
//! must make before it breaks.

use super::drive::{Driver, identity};
use super::{Overlay, check_release};
use crate::fixture_repo;

const SPEC: &str = "canaries/checkout.yaml";
const OUTPUT: &str = "overlays/shop/checkout";

const STABLE: &str = "  stable:\n    version: 6.5.0\n    image: registry.example.com/shop/checkout:6.5.0\n";
const CANARY: &str =
    "  canary:\n    version: 6.6.0-rc.1\n    image: registry.example.com/shop/checkout:6.6.0-rc.1\n    subset: next\n";

fn checked(repo: &std::path::Path, driver: &Driver) -> Overlay {
    let mut overlays =
        check_release(repo, OUTPUT, SPEC).unwrap_or_else(|e| panic!("{e}\nlog:\n{}", driver.log.join("\n")));
    overlays.pop().expect("something was committed")
}

#[test]
fn semver_versions_walk_finish_and_abort_making_before_breaking() {
    let repo = fixture_repo("semver");
    let r = repo.path();
    identity(r);
    let mut driver = Driver::new(r);
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r, &driver);
    assert_eq!(last.stage, "100", "{}", last.summary());
    assert_eq!(last.shares.get("next"), Some(&100), "{}", last.summary());
    let files: Vec<&String> = last.files.keys().collect();
    assert!(
        files.iter().any(|f| *f == "deployment-checkout-next.yaml")
            && files.iter().any(|f| *f == "deployment-checkout-6-5-0.yaml"),
        "{files:?}"
    );
    let rule = &last.files["destinationrule-checkout.yaml"];
    assert!(rule.contains("name: next\n      labels:\n        version: 6.6.0-rc.1\n"), "{rule}");

    // The finish: the canary (with its subset) becomes the stable version; 6.5.0 goes.
    let text = std::fs::read_to_string(r.join(SPEC)).unwrap();
    let stable_next = CANARY.replace("  canary:", "  stable:");
    let finished = text.replace(STABLE, &stable_next).replace(CANARY, "");
    assert_ne!(finished, text);
    driver.commit_spec(SPEC, &finished, "checkout: 6.6.0-rc.1 is the stable version");
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r, &driver);
    assert_eq!(last.stage, "steady", "{}", last.summary());
    assert!(!last.defined.contains("6-5-0") && !last.pods.contains_key("6-5-0"), "{}", last.summary());

    // A new canary, 6.7.0 (subset 6-7-0), taken to its weighted stage and aborted.
    let canary = "  canary:\n    version: 6.7.0\n    image: registry.example.com/shop/checkout:6.7.0\n";
    let next = finished.replace(&stable_next, &format!("{stable_next}{canary}"));
    driver.commit_spec(SPEC, &next, "checkout: canary 6.7.0");
    driver.reach(OUTPUT, "25").unwrap_or_else(|e| panic!("{e}"));
    driver.abort_fully().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r, &driver);
    assert!(last.stage == "aborted" && last.pods("6-7-0") == 0 && last.share("next") == 100, "{}", last.summary());
    assert_eq!(last.canary.as_deref(), Some("6-7-0"), "the recorded canary, read through its subset");
}

/// A version label changed while its object name did not (`6.5.0` → `6_5_0`, both `6-5-0`):
/// the new Deployment would take the old one's name with another selector, which Kubernetes
/// refuses, so promote refuses it first and commits nothing.
#[test]
fn a_new_version_that_would_take_the_old_ones_name_is_refused() {
    let repo = fixture_repo("semver");
    let r = repo.path();
    identity(r);
    let mut driver = Driver::new(r);
    let text = std::fs::read_to_string(r.join(SPEC)).unwrap().replace(CANARY, "");
    driver.commit_spec(SPEC, &text, "checkout: no canary");
    driver.run(&["promote"], &[0]).unwrap_or_else(|e| panic!("{e}"));
    let renamed = text.replace("    version: 6.5.0\n", "    version: 6_5_0\n");
    assert_ne!(renamed, text);
    driver.commit_spec(SPEC, &renamed, "checkout: 6_5_0");
    let head = crate::git(r, &["rev-parse", "HEAD"]);
    let refused = driver.run(&["promote"], &[2]).unwrap_or_else(|e| panic!("{e}"));
    assert!(
        refused.stderr.contains("the committed Deployment `checkout-6-5-0` runs version `6.5.0`")
            && refused.stderr.contains("give `6_5_0` a `subset:` of its own"),
        "{}",
        refused.stderr
    );
    assert_eq!(crate::git(r, &["rev-parse", "HEAD"]), head, "nothing is committed");
    // With a subset of its own, the new version replaces the old one, making before breaking.
    let subset = renamed.replace("    version: 6_5_0\n", "    version: 6_5_0\n    subset: v6-5-0-b\n");
    driver.commit_spec(SPEC, &subset, "checkout: 6_5_0 as v6-5-0-b");
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r, &driver);
    assert!(last.pods.contains_key("v6-5-0-b") && !last.pods.contains_key("6-5-0"), "{}", last.summary());
}
