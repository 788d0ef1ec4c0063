//! The spec made from manifests, checked by the spec's own validation, and the rules that pick
//! what it says: the stable version, what a spec cannot say, the order a manifest is written in.

use std::path::{Path, PathBuf};

use super::*;

fn input(shown: &str, source: &str) -> Input {
    Input { shown: PathBuf::from(shown), source: source.to_string(), in_repo: Some(PathBuf::from(shown)) }
}

fn made(name: &str, files: &[Input]) -> Result<Scaffold> {
    scaffold(&Request {
        name,
        from: files,
        deployment: None,
        virtual_service: None,
        destination_rule: None,
        router: Router::Istio,
    })
}

fn deployment(labels: &str, image: &str) -> String {
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec:\n  replicas: 4\n  template:\n    metadata:\n      labels: {labels}\n    spec:\n      containers:\n        - name: web\n          image: {image}\n          ports: [{{containerPort: 8080, name: http}}]\n"
    )
}

/// The spec's text, validated as `lint` validates it.
fn validated(spec: &str) -> crate::spec::Canary {
    let (mut canaries, problems) = crate::spec::parse_file(Path::new("canaries/web.yaml"), spec);
    assert!(problems.is_empty(), "{problems}\n{spec}");
    assert_eq!(canaries.len(), 1);
    canaries.remove(0)
}

#[test]
fn the_stable_version_is_the_version_label_else_the_image_tag() {
    let table: &[(&str, &str, Result<&str, &str>)] = &[
        ("{app: web, version: v3}", "example.com/web:1.2.3", Ok("v3")),
        ("{app: web}", "example.com/web:1.2.3", Ok("1.2.3")),
        ("{app: web}", "registry.example.com:5000/shop/web:2024-11", Ok("2024-11")),
        ("{app: web}", "example.com/web:1.2@sha256:0123456789abcdef", Ok("1.2")),
        ("{app: web}", "registry.example.com:5000/shop/web", Err("14:18: the Deployment has no `version` label")),
        ("{app: web}", "example.com/web@sha256:0123456789abcdef", Err("14:18: the Deployment has no `version` label")),
        ("{app: web, version: \"a b\"}", "web:1", Err("10:35: the `version` label is not a label value")),
    ];
    for (labels, image, expected) in table {
        let result = made("web", &[input("k8s/web.yaml", &deployment(labels, image))]);
        match (result, expected) {
            (Ok(made), Ok(version)) => {
                let canary = validated(&made.spec);
                assert_eq!(canary.stable.version, *version, "{labels} {image}");
                assert_eq!(canary.stable.image, *image);
                assert_eq!((canary.namespace.as_str(), canary.replicas), ("shop", 4));
                assert!(canary.canary.is_none(), "the spec starts steady");
            }
            (Err(e), Err(message)) => {
                let text = format!("{e:#}");
                assert!(text.contains(&format!("k8s/web.yaml:{message}")), "{labels} {image}: {text}");
            }
            (got, want) => panic!("{labels} {image}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn a_pod_template_alone_goes_inline_in_the_order_written_without_what_kanari_sets() {
    let made =
        made("web", &[input("k8s/web.yaml", &deployment("{app: web, version: v1, tier: front}", "web:1"))]).unwrap();
    assert!(made.manifests.is_empty());
    let canary = validated(&made.spec);
    assert_eq!(canary.template["metadata"]["labels"], serde_json::json!({"tier": "front"}));
    assert!(
        made.spec.contains("      containers:\n        - name: web\n          ports:\n            - containerPort: 8080\n              name: http\n"),
        "{}",
        made.spec
    );
    let stages: Vec<&str> = canary.stages.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(stages, ["testers", "90-10", "50-50", "0-100"]);
}

#[test]
fn what_a_spec_cannot_say_is_named_and_kept_with_from() {
    let object = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"app": "web"}, "annotations": {"a": "b"}},
        "spec": {"replicas": 2, "strategy": {"type": "Recreate"}, "template": {}},
    });
    let allowed = ["apiVersion", "kind", "metadata.name", "metadata.labels", "spec.replicas", "spec.template"];
    assert_eq!(beyond(&object, &allowed), ["metadata.annotations", "spec.strategy"]);

    let source = deployment("{app: web}", "web:1")
        .replace("spec:\n  replicas: 4\n", "spec:\n  replicas: 4\n  minReadySeconds: 10\n");
    let made = made("web", &[input("k8s/web.yaml", &source)]).unwrap();
    assert!(made.spec.contains("  deployment:\n    from: k8s/web.yaml\n"), "{}", made.spec);
    assert!(made.spec.contains("(`spec.minReadySeconds`)"), "{}", made.spec);
    assert!(made.manifests.is_empty(), "a file of one document in the repository is named where it is");
}

#[test]
fn a_manifest_among_others_is_written_beside_the_spec_as_it_was_written() {
    let source =
        deployment("{app: web}", "web:1").replace("spec:\n  replicas: 4\n", "spec:\n  replicas: 4\n  paused: true\n");
    let both = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: web}}\n---\n{source}status: {{replicas: 4}}\n"
    );
    let made = made("web", &[input("all.yaml", &both)]).unwrap();
    let [(path, text)] = &made.manifests[..] else { panic!("{:?}", made.manifests) };
    assert_eq!(path, Path::new("manifests/web/deployment.yaml"));
    let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        source.replace("labels: {app: web}", "labels:\n        app: web").replace(
            "ports: [{containerPort: 8080, name: http}]",
            "ports:\n            - containerPort: 8080\n              name: http"
        )
    );
    assert!(made.notes[0].contains("`all.yaml` holds other documents too"), "{:?}", made.notes);
}

#[test]
fn several_deployments_of_the_release_are_listed_with_the_way_to_choose() {
    let one = deployment("{app: web, version: v1}", "web:1");
    let two = one.replace("name: web\n  namespace", "name: web-v2\n  namespace");
    let err = made("web", &[input("a.yaml", &format!("{one}---\n{two}"))]).unwrap_err().to_string();
    assert_eq!(
        err,
        "2 Deployments are `web`'s: `web` (a.yaml:1:1), `web-v2` (a.yaml:17:1); pick the one running the stable version with --deployment NAME"
    );
}
