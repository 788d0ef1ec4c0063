//! `kanari init`: a first spec written from the manifests a service runs with today (the own
//! manifests fixture, Istio's Bookinfo sample as its project ships it, the payments service),
//! which `lint` passes and whose every stage renders an overlay `kubectl kustomize` builds, once
//! the commented canary is filled in as the spec says. It never overwrites, and a bad file is an
//! error at its place.

use std::path::Path;

use crate::{documents, git, kanari, kanari_ok, kustomize, project, tree};

/// A repository holding the fixture files `files` (fixture path → path in the repository).
fn repo_of(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    git(dir.path(), &["init", "-q", "-b", "main"]);
    for (from, to) in files {
        let target = dir.path().join(to);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::copy(project().join("fixtures").join(from), target).unwrap();
    }
    dir
}

/// The spec with its commented canary filled in, as its comment tells a person to do.
fn with_canary(spec: &str, version: &str, tag: &str) -> String {
    let start = spec.find("  # canary:\n").expect("the spec shows where the canary goes");
    let block_end = start + spec[start..].find("NEW-TAG\n").expect("the canary's image") + "NEW-TAG\n".len();
    let block = &spec[start..block_end];
    let filled = block
        .replace("  # canary:", "  canary:")
        .replace("  #   version: NEW-VERSION", &format!("    version: {version}"))
        .replace("  #   image: ", "    image: ")
        .replace("NEW-TAG", tag);
    format!("{}{filled}{}", &spec[..start], &spec[block_end..])
}

/// `lint` passes on the repository; with a canary filled in, every state renders an overlay
/// that `kubectl kustomize` builds. Returns the stages' manifests by state.
fn lints_and_renders(repo: &Path, name: &str) -> Vec<(String, String)> {
    kanari_ok(repo, &["lint"]);
    let spec_path = repo.join("canaries").join(format!("{name}.yaml"));
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    std::fs::write(&spec_path, with_canary(&spec, "v9", "9.0.0")).unwrap();
    kanari_ok(repo, &["lint"]);
    let out = tempfile::tempdir().unwrap();
    let out_dir = out.path().join("stages");
    kanari_ok(repo, &["render", name, "--all-stages", "--out", out_dir.to_str().unwrap()]);
    let mut built = Vec::new();
    for state in ["steady", "prepare", "testers", "90-10", "50-50", "0-100", "aborted"] {
        built.push((state.to_string(), kustomize(&out_dir.join(state))));
    }
    std::fs::write(&spec_path, spec).unwrap();
    built
}

/// A route's destinations: (subset, weight).
fn weights_of(route: &serde_json::Value) -> Vec<(String, u64)> {
    let destinations = route["route"].as_array().unwrap().iter();
    destinations
        .map(|d| (d["destination"]["subset"].as_str().unwrap().to_string(), d["weight"].as_u64().unwrap()))
        .collect()
}

#[test]
fn init_on_the_own_manifests_keeps_them_with_from_and_every_stage_builds() {
    let repo = repo_of(&[
        ("own-manifests/manifests/deployment.yaml", "manifests/deployment.yaml"),
        ("own-manifests/manifests/virtualservice.yaml", "manifests/virtualservice.yaml"),
        ("own-manifests/manifests/destinationrule.yaml", "manifests/destinationrule.yaml"),
    ]);
    let r = repo.path();
    let run = kanari_ok(
        r,
        &[
            "init",
            "reviews",
            "--from",
            "manifests/deployment.yaml",
            "--virtual-service",
            "manifests/virtualservice.yaml",
            "--destination-rule",
            "manifests/destinationrule.yaml",
        ],
    );
    insta::assert_snapshot!("init_own_manifests_stdout", run.stdout);
    let spec = std::fs::read_to_string(r.join("canaries/reviews.yaml")).unwrap();
    insta::assert_snapshot!("init_own_manifests_spec", spec);
    // One document each, in the repository: named where they are, nothing copied.
    assert!(!r.join("manifests/reviews").exists());
    let built = lints_and_renders(r, "reviews");
    let (_, half) = built.iter().find(|(s, _)| s == "50-50").unwrap();
    let docs = documents(half);
    let vs = crate::one(&docs, "VirtualService");
    let route = vs["spec"]["http"].as_array().unwrap().iter().find(|h| h["name"] == "reviews").unwrap();
    assert_eq!(route["retries"]["attempts"], 3, "the route's retries are kept: {vs}");
    assert_eq!(weights_of(route), [("1-16-2".to_string(), 50), ("v9".to_string(), 50)]);
    let dr = crate::one(&docs, "DestinationRule");
    assert_eq!(dr["spec"]["trafficPolicy"]["tls"]["mode"], "ISTIO_MUTUAL", "{dr}");
    for d in crate::all(&docs, "Deployment") {
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"], 0, "the strategy is kept: {d}");
    }
}

#[test]
fn init_on_istios_bookinfo_picks_a_deployment_among_many_and_every_stage_builds() {
    let repo = repo_of(&[("upstream/bookinfo.yaml", "k8s/bookinfo.yaml")]);
    let r = repo.path();
    let before = tree(r);
    // Three Deployments are reviews': the error lists them and says how to choose.
    let run = kanari(r, &["init", "reviews", "--from", "k8s/bookinfo.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    insta::assert_snapshot!("init_bookinfo_many_deployments", run.stderr);
    assert_eq!(tree(r), before, "nothing is written");

    let run = kanari_ok(r, &["init", "reviews", "--from", "k8s/bookinfo.yaml", "--deployment", "reviews-v1"]);
    insta::assert_snapshot!("init_bookinfo_stdout", run.stdout);
    let spec = std::fs::read_to_string(r.join("canaries/reviews.yaml")).unwrap();
    insta::assert_snapshot!("init_bookinfo_spec", spec);
    // Nothing the spec cannot say: the pod template inline, no file beside it.
    assert!(!r.join("manifests").exists());
    let built = lints_and_renders(r, "reviews");
    let (_, steady) = &built[0];
    let docs = documents(steady);
    let deployment = crate::one(&docs, "Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "docker.io/istio/examples-bookinfo-reviews-v1:1.20.1");
    assert_eq!(deployment["spec"]["template"]["spec"]["serviceAccountName"], "bookinfo-reviews");
    assert_eq!(container["ports"][0]["name"], "http", "the Service's port name, given to the container's port");

    // One candidate: productpage, its pod annotations kept in the template.
    kanari_ok(r, &["init", "productpage", "--from", "k8s/bookinfo.yaml"]);
    let spec = std::fs::read_to_string(r.join("canaries/productpage.yaml")).unwrap();
    insta::assert_snapshot!("init_productpage_spec", spec);
    kanari_ok(r, &["lint"]);
}

#[test]
fn init_writes_a_manifest_from_a_file_of_several_documents_beside_the_spec() {
    let own = std::fs::read_to_string(project().join("fixtures/own-manifests/manifests/deployment.yaml")).unwrap();
    let hpa = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata:\n  name: reviews\n  namespace: bookinfo\nspec:\n  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: reviews}\n  minReplicas: 2\n  maxReplicas: 8\n  metrics:\n    - type: Resource\n      resource: {name: memory, target: {type: Utilization, averageUtilization: 60}}\n";
    let repo = crate::repo_with(&[("chart/all.yaml", &format!("{own}---\n{hpa}"))]);
    let r = repo.path();
    git(r, &["init", "-q", "-b", "main"]);
    let run = kanari_ok(r, &["init", "reviews", "--from", "chart/all.yaml"]);
    insta::assert_snapshot!("init_several_documents_stdout", run.stdout);
    let spec = std::fs::read_to_string(r.join("canaries/reviews.yaml")).unwrap();
    insta::assert_snapshot!("init_several_documents_spec", spec);
    let copy = std::fs::read_to_string(r.join("manifests/reviews/deployment.yaml")).unwrap();
    let copied = &documents(&copy)[0];
    assert_eq!(copied["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%", "{copy}");
    lints_and_renders(r, "reviews");
}

#[test]
fn init_never_overwrites_and_writes_nothing_when_a_file_is_in_the_way() {
    let repo = repo_of(&[("upstream/bookinfo.yaml", "bookinfo.yaml")]);
    let r = repo.path();
    let args = ["init", "ratings", "--from", "bookinfo.yaml"];
    kanari_ok(r, &args);
    let before = tree(r);
    let run = kanari(r, &args);
    assert_eq!(run.code, 2, "{run:?}");
    insta::assert_snapshot!("init_spec_in_the_way", crate::redact(&run.stderr, r, "[repo]"));
    assert_eq!(tree(r), before);

    // A manifest to write is in the way: not even the spec is written.
    let own = std::fs::read_to_string(project().join("fixtures/own-manifests/manifests/deployment.yaml")).unwrap();
    std::fs::write(
        r.join("two.yaml"),
        format!("{own}---\napiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: x}}\n"),
    )
    .unwrap();
    std::fs::create_dir_all(r.join("manifests/reviews")).unwrap();
    std::fs::write(r.join("manifests/reviews/deployment.yaml"), "mine\n").unwrap();
    let before = tree(r);
    let run = kanari(r, &["init", "reviews", "--from", "two.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    insta::assert_snapshot!("init_manifest_in_the_way", crate::redact(&run.stderr, r, "[repo]"));
    assert_eq!(tree(r), before);

    // A specs folder that is a symlink out of the repository is refused.
    let outside = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(outside.path(), r.join("elsewhere")).unwrap();
    let run = kanari(r, &["--specs", "elsewhere", "init", "details", "--from", "bookinfo.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    let said = crate::redact(&crate::redact(&run.stderr, r, "[repo]"), outside.path(), "[outside]");
    insta::assert_snapshot!("init_specs_folder_a_symlink", said);
    assert_eq!(std::fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn init_says_where_a_bad_file_is_wrong() {
    let repo = crate::repo_with(&[
        ("bad.yaml", "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  labels: [app\n"),
        (
            "untagged.yaml",
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: nginx\n          ports: [{containerPort: 80}]\n",
        ),
    ]);
    let r = repo.path();
    let before = tree(r);
    let run = kanari(r, &["init", "web", "--from", "bad.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    insta::assert_snapshot!("init_bad_yaml", run.stderr);
    let run = kanari(r, &["init", "web", "--from", "untagged.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    insta::assert_snapshot!("init_no_version_label", run.stderr);
    let run = kanari(r, &["init", "Web", "--from", "untagged.yaml"]);
    assert_eq!(run.code, 2, "{run:?}");
    insta::assert_snapshot!("init_bad_name", run.stderr);
    assert_eq!(tree(r), before, "nothing is written");
}

/// The payments service: TLS on 8443 (the container port named `https`), an HPA, and its own
/// VirtualService with retries, a timeout and an `/admin` route to the same Service. Needs the
/// Service port named after the container's, and the other routes of a VirtualService allowed.
#[test]
fn init_on_the_payments_tls_app_keeps_its_port_refuses_a_canary_on_it_and_renders_it_served_as_http() {
    let repo = repo_of(&[
        ("payments/manifests/deployment.yaml", "manifests/deployment.yaml"),
        ("payments/manifests/hpa.yaml", "manifests/hpa.yaml"),
        ("payments/manifests/virtualservice.yaml", "manifests/virtualservice.yaml"),
        ("payments/manifests/destinationrule.yaml", "manifests/destinationrule.yaml"),
    ]);
    let r = repo.path();
    let said = kanari_ok(
        r,
        &[
            "init",
            "payments",
            "--from",
            "manifests/deployment.yaml",
            "--from",
            "manifests/hpa.yaml",
            "--virtual-service",
            "manifests/virtualservice.yaml",
            "--destination-rule",
            "manifests/destinationrule.yaml",
        ],
    );
    insta::assert_snapshot!("init_payments_stdout", said.stdout);
    let spec_path = r.join("canaries/payments.yaml");
    let spec = std::fs::read_to_string(&spec_path).unwrap();
    insta::assert_snapshot!("init_payments_spec", spec);
    // The steady state as the team runs it: TLS in the application, the port named `https`.
    kanari_ok(r, &["lint"]);
    let out = tempfile::tempdir().unwrap();
    let steady = out.path().join("steady");
    kanari_ok(r, &["render", "payments", "--out", steady.to_str().unwrap()]);
    let docs = documents(&kustomize(&steady));
    let service = docs.iter().find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "payments").unwrap();
    assert_eq!(service["spec"]["ports"][0]["name"], "https", "{service}");
    // A canary on app-terminated TLS cannot be routed by weight, header or mirror: refused at the
    // port, with the way out.
    std::fs::write(&spec_path, with_canary(&spec, "v9", "9.0.0")).unwrap();
    let refused = kanari(r, &["lint"]);
    assert_eq!(refused.code, 2, "{refused:?}");
    insta::assert_snapshot!("init_payments_canary_on_https", refused.stderr);
    std::fs::write(&spec_path, &spec).unwrap();
    // The way out: the sidecar does the TLS (the DestinationRule's ISTIO_MUTUAL), the application
    // serves HTTP on the port, named `http`. Every stage then renders, the admin route pinned.
    let deployment = r.join("manifests/deployment.yaml");
    let text = std::fs::read_to_string(&deployment).unwrap();
    std::fs::write(&deployment, text.replace("- name: https\n", "- name: http\n")).unwrap();
    let built = lints_and_renders(r, "payments");
    for (state, yaml) in &built {
        let docs = documents(yaml);
        let service = docs.iter().find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "payments").unwrap();
        assert_eq!(service["spec"]["ports"][0]["name"], "http", "{state}: {service}");
        let vs = crate::one(&docs, "VirtualService");
        let admin = vs["spec"]["http"].as_array().unwrap().iter().find(|h| h["name"] == "admin").unwrap();
        assert_eq!(admin["timeout"], "30s", "{state}: {vs}");
        assert_eq!(admin["route"][0]["destination"]["subset"], "4-2-0", "{state}: the admin route stays on stable");
    }
}

#[test]
fn init_with_the_gateway_api_router_writes_a_spec_whose_every_stage_builds() {
    let repo =
        repo_of(&[("upstream/bookinfo.yaml", "bookinfo.yaml"), ("payments/manifests/virtualservice.yaml", "vs.yaml")]);
    let r = repo.path();
    let run = kanari(
        r,
        &["init", "ratings", "--from", "bookinfo.yaml", "--router", "gateway-api", "--virtual-service", "vs.yaml"],
    );
    assert_eq!(run.code, 2, "{run:?}");
    insta::assert_snapshot!("init_gateway_api_with_a_virtual_service", run.stderr);
    assert!(!r.join("canaries").exists());
    kanari_ok(r, &["init", "ratings", "--from", "bookinfo.yaml", "--router", "gateway-api"]);
    let spec = std::fs::read_to_string(r.join("canaries/ratings.yaml")).unwrap();
    insta::assert_snapshot!("init_gateway_api_spec", spec);
    let built = lints_and_renders(r, "ratings");
    let (_, half) = built.iter().find(|(s, _)| s == "50-50").unwrap();
    let route = crate::one(&documents(half), "HTTPRoute").clone();
    assert_eq!(crate::backend_weights(&route), [("ratings-v1".to_string(), 50), ("ratings-v9".to_string(), 50)]);
}

/// Several container ports become the Service's ports, each named as its container port is.
#[test]
fn init_makes_service_ports_of_several_container_ports() {
    let deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: edge, namespace: shop}\nspec:\n  template:\n    metadata:\n      labels: {app: edge, version: v1}\n    spec:\n      containers:\n        - name: edge\n          image: example.com/edge:1.0.0\n          ports:\n            - {name: http, containerPort: 8080}\n            - {name: tcp-admin, containerPort: 9090}\n";
    let repo = crate::repo_with(&[("edge.yaml", deployment)]);
    let r = repo.path();
    git(r, &["init", "-q", "-b", "main"]);
    kanari_ok(r, &["init", "edge", "--from", "edge.yaml"]);
    let spec = std::fs::read_to_string(r.join("canaries/edge.yaml")).unwrap();
    insta::assert_snapshot!("init_several_ports_spec", spec);
    let built = lints_and_renders(r, "edge");
    let docs = documents(&built[0].1);
    let service = docs.iter().find(|d| d["kind"] == "Service" && d["metadata"]["name"] == "edge").unwrap();
    let names: Vec<&str> =
        service["spec"]["ports"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["http", "tcp-admin"], "{service}");
}
