//! The `own-manifests` release (the team's own VirtualService, DestinationRule and Deployment;
//! reviews v1 -> v2 over jason, quarter, half with an approval, all with v1 at 0 pods) driven
//! to its end and finished, and aborted from `half`: every consecutive pair of its committed
//! overlays must make before it breaks, with the VirtualService's routes to other Services
//! read back beside the release's, and those routes as the team wrote them in every commit.

use std::path::Path;

use serde_json::Value;

use super::check_release;
use super::drive::{Driver, identity};
use crate::{documents, fixture_repo};

const SPEC: &str = "canaries/reviews.yaml";
const OUTPUT: &str = "overlays/bookinfo/reviews";

fn release() -> tempfile::TempDir {
    let repo = fixture_repo("own-manifests");
    identity(repo.path());
    repo
}

/// The team's HTTP routes other than `reviews`, as its file has them.
fn other_routes(repo: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(repo.join("manifests/virtualservice.yaml")).unwrap();
    let vs = documents(&text).remove(0);
    vs["spec"]["http"].as_array().unwrap().iter().filter(|r| r["name"] != "reviews").cloned().collect()
}

/// Checks the whole history, and that every committed VirtualService keeps the team's other
/// routes and the named route's retries, timeout and fault.
fn checked(repo: &Path) -> Result<super::Overlay, String> {
    let mut overlays = check_release(repo, OUTPUT, SPEC)?;
    let theirs = other_routes(repo);
    for x in &overlays {
        let vs = documents(&x.files["virtualservice-reviews.yaml"]).remove(0);
        let http = vs["spec"]["http"].as_array().unwrap();
        let kept: Vec<&Value> = http.iter().filter(|r| theirs.iter().any(|t| t["name"] == r["name"])).collect();
        if kept.len() != theirs.len() || kept.iter().zip(&theirs).any(|(k, t)| *k != t) {
            return Err(format!("{}: the team's other routes changed:\n{http:#?}", x.summary()));
        }
        let named = http.iter().find(|r| r["name"] == "reviews").ok_or("no route `reviews`")?;
        if named["retries"]["attempts"] != 3
            || named["timeout"] != "10s"
            || named["fault"]["abort"]["httpStatus"] != 503
        {
            return Err(format!("{}: the route `reviews` lost its own settings: {named}", x.summary()));
        }
    }
    overlays.pop().ok_or_else(|| "nothing was committed".to_string())
}

#[test]
fn the_walk_to_the_end_and_the_finish_make_before_break_with_the_teams_manifests() {
    let repo = release();
    let r = repo.path();
    let mut driver = Driver::new(r);
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(driver.stage(OUTPUT).as_deref(), Some("all"), "{}", driver.log.join("\n"));
    let spec = std::fs::read_to_string(r.join(SPEC)).unwrap();
    let finished = spec
        .replace(
            "version: v1\n    image: docker.io/istio/examples-bookinfo-reviews-v1",
            "version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2",
        )
        .replace("  canary:\n    version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n", "");
    assert_ne!(finished, spec, "the fixture's spec has changed");
    driver.commit_spec(SPEC, &finished, "reviews: v2 is the stable version");
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r).unwrap_or_else(|e| panic!("{e}\nlog:\n{}", driver.log.join("\n")));
    assert_eq!(last.stage, "steady", "{}", driver.log.join("\n"));
    assert_eq!(last.shares.get("v2"), Some(&100), "{}", last.summary());
    assert!(!last.defined.contains("v1") && !last.pods.contains_key("v1"), "{}", last.summary());
}

#[test]
fn an_abort_from_half_makes_before_break_with_the_teams_manifests() {
    let repo = release();
    let mut driver = Driver::new(repo.path());
    driver.reach(OUTPUT, "half").unwrap_or_else(|e| panic!("{e}"));
    driver.abort_fully().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(repo.path()).unwrap_or_else(|e| panic!("{e}\nlog:\n{}", driver.log.join("\n")));
    assert_eq!(last.stage, "aborted", "{}", last.summary());
    assert_eq!((last.pods("v2"), last.share("v1")), (0, 100), "{}", last.summary());
}
