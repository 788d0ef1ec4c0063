//! The bundled fixtures, every state: snapshots of the manifests, `kubectl kustomize` builds of
//! every overlay, determinism, and the committed `overlays/` kept current.

use std::path::Path;

use serde_json::Value;

use crate::Pods::{self, Replicas};
use crate::{backend_weights, documents, kanari_ok, kustomize, one, pods, project, replicas, tree, weights};

const FIXTURES: [&str; 8] =
    ["bookinfo", "helloworld", "gateway-api", "semver", "own-manifests", "mirror", "search", "payments"];

/// The catch-all weights of an overlay's routes: its VirtualService's by subset, or its
/// HTTPRoute's by backend Service.
fn catch_all(docs: &[Value]) -> Vec<(String, u64)> {
    match docs.iter().find(|d| d["kind"] == "HTTPRoute") {
        Some(route) => backend_weights(route),
        None => weights(one(docs, "VirtualService")),
    }
}

/// Renders every state of the fixture's one release into a temporary folder.
fn all_stages(fixture: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let repo = project().join("fixtures").join(fixture);
    let out_dir = out.path().join("stages");
    kanari_ok(
        &project(),
        &["-C", repo.to_str().unwrap(), "render", "--all-stages", "--out", out_dir.to_str().unwrap()],
    );
    out
}

fn states(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn every_state_of_every_fixture_matches_its_snapshot_and_builds() {
    for fixture in FIXTURES {
        let out = all_stages(fixture);
        let dir = out.path().join("stages");
        let names = states(&dir);
        // payments is steady: a canary on its application's own TLS is refused (tests/it/init.rs
        // walks it served as HTTP behind the sidecar).
        let least = if fixture == "payments" { 1 } else { 5 };
        assert!(names.len() >= least, "{fixture}: {names:?}");
        for state in names {
            let overlay = dir.join(&state);
            // kanari's own bytes are the snapshot; kustomize's output varies with its version.
            let files: String = states(&overlay)
                .iter()
                .map(|f| format!("# ==> {f} <==\n{}", std::fs::read_to_string(overlay.join(f)).unwrap()))
                .collect();
            insta::assert_snapshot!(format!("{fixture}-{state}"), files);
            let built = kustomize(&overlay);
            let docs = documents(&built);
            let total: u64 = catch_all(&docs).iter().map(|(_, w)| w).sum();
            assert_eq!(total, 100, "{fixture} {state}: weights must sum to 100");
            let kustomization = std::fs::read_to_string(overlay.join("kustomization.yaml")).unwrap();
            assert!(
                kustomization.contains(&format!("kanari.dev/stage: {}", crate::quoted_if_numeric(&state))),
                "{kustomization}"
            );
        }
    }
}

#[test]
fn rendering_twice_gives_the_same_bytes() {
    for fixture in FIXTURES {
        let a = all_stages(fixture);
        let b = all_stages(fixture);
        assert_eq!(tree(a.path()), tree(b.path()), "{fixture}");
    }
}

#[test]
fn the_stable_pod_template_is_the_same_in_every_state() {
    for fixture in FIXTURES {
        let out = all_stages(fixture);
        let dir = out.path().join("stages");
        // The stable version's Deployment is the one `steady` runs alone.
        let steady = documents(&kustomize(&dir.join("steady")));
        let deployments: Vec<&serde_json::Value> = steady.iter().filter(|d| d["kind"] == "Deployment").collect();
        assert_eq!(deployments.len(), 1, "{fixture}: steady runs one Deployment");
        let stable_name = deployments[0]["metadata"]["name"].as_str().unwrap().to_string();
        let mut templates = Vec::new();
        for state in states(&dir) {
            let docs = documents(&kustomize(&dir.join(&state)));
            let stable = docs
                .iter()
                .find(|d| d["kind"] == "Deployment" && d["metadata"]["name"] == stable_name.as_str())
                .unwrap_or_else(|| panic!("{fixture} {state}: no stable Deployment"));
            templates.push((state, serde_json::to_string(&stable["spec"]["template"]).unwrap()));
        }
        for (state, t) in &templates {
            assert_eq!(t, &templates[0].1, "{fixture}: the stable pod template changed in {state}");
        }
        // And in the files themselves, byte for byte: the template block is the file's tail.
        let tails: Vec<String> = states(&dir)
            .iter()
            .map(|s| {
                let text = std::fs::read_to_string(dir.join(s).join(format!("deployment-{stable_name}.yaml"))).unwrap();
                text[text.find("  template:").unwrap()..].to_string()
            })
            .collect();
        assert!(tails.windows(2).all(|w| w[0] == w[1]), "{fixture}: stable template bytes differ");
    }
}

#[test]
fn the_bookinfo_stages_route_and_scale_as_the_guides_do() {
    let out = all_stages("bookinfo");
    let dir = out.path().join("stages");
    let build = |state: &str| documents(&kustomize(&dir.join(state)));
    // Each stage already runs the pods the next one needs (90-10 runs the 5 of 50-50), so the
    // next promote moves traffic onto running pods.
    struct Row {
        state: &'static str,
        weights: &'static [(&'static str, u64)],
        v1: Pods,
        v2: Pods,
    }
    let table = [
        Row { state: "steady", weights: &[("v1", 100)], v1: Replicas(10), v2: Pods::None },
        Row { state: "prepare", weights: &[("v1", 100)], v1: Replicas(10), v2: Replicas(1) },
        Row { state: "jason", weights: &[("v1", 100), ("v2", 0)], v1: Replicas(10), v2: Replicas(1) },
        Row { state: "90-10", weights: &[("v1", 90), ("v2", 10)], v1: Replicas(10), v2: Replicas(5) },
        Row { state: "50-50", weights: &[("v1", 50), ("v2", 50)], v1: Replicas(10), v2: Replicas(10) },
        Row { state: "0-100", weights: &[("v1", 0), ("v2", 100)], v1: Replicas(0), v2: Replicas(10) },
        Row { state: "aborted", weights: &[("v1", 100)], v1: Replicas(10), v2: Replicas(0) },
    ];
    for Row { state, weights: expected, v1, v2 } in table {
        let docs = build(state);
        let got = weights(one(&docs, "VirtualService"));
        let expected: Vec<(String, u64)> = expected.iter().map(|(s, w)| (s.to_string(), *w)).collect();
        assert_eq!(got, expected, "{state}");
        assert_eq!(pods(&docs, "reviews-v1"), v1, "{state} v1");
        assert_eq!(pods(&docs, "reviews-v2"), v2, "{state} v2");
    }
    let jason = build("jason");
    let http = one(&jason, "VirtualService")["spec"]["http"].as_array().unwrap().clone();
    assert_eq!(http[0]["match"][0]["headers"]["end-user"]["exact"], "jason");
    assert_eq!(http[0]["route"][0]["destination"]["subset"], "v2");
}

#[test]
fn the_gateway_api_stages_route_through_one_service_per_version() {
    let out = all_stages("gateway-api");
    let dir = out.path().join("stages");
    let build = |state: &str| documents(&kustomize(&dir.join(state)));
    // (state, catch-all weights by backend Service, the match rule's backend, the version Services)
    type Row<'a> = (&'a str, &'a [(&'a str, u64)], Option<&'a str>, &'a [&'a str]);
    let both: &[&str] = &["reviews-v1", "reviews-v2"];
    let table: [Row; 9] = [
        ("steady", &[("reviews-v1", 100)], None, &["reviews-v1"]),
        ("prepare", &[("reviews-v1", 100)], None, both),
        ("jason", &[("reviews-v1", 100), ("reviews-v2", 0)], Some("reviews-v2"), both),
        ("beta", &[("reviews-v1", 100), ("reviews-v2", 0)], Some("reviews-v2"), both),
        ("shadow", &[("reviews-v1", 100), ("reviews-v2", 0)], None, both),
        ("90-10", &[("reviews-v1", 90), ("reviews-v2", 10)], None, both),
        ("50-50", &[("reviews-v1", 50), ("reviews-v2", 50)], None, both),
        ("0-100", &[("reviews-v1", 0), ("reviews-v2", 100)], None, both),
        ("aborted", &[("reviews-v1", 100)], None, both),
    ];
    for (state, expected, matched, services) in table {
        let docs = build(state);
        assert!(docs.iter().all(|d| d["kind"] != "VirtualService" && d["kind"] != "DestinationRule"), "{state}");
        let route = one(&docs, "HTTPRoute");
        let expected: Vec<(String, u64)> = expected.iter().map(|(s, w)| (s.to_string(), *w)).collect();
        assert_eq!(backend_weights(route), expected, "{state}");
        let rules = route["spec"]["rules"].as_array().unwrap();
        assert_eq!(rules[0]["backendRefs"][0]["name"].as_str().filter(|_| rules.len() == 2), matched, "{state}");
        let mut found: Vec<&str> = docs
            .iter()
            .filter(|d| d["kind"] == "Service" && d["spec"]["selector"].get("version").is_some())
            .map(|d| d["metadata"]["name"].as_str().unwrap())
            .collect();
        found.sort();
        assert_eq!(found, services, "{state}");
        assert!(docs.iter().any(|d| d["kind"] == "Service" && d["metadata"]["name"] == "reviews"), "{state}");
        let parents = route["spec"]["parentRefs"].as_array().unwrap();
        assert_eq!(parents[0]["kind"], "Gateway");
        assert_eq!(
            (parents[0]["namespace"].as_str(), parents[0]["name"].as_str()),
            (Some("istio-ingress"), Some("public-gateway"))
        );
        assert_eq!(
            (parents[1]["kind"].as_str(), parents[1]["group"].as_str(), parents[1]["port"].as_u64()),
            (Some("Service"), Some(""), Some(9080))
        );
        assert_eq!(route["spec"]["hostnames"][0], "reviews.bookinfo.example.com");
    }
    let beta = build("beta");
    let matches = &one(&beta, "HTTPRoute")["spec"]["rules"][0]["matches"];
    let cookie = matches[0]["headers"][0].clone();
    assert_eq!((cookie["name"].as_str(), cookie["type"].as_str()), (Some("cookie"), Some("RegularExpression")));
    let regex = regex::Regex::new(cookie["value"].as_str().unwrap()).unwrap();
    assert!(regex.is_match("a=1; beta=on") && !regex.is_match("beta=off"));
    assert_eq!(matches[1]["headers"][0]["value"], "^qa\\-.*");
    assert_eq!(matches[1]["path"]["type"], "PathPrefix");
    // The mirror stage: v1 answers every request, a fifth of them copied to v2's Service.
    let shadow = build("shadow");
    let rules = one(&shadow, "HTTPRoute")["spec"]["rules"].as_array().unwrap().clone();
    let filter = &rules[rules.len() - 1]["filters"][0];
    assert_eq!(filter["type"], "RequestMirror");
    assert_eq!(filter["requestMirror"]["backendRef"]["name"], "reviews-v2");
    assert_eq!(filter["requestMirror"]["percent"], 20);
    for state in ["beta", "90-10", "aborted"] {
        assert!(
            one(&build(state), "HTTPRoute")["spec"]["rules"]
                .as_array()
                .unwrap()
                .iter()
                .all(|r| r.get("filters").is_none())
        );
    }
}

#[test]
fn the_mirror_fixture_copies_a_fifth_of_the_requests_to_v2_before_traffic_moves() {
    let out = all_stages("mirror");
    let dir = out.path().join("stages");
    let build = |state: &str| documents(&kustomize(&dir.join(state)));
    let shadow = build("shadow");
    let vs = one(&shadow, "VirtualService");
    assert_eq!(weights(vs), [("v1".to_string(), 100), ("v2".to_string(), 0)]);
    let primary = &vs["spec"]["http"][0];
    assert_eq!(primary["mirror"], serde_json::json!({"host": "httpbin", "subset": "v2"}));
    assert_eq!(primary["mirrorPercentage"]["value"], 20);
    // The copies are real load: ceil(10 × 20%) = 2 pods, already in `prepare`.
    assert_eq!(replicas(&shadow)["httpbin-v2"], Some(2));
    assert_eq!(replicas(&build("prepare"))["httpbin-v2"], Some(2));
    for state in ["prepare", "90-10", "aborted", "steady"] {
        let docs = build(state);
        assert!(one(&docs, "VirtualService")["spec"]["http"][0].get("mirror").is_none(), "{state}");
    }
    // First a fifth of the reads alone: a rule of their own copies them, the catch-all nothing.
    let reads = build("shadow-reads");
    let http = one(&reads, "VirtualService")["spec"]["http"].as_array().unwrap().clone();
    assert_eq!(http.len(), 2, "{http:#?}");
    assert_eq!(http[0]["name"], "canary-mirror");
    assert_eq!(
        http[0]["match"],
        serde_json::json!([{ "method": { "exact": "GET" } }, { "method": { "exact": "HEAD" } }])
    );
    assert_eq!(http[0]["mirror"], serde_json::json!({"host": "httpbin", "subset": "v2"}));
    assert_eq!(http[0]["mirrorPercentage"]["value"], 20);
    assert_eq!(http[0]["route"], http[1]["route"], "matched requests are served as the rest");
    assert!(http[1].get("mirror").is_none(), "writes are not copied");
    let plan = kanari_ok(&project(), &["-C", "fixtures/mirror", "plan"]);
    assert!(plan.stdout.contains("mirror 20% of method=GET or method=HEAD -> v2"), "{}", plan.stdout);
}

#[test]
fn the_committed_overlays_folder_is_current() {
    let out = all_stages("bookinfo");
    let fresh = tree(&out.path().join("stages"));
    let committed = tree(&project().join("overlays"));
    assert!(
        fresh == committed,
        "overlays/ is stale; regenerate it with:\n  rm -rf overlays && cargo run -- -C fixtures/bookinfo render --all-stages --out overlays"
    );
}

#[test]
fn the_acceptance_example_splits_reviews_50_50() {
    let run = kanari_ok(&project(), &["-C", "fixtures/bookinfo", "render", "--stage", "50-50", "--stdout"]);
    let docs = documents(&run.stdout);
    let vs = one(&docs, "VirtualService");
    assert_eq!(weights(vs), [("v1".to_string(), 50), ("v2".to_string(), 50)]);
    assert!(
        vs["spec"]["http"].as_array().unwrap().iter().all(|r| r["route"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["destination"]["host"] == "reviews"))
    );
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("reviews");
    kanari_ok(&project(), &["-C", "fixtures/bookinfo", "render", "--stage", "50-50", "--out", dir.to_str().unwrap()]);
    let built = documents(&kustomize(&dir));
    assert_eq!(weights(one(&built, "VirtualService")), weights(vs));
}
