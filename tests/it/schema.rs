//! Schema check: every manifest kanari renders for every state of the fixtures (`bookinfo`,
//! `helloworld`, `gateway-api`, `semver`, `own-manifests`, `mirror`, `search` and `payments`, via `render --all-stages --out`) validated against the upstream schemas, by
//! `node tests/schema/validate.mjs` with the npm packages pinned in `tests/schema/package-lock.json`:
//!
//! - `kubernetes-models` 5.1.0: Kubernetes' own OpenAPI schemas (Service, `apps/v1` Deployment,
//!   `autoscaling/v2` HorizontalPodAutoscaler);
//! - `@kubernetes-models/istio` 3.0.1: generated from Istio 1.29's CRDs, which define
//!   `networking.istio.io/v1` (the version kanari emits), so DestinationRules and VirtualServices
//!   are checked against the v1 schema itself, not v1beta1;
//! - `@kubernetes-models/gateway-api`: the Gateway API's CRDs, for the `gateway.networking.k8s.io/v1`
//!   HTTPRoute of the `gateway-api` fixture (`router: gateway-api`).
//!
//! The validator reads YAML as Kubernetes does (1.1 rules: a plain `yes` is a boolean), fails a
//! document whose `apiVersion`/`kind` has no upstream schema, and skips `kustomization.yaml`,
//! which is not a Kubernetes object. The schemas check types, required fields and enums; they do
//! not reject unknown fields (the models accept them), and Istio's semantic rules (weights, subsets)
//! are kanari's own check, tested elsewhere.
//!
//! `.ci/run` installs the packages (`npm ci --prefix tests/schema`); without them these tests fail
//! and say how to install them.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{fixture, kanari_ok, project};

/// Validates `files` with the upstream schemas: the validator's report (one `ok`/`skip` line per
/// document) on success, its errors on failure.
pub fn validate(files: &[PathBuf]) -> Result<String, String> {
    let dir = project().join("tests/schema");
    let node = crate::tools::node_with(
        "tests/schema",
        &["kubernetes-models", "@kubernetes-models/istio", "@kubernetes-models/gateway-api"],
    );
    let out = Command::new(node).arg(dir.join("validate.mjs")).args(files).output().expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => Ok(stdout),
        Some(1) => Err(format!("manifests fail the upstream schemas:\n{stderr}")),
        _ => panic!("the schema validator did not run ({}):\n{stdout}\n{stderr}", out.status),
    }
}

/// Every file below `dir`, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .sort_by_file_name()
        .into_iter()
        .map(|e| e.unwrap())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Every state of a fixture's release, rendered by the binary into `out/<state>/`.
fn render_all_states(name: &str, out: &Path) -> Vec<PathBuf> {
    let repo = fixture(name);
    let root = repo.path().to_str().unwrap();
    kanari_ok(repo.path(), &["-C", root, "render", "--all-stages", "--out", out.to_str().unwrap()]);
    let mut states: Vec<PathBuf> = std::fs::read_dir(out).unwrap().map(|e| e.unwrap().path()).collect();
    states.sort();
    states
}

#[test]
fn every_state_of_every_fixture_passes_the_upstream_schemas() {
    // (fixture, its states, the kinds its overlays hold between them)
    let fixtures: [(&str, &[&str], &[&str]); 8] = [
        (
            "payments",
            &["steady"],
            &["Deployment", "DestinationRule", "HorizontalPodAutoscaler", "Service", "VirtualService"],
        ),
        (
            "semver",
            &["100", "25", "aborted", "beta-testers", "prepare", "steady"],
            &["Deployment", "DestinationRule", "HorizontalPodAutoscaler", "Service", "VirtualService"],
        ),
        (
            "bookinfo",
            &["0-100", "50-50", "90-10", "aborted", "jason", "prepare", "steady"],
            &["Deployment", "DestinationRule", "Service", "VirtualService"],
        ),
        (
            "helloworld",
            &["10", "100", "50", "aborted", "prepare", "steady"],
            &["Deployment", "DestinationRule", "HorizontalPodAutoscaler", "Service", "VirtualService"],
        ),
        (
            "gateway-api",
            &["0-100", "50-50", "90-10", "aborted", "beta", "jason", "prepare", "shadow", "steady"],
            &["Deployment", "HTTPRoute", "Service"],
        ),
        (
            "own-manifests",
            &["aborted", "all", "half", "jason", "prepare", "quarter", "steady"],
            &["Deployment", "DestinationRule", "Service", "VirtualService"],
        ),
        (
            "mirror",
            &["0-100", "50-50", "90-10", "aborted", "prepare", "shadow", "shadow-reads", "steady"],
            &["Deployment", "DestinationRule", "Service", "VirtualService"],
        ),
        (
            "search",
            &["100", "25", "5", "50", "aborted", "internal", "prepare", "shadow", "steady"],
            &["Deployment", "HTTPRoute", "Service"],
        ),
    ];
    for (name, expected_states, expected_kinds) in fixtures {
        let out = tempfile::tempdir().unwrap();
        let states = render_all_states(name, &out.path().join("states"));
        let state_names: Vec<String> =
            states.iter().map(|s| s.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(state_names, expected_states, "{name}: the states rendered");

        let all = files_below(&out.path().join("states"));
        let manifests: Vec<PathBuf> = all.iter().filter(|f| !f.ends_with("kustomization.yaml")).cloned().collect();
        assert_eq!(all.len() - manifests.len(), states.len(), "{name}: one kustomization.yaml per state");
        let report = validate(&manifests).unwrap_or_else(|e| panic!("{name}: {e}"));

        // Every manifest was validated (one document each), none skipped, and every kind the
        // overlays hold was among them.
        for file in &manifests {
            let line = format!("ok {} #1 ", file.display());
            assert!(report.contains(&line), "{name}: `{}` was not validated:\n{report}", file.display());
        }
        assert_eq!(report.lines().count(), manifests.len(), "{name}: one document per file:\n{report}");
        let mut kinds: Vec<&str> = report.lines().map(|l| l.split(' ').nth(4).unwrap()).collect();
        kinds.sort();
        kinds.dedup();
        assert_eq!(kinds, expected_kinds, "{name}: the kinds validated");
        let route = match name {
            "gateway-api" | "search" => " gateway.networking.k8s.io/v1 HTTPRoute ",
            _ => " networking.istio.io/v1 VirtualService ",
        };
        assert!(report.contains(route), "{report}");
    }
}

#[test]
fn the_validator_rejects_broken_manifests() {
    let out = tempfile::tempdir().unwrap();
    let states = render_all_states("bookinfo", &out.path().join("states"));
    let half = states.iter().find(|s| s.ends_with("50-50")).unwrap();
    let good = files_below(half);
    let report = validate(&good).expect("the rendered overlay is valid");
    assert!(report.contains("skip ") && report.contains("Kustomization"), "kustomization.yaml is skipped:\n{report}");

    // (file, text to replace, replacement, what the validator must say)
    let cases = [
        ("deployment-reviews-v1.yaml", "replicas: 10", "replicas: \"ten\"", "/spec/replicas must be integer"),
        ("deployment-reviews-v1.yaml", "replicas: 10", "replicas: ten", "/spec/replicas must be integer"),
        (
            "deployment-reviews-v1.yaml",
            "containerPort: 9080",
            "containerPort: \"9080\"",
            "/spec/template/spec/containers/0/ports/0/containerPort must be integer",
        ),
        // YAML 1.1, as Kubernetes reads it: a plain `yes` is a boolean, not a label value.
        (
            "deployment-reviews-v1.yaml",
            "  labels:\n    app: reviews",
            "  labels:\n    app: yes",
            "/metadata/labels/app must be string",
        ),
        ("deployment-reviews-v1.yaml", "  selector:\n", "  selektor:\n", "/spec must have required property selector"),
        ("virtualservice-reviews.yaml", "weight: 50", "weight: \"50\"", "/spec/http/0/route/0/weight must be integer"),
        ("virtualservice-reviews.yaml", "    - reviews\n", "    reviews: true\n", "/spec/hosts must be array"),
        (
            "virtualservice-reviews.yaml",
            "            host: reviews\n",
            "",
            "/destination must have required property host",
        ),
        ("virtualservice-reviews.yaml", "networking.istio.io/v1\n", "networking.istio.io/v2\n", "no upstream schema"),
        ("destinationrule-reviews.yaml", "  host: reviews\n", "", "/spec must have required property host"),
        ("destinationrule-reviews.yaml", "    - name: v2\n", "    - name: 2\n", "/spec/subsets/1/name must be string"),
        ("service-reviews.yaml", "port: 9080", "port: nine", "/spec/ports/0/port must be integer"),
        ("service-reviews.yaml", "kind: Service", "kind: Servise", "no upstream schema"),
        ("service-reviews.yaml", "  name: reviews\n", "", "/metadata/name is required"),
        ("service-reviews.yaml", "spec:\n", "spec:\nspec:\n", "invalid YAML"),
    ];
    let broken = tempfile::tempdir().unwrap();
    let mut wrong = Vec::new();
    for (i, (file, from, to, expected)) in cases.iter().enumerate() {
        let text = std::fs::read_to_string(half.join(file)).unwrap();
        assert!(text.contains(from), "{file} has no `{from}`:\n{text}");
        let path = broken.path().join(format!("{i}-{file}"));
        std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
        match validate(std::slice::from_ref(&path)) {
            Ok(report) => wrong.push(format!("{file} with `{to}` passed:\n{report}")),
            Err(message) => {
                if !message.contains(&path.display().to_string()) || !message.contains(expected) {
                    wrong.push(format!("{file} with `{to}`: expected `{expected}` and the path in:\n{message}"));
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));

    // One bad file among good ones fails the whole run and is named.
    let mut mixed = good.clone();
    mixed.push(broken.path().join("0-deployment-reviews-v1.yaml"));
    let message = validate(&mixed).expect_err("a broken file among good ones");
    assert!(message.contains("0-deployment-reviews-v1.yaml #1 (apps/v1 Deployment reviews-v1)"), "{message}");
}
