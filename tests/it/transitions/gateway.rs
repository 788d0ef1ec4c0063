//! The `gateway-api` fixture (reviews v1 -> v2 through an HTTPRoute over one Service per
//! version: jason, a cookie stage, 90-10, 50-50 with an approval, 0-100 with v1 at 0) driven to
//! its end and finished, aborted from a matched and a weighted stage, and given a new canary
//! (v3) mid-release; every consecutive pair of its committed overlays must make before it breaks,
//! with "defined" read from the version Services and "routed" from the backendRefs.

use std::collections::BTreeMap;

use super::drive::{Driver, identity};
use super::{Overlay, check_overlay, check_pair, check_release};
use crate::fixture_repo;

const SPEC: &str = "canaries/reviews.yaml";
const OUTPUT: &str = "overlays/bookinfo/reviews";
const STATES: [&str; 7] = ["prepare", "jason", "beta", "shadow", "90-10", "50-50", "0-100"];
const CANARY_V2: &str = "    version: v2\n    image: docker.io/istio/examples-bookinfo-reviews-v2:1.16.2\n";
const CANARY_V3: &str = "    version: v3\n    image: docker.io/istio/examples-bookinfo-reviews-v3:1.16.2\n";

fn repo() -> tempfile::TempDir {
    let repo = fixture_repo("gateway-api");
    identity(repo.path());
    repo
}

fn edited(repo: &std::path::Path, from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(repo.join(SPEC)).unwrap();
    assert_eq!(text.matches(from).count(), 1, "the gateway-api spec has changed:\n{text}");
    text.replace(from, to)
}

fn checked(repo: &std::path::Path, driver: &Driver) -> Result<Overlay, String> {
    let mut overlays =
        check_release(repo, OUTPUT, SPEC).map_err(|e| format!("{e}\nlog:\n{}", driver.log.join("\n")))?;
    let last = overlays.pop().ok_or("nothing was committed")?;
    if overlays.iter().chain([&last]).any(|x| !x.files.keys().any(|f| f.starts_with("httproute-"))) {
        return Err("an overlay without its HTTPRoute".into());
    }
    Ok(last)
}

#[test]
fn the_walk_through_every_state_and_the_finish_make_before_break() {
    let repo = repo();
    let r = repo.path();
    let mut driver = Driver::new(r);
    for state in STATES {
        driver.reach(OUTPUT, state).unwrap_or_else(|e| panic!("{e}"));
    }
    let text = std::fs::read_to_string(r.join(SPEC)).unwrap();
    let finished = text.replacen(
        "    version: v1\n    image: docker.io/istio/examples-bookinfo-reviews-v1:1.16.2\n",
        CANARY_V2,
        1,
    );
    let finished = finished.replacen(&format!("  canary:\n{CANARY_V2}"), "", 1);
    driver.commit_spec(SPEC, &finished, "reviews: v2 is the stable version");
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r, &driver).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(last.stage, "steady", "{}", driver.log.join("\n"));
    assert_eq!(last.share("v2"), 100, "{}", last.summary());
    assert!(!last.defined.contains("v1") && !last.files.contains_key("service-reviews-v1.yaml"), "{}", last.summary());
}

#[test]
fn an_abort_and_a_new_canary_make_before_break() {
    for state in ["beta", "50-50"] {
        let repo = repo();
        let mut driver = Driver::new(repo.path());
        driver.reach(OUTPUT, state).unwrap_or_else(|e| panic!("{e}"));
        driver.abort_fully().unwrap_or_else(|e| panic!("{e}"));
        let last = checked(repo.path(), &driver).unwrap_or_else(|e| panic!("abort at {state}: {e}"));
        assert!(last.stage == "aborted" && last.pods("v2") == 0 && last.share("v1") == 100, "{}", last.summary());
    }
    let repo = repo();
    let r = repo.path();
    let mut driver = Driver::new(r);
    driver.reach(OUTPUT, "50-50").unwrap_or_else(|e| panic!("{e}"));
    driver.commit_spec(SPEC, &edited(r, CANARY_V2, CANARY_V3), "reviews: canary v3");
    driver.drive_to_end().unwrap_or_else(|e| panic!("{e}"));
    let last = checked(r, &driver).unwrap_or_else(|e| panic!("v2 -> v3: {e}"));
    assert_eq!((last.stage.as_str(), last.canary.as_deref()), ("0-100", Some("v3")), "{}", last.summary());
    assert!(!last.defined.contains("v2") && !last.files.contains_key("service-reviews-v2.yaml"), "{}", last.summary());
}

/// A hand-written HTTPRoute overlay: the version Services it defines, the catch-all backends
/// with their weights, a matched backend.
fn hand(stage: &str, services: &[&str], backends: &[(&str, u64)], matched: Option<&str>) -> Overlay {
    let mut files = BTreeMap::new();
    files.insert(
        "kustomization.yaml".to_string(),
        format!("kind: Kustomization\nmetadata:\n  annotations:\n    kanari.dev/canary: v2\n    kanari.dev/stage: \"{stage}\"\n"),
    );
    for v in services {
        files.insert(
            format!("service-web-{v}.yaml"),
            format!("apiVersion: v1\nkind: Service\nmetadata:\n  name: web-{v}\nspec:\n  selector:\n    app: web\n    version: {v}\n"),
        );
        files.insert(
            format!("deployment-web-{v}.yaml"),
            format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{v}\n  labels:\n    version: {v}\nspec:\n  replicas: 10\n"),
        );
    }
    let mut rules = String::new();
    if let Some(m) = matched {
        rules += &format!(
            "    - matches: [{{headers: [{{name: end-user, value: j}}]}}]\n      backendRefs: [{{name: web-{m}, port: 80}}]\n"
        );
    }
    rules += "    - backendRefs:\n";
    for (v, w) in backends {
        rules += &format!("        - {{name: web-{v}, port: 80, weight: {w}}}\n");
    }
    files.insert(
        "httproute-web.yaml".to_string(),
        format!("apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\nmetadata:\n  name: web\nspec:\n  rules:\n{rules}"),
    );
    Overlay::parse("c", stage, files).unwrap()
}

#[test]
fn the_checker_reads_an_http_route_and_fails_a_backend_without_its_service() {
    let spec = serde_json::json!({ "spec": { "replicas": 10, "stages": [] } });
    let half = hand("50-50", &["v1", "v2"], &[("v1", 50), ("v2", 50)], None);
    assert_eq!((half.share("v1"), half.share("v2")), (50, 50));
    assert!(check_overlay(&half).is_ok());
    // Proportional weights: 1 and 3 are 25% and 75%.
    let quarter = hand("x", &["v1", "v2"], &[("v1", 1), ("v2", 3)], None);
    assert_eq!((quarter.share("v1"), quarter.share("v2")), (25, 75));
    // A match sends to `web-v2` while that Service is missing: the overlay itself fails (the
    // backend, which no Service names a version for, stands for itself), and rule 1 fails from
    // an overlay without the Service.
    let jason = hand("jason", &["v1", "v2"], &[("v1", 100), ("v2", 0)], Some("v2"));
    assert!(jason.routed("v2") && jason.matched.contains("v2"));
    let orphan = hand("jason", &["v1"], &[("v1", 100)], Some("v2"));
    assert!(check_overlay(&orphan).unwrap_err().contains("[\"web-v2\"]"));
    let steady = hand("steady", &["v1"], &[("v1", 100)], None);
    let e = check_pair(&steady, &jason, &spec, &spec).unwrap_err();
    assert!(e.contains("rule 1 "), "{e}");
    // And rule 2: v2's Service goes while its match still routes to it.
    let e = check_pair(&jason, &steady, &spec, &spec).unwrap_err();
    assert!(e.contains("rule 2 "), "{e}");
}
