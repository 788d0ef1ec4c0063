//! Service ports and protocols, and Gateway API parents and versions: what the Service, the
//! routes and `lint` say for them, through the real binary, built with `kubectl kustomize`.

use std::path::Path;

use serde_json::Value;

use crate::{all, documents, fixture, kanari, kanari_ok, kustomize, one, repo_with, tree};

/// A release `pay` whose spec is `spec` (indented under `spec:`).
fn release(spec: &str) -> String {
    format!("apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata: {{name: pay, namespace: shop}}\nspec:\n{spec}")
}

const TLS_TEMPLATE: &str = "  template:
    spec:
      containers:
        - name: pay
          ports:
            - {name: https, containerPort: 8443}
";

/// Renders the current state into the release's overlay and returns the built documents.
fn rendered(repo: &Path) -> Vec<Value> {
    kanari_ok(repo, &["render"]);
    documents(&kustomize(&repo.join("overlays/shop/pay")))
}

/// A TLS app on 8443 whose container port is named `https` once got a Service port named
/// `http`, and Istio routed its TLS as HTTP requests: the port now carries the container's name.
#[test]
fn a_container_port_named_https_names_the_service_port() {
    let spec = release(&format!("  service: {{port: 8443}}\n  stable: {{version: v1, image: pay:1}}\n{TLS_TEMPLATE}"));
    let repo = repo_with(&[("canaries/x.yaml", &spec)]);
    let docs = rendered(repo.path());
    let ports = &one(&docs, "Service")["spec"]["ports"];
    assert_eq!(ports, &serde_json::json!([{"name": "https", "port": 8443, "targetPort": 8443}]));
    kanari_ok(repo.path(), &["--deny-warnings", "lint"]);
}

/// Several ports: each rendered, the VirtualService's destinations naming the routed port (as
/// Istio asks when a Service has several), the default container serving each target port.
#[test]
fn several_ports_render_and_the_routes_name_the_routed_one() {
    let spec = release(
        "  service:
    ports:
      - {name: http, port: 8080, targetPort: 8080}
      - {name: tcp-admin, port: 9901, appProtocol: tcp}
  stable: {version: v1, image: pay:1}
  canary: {version: v2, image: pay:2}
  stages:
    - {name: half, weight: 50}
",
    );
    let repo = repo_with(&[("canaries/x.yaml", &spec)]);
    let out = repo.path().join("out");
    kanari_ok(repo.path(), &["render", "--stage", "half", "--out", out.to_str().unwrap()]);
    let docs = documents(&kustomize(&out));
    assert_eq!(
        one(&docs, "Service")["spec"]["ports"],
        serde_json::json!([
            {"name": "http", "port": 8080, "targetPort": 8080},
            {"name": "tcp-admin", "port": 9901, "targetPort": 9901, "appProtocol": "tcp"},
        ])
    );
    let vs = one(&docs, "VirtualService");
    for route in vs["spec"]["http"][0]["route"].as_array().unwrap() {
        assert_eq!(route["destination"]["port"], serde_json::json!({"number": 8080}), "{route}");
    }
    for d in all(&docs, "Deployment") {
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"][0]["ports"],
            serde_json::json!([{"name": "http", "containerPort": 8080}, {"name": "tcp-admin", "containerPort": 9901}])
        );
    }
    // One port: no destination port, as before.
    let one_port = release("  service: {port: 8080}\n  stable: {version: v1, image: pay:1}\n");
    let repo = repo_with(&[("canaries/x.yaml", &one_port)]);
    let docs = rendered(repo.path());
    assert!(one(&docs, "VirtualService")["spec"]["http"][0]["route"][0]["destination"].get("port").is_none());
}

#[test]
fn a_port_istio_cannot_read_a_protocol_from_is_a_warning() {
    let spec =
        release("  service:\n    ports:\n      - {name: web, port: 8080}\n  stable: {version: v1, image: pay:1}\n");
    let repo = repo_with(&[("canaries/x.yaml", &spec)]);
    let run = kanari(repo.path(), &["lint"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains(
            "warning: canaries/x.yaml:7:9: port `web` (8080): the name `web` starts with no protocol Istio knows"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(kanari(repo.path(), &["--deny-warnings", "lint"]).code, 2);
    let told = spec.replace("{name: web, port: 8080}", "{name: web, port: 8080, appProtocol: http}");
    let repo = repo_with(&[("canaries/x.yaml", &told)]);
    kanari_ok(repo.path(), &["--deny-warnings", "lint"]);
}

/// A mirror copies HTTP requests; on a TLS port Istio passes an opaque stream, so the stage and
/// the port are errors at their lines, exit 2, nothing written.
#[test]
fn a_mirror_on_a_tls_port_is_an_error_at_its_line() {
    let spec = release(&format!(
        "  service: {{port: 8443}}
  stable: {{version: v1, image: pay:1}}
  canary: {{version: v2, image: pay:2}}
{TLS_TEMPLATE}  stages:
    - name: shadow
      mirror: 20
    - name: half
      weight: 50
"
    ));
    let repo = repo_with(&[("canaries/x.yaml", &spec)]);
    let before = tree(repo.path());
    for args in [&["lint"][..], &["render"][..]] {
        let run = kanari(repo.path(), args);
        assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
        assert!(
            run.stderr.contains("canaries/x.yaml:15:13: stage `shadow` has a mirror, which needs HTTP requests, but port `https` (8443) is `https`"),
            "{}",
            run.stderr
        );
        assert!(
            run.stderr.contains("canaries/x.yaml:5:19: port `https` (8443) is `https` to Istio, not HTTP"),
            "{}",
            run.stderr
        );
    }
    assert_eq!(tree(repo.path()), before, "nothing written");
}

#[test]
fn a_second_http_port_is_refused_with_istio() {
    let spec = release(
        "  service:
    ports:
      - {name: http, port: 8080}
      - {name: http-admin, port: 9901}
  stable: {version: v1, image: pay:1}
",
    );
    let repo = repo_with(&[("canaries/x.yaml", &spec)]);
    let run = kanari(repo.path(), &["lint"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("canaries/x.yaml:8:9: port `http-admin` (9901) is HTTP too"), "{}", run.stderr);
}

#[test]
fn parent_refs_carry_the_listener_s_section_name_and_port() {
    let spec = release(
        "  router: gateway-api
  gateways:
    - {name: public, namespace: gateway, sectionName: https}
    - {name: internal, port: 8443}
    - mesh
  service: {port: 8080}
  stable: {version: v1, image: pay:1}
",
    );
    let repo = repo_with(&[("canaries/x.yaml", &spec)]);
    let docs = rendered(repo.path());
    let route = one(&docs, "HTTPRoute");
    assert_eq!(
        route["spec"]["parentRefs"],
        serde_json::json!([
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "namespace": "gateway", "name": "public", "sectionName": "https"},
            {"group": "gateway.networking.k8s.io", "kind": "Gateway", "name": "internal", "port": 8443},
            {"group": "", "kind": "Service", "name": "pay", "port": 8080},
        ])
    );
    // A VirtualService names its gateways: the listener's fields need the Gateway API.
    let istio = spec.replace("  router: gateway-api\n", "");
    let repo = repo_with(&[("canaries/x.yaml", &istio)]);
    let run = kanari(repo.path(), &["lint"]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("canaries/x.yaml:6:7: gateway `gateway/public`: a VirtualService names its gateways"),
        "{}",
        run.stderr
    );
}

/// `RequestMirror.percent` is in the standard channel from Gateway API v1.3.0; older CRDs drop
/// it and mirror every request. The search fixture's shadow stage warns against v1.2.0.
#[test]
fn lint_warns_when_a_stage_needs_a_newer_gateway_api() {
    let repo = fixture("search");
    kanari_ok(repo.path(), &["--deny-warnings", "lint"]);
    let file = repo.path().join("canaries/search.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("gatewayAPIVersion: v1.3.0", "gatewayAPIVersion: v1.2.0")).unwrap();
    let run = kanari(repo.path(), &["lint"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("warning: canaries/search.yaml:36:13: stage `shadow` renders RequestMirror.percent, which needs Gateway API v1.3.0, newer than gatewayAPIVersion v1.2.0"),
        "{}",
        run.stderr
    );
    assert_eq!(run.stderr.matches("warning:").count(), 1, "{}", run.stderr);
    std::fs::write(&file, text.replace("gatewayAPIVersion: v1.3.0", "gatewayAPIVersion: v1.0.0")).unwrap();
    let run = kanari(repo.path(), &["lint"]);
    assert!(run.stderr.contains("stage `shadow` renders RequestMirror.percent"), "{}", run.stderr);
    assert_eq!(kanari(repo.path(), &["--deny-warnings", "lint"]).code, 2);
}

/// The short form's port is named from the Deployment of `deployment.from` too.
#[test]
fn the_port_is_named_from_your_own_deployment() {
    let deployment = "apiVersion: apps/v1
kind: Deployment
metadata: {name: pay, namespace: shop}
spec:
  selector: {matchLabels: {app: pay}}
  template:
    metadata: {labels: {app: pay}}
    spec:
      containers:
        - name: pay
          image: pay:0
          ports:
            - {name: grpc-api, containerPort: 9090}
";
    let spec = release(
        "  service: {port: 9090}\n  stable: {version: v1, image: pay:1}\n  deployment: {from: manifests/pay.yaml}\n",
    );
    let repo = repo_with(&[("canaries/x.yaml", &spec), ("manifests/pay.yaml", deployment)]);
    let docs = rendered(repo.path());
    assert_eq!(
        one(&docs, "Service")["spec"]["ports"],
        serde_json::json!([{"name": "grpc-api", "port": 9090, "targetPort": 9090}])
    );
}

/// What every state renders (a mesh parent and its port) is said once, at gatewayAPIVersion.
#[test]
fn fields_every_state_renders_are_warned_at_the_version() {
    let spec = release(
        "  router: gateway-api
  gatewayAPIVersion: v1.0.0
  service: {port: 8080}
  stable: {version: v1, image: pay:1}
",
    );
    let repo = repo_with(&[("canaries/x.yaml", &spec)]);
    let run = kanari(repo.path(), &["lint"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for field in ["parentRefs (kind: Service)", "parentRefs.port"] {
        let line = format!(
            "warning: canaries/x.yaml:6:22: every state renders {field}, which needs Gateway API v1.1.0, newer than gatewayAPIVersion v1.0.0"
        );
        assert!(run.stderr.contains(&line), "{line}\n{}", run.stderr);
    }
}
