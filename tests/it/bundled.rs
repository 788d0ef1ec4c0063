//! The bundled fixtures, every state: snapshots of the manifests, `kubectl kustomize` builds of
//! every overlay, determinism, and the committed `overlays/` kept current.

use std::path::Path;

use crate::{documents, kanari_ok, kustomize, one, project, replicas, tree, weights};

const FIXTURES: [&str; 3] = ["bookinfo", "helloworld", "mirror"];

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
        assert!(names.len() >= 5, "{fixture}: {names:?}");
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
            let vs = one(&docs, "VirtualService");
            let total: u64 = weights(vs).iter().map(|(_, w)| w).sum();
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
        let mut templates = Vec::new();
        for state in states(&dir) {
            let docs = documents(&kustomize(&dir.join(&state)));
            let stable = docs
                .iter()
                .find(|d| d["kind"] == "Deployment" && d["metadata"]["labels"]["version"] == "v1")
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
                let text = std::fs::read_to_string(
                    dir.join(s).join(format!("deployment-{fixture_name}-v1.yaml", fixture_name = release_of(fixture))),
                )
                .unwrap();
                text[text.find("  template:").unwrap()..].to_string()
            })
            .collect();
        assert!(tails.windows(2).all(|w| w[0] == w[1]), "{fixture}: stable template bytes differ");
    }
}

fn release_of(fixture: &str) -> &'static str {
    match fixture {
        "bookinfo" => "reviews",
        "mirror" => "httpbin",
        _ => "helloworld",
    }
}

#[test]
fn the_bookinfo_stages_route_and_scale_as_the_guides_do() {
    let out = all_stages("bookinfo");
    let dir = out.path().join("stages");
    let build = |state: &str| documents(&kustomize(&dir.join(state)));
    // (state, weights, v1 replicas, v2 replicas). Each stage already runs the pods the next one
    // needs (90-10 runs the 5 of 50-50), so the next promote moves traffic onto running pods.
    type Row<'a> = (&'a str, &'a [(&'a str, u64)], Option<u64>, Option<Option<u64>>);
    let table: [Row; 7] = [
        ("steady", &[("v1", 100)], Some(10), None),
        ("prepare", &[("v1", 100)], Some(10), Some(Some(1))),
        ("jason", &[("v1", 100), ("v2", 0)], Some(10), Some(Some(1))),
        ("90-10", &[("v1", 90), ("v2", 10)], Some(10), Some(Some(5))),
        ("50-50", &[("v1", 50), ("v2", 50)], Some(10), Some(Some(10))),
        ("0-100", &[("v1", 0), ("v2", 100)], Some(0), Some(Some(10))),
        ("aborted", &[("v1", 100)], Some(10), Some(Some(0))),
    ];
    for (state, expected, v1, v2) in table {
        let docs = build(state);
        let got = weights(one(&docs, "VirtualService"));
        let expected: Vec<(String, u64)> = expected.iter().map(|(s, w)| (s.to_string(), *w)).collect();
        assert_eq!(got, expected, "{state}");
        let r = replicas(&docs);
        assert_eq!(r["reviews-v1"], v1, "{state} v1");
        assert_eq!(r.get("reviews-v2").copied(), v2, "{state} v2");
    }
    let jason = build("jason");
    let http = one(&jason, "VirtualService")["spec"]["http"].as_array().unwrap().clone();
    assert_eq!(http[0]["match"][0]["headers"]["end-user"]["exact"], "jason");
    assert_eq!(http[0]["route"][0]["destination"]["subset"], "v2");
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
