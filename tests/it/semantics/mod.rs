//! Specs nobody wrote for the fixtures render to what the README promises: other names and
//! namespaces, versions that are not `v1`/`v2`, cookie, URI and header matches, gateways and
//! hosts, `service.create: false`, autoscaling, stage replica overrides, a sidecar in the pod
//! template, several documents in one file and the default output path.
//!
//! Every state `kanari plan` lists is rendered, built with the real `kubectl kustomize`, and the
//! built resources are checked against the design's rules (weights, subsets, replica arithmetic,
//! HPAs, pod templates, state annotations), not against snapshots. Each release's problems are
//! collected over all its states and reported together.
//!
//! This module holds the specs and what the tests know of them; [`checks`] checks a release's
//! states against the design's rules, [`releases`] runs it on each release, and [`outputs`]
//! covers the default output paths.

mod checks;
mod outputs;
mod releases;

use std::fmt::Debug;
use std::path::Path;

use serde_json::Value;

use crate::{Run, kanari_ok, repo_with};

/// Two releases of a web shop in one file: `checkout` (autoscaled, behind a gateway, with a
/// log-shipping sidecar and a Service owned elsewhere) and `search` (fixed replicas, no template).
const SHOP: &str = r#"# The shop's releases; one file, two documents, two namespaces.
apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata:
  name: checkout
  namespace: shop
spec:
  service:
    port: 8443
    create: false
  hosts: [checkout.example.com, checkout.shop.svc.cluster.local]
  gateways: [istio-system/public-gw, mesh]
  stable:
    version: stable-2024
    image: registry.example.com/shop/checkout:2024.12.1
  canary:
    version: rc1
    image: registry.example.com/shop/checkout:2025.1.0-rc1
  autoscaling:
    minReplicas: 4
    maxReplicas: 20
    targetCPUUtilizationPercentage: 65
  template:
    metadata:
      labels:
        team: payments
      annotations:
        prometheus.io/scrape: "true"
    spec:
      serviceAccountName: checkout
      containers:
        - name: log-shipper
          image: docker.io/fluent/fluent-bit:3.0.7
          args: [--config, /fluent-bit/etc/fluent-bit.conf]
          volumeMounts: [{name: logs, mountPath: /var/log/checkout}]
        - name: checkout
          ports: [{containerPort: 8443, name: https}]
          env:
            - {name: PAYMENT_MODE, value: live}
          volumeMounts: [{name: logs, mountPath: /var/log/checkout}]
      volumes:
        - {name: logs, emptyDir: {}}
  stages:
    # Opted-in users (cookie) and the new mobile apps on the v2 API go to the canary.
    - name: beta-testers
      match:
        - cookie: {name: beta, value: "yes"}
        - uri: {prefix: /api/v2/}
          headers:
            x-client: {regex: "^mobile-(ios|android)$"}
    - name: canary-5
      weight: 5
      match:
        - headers:
            x-canary: {exact: always}
        - cookie: {name: ab.test, value: "v1.5+x"}
          uri: {exact: /checkout/v2}
    - name: thirty
      weight: 30
      pause: {duration: 15m}
    - name: half
      weight: 50
      replicas: {stable: 8, canary: 6}
      pause: {approval: true}
    - name: full
      weight: 100
      replicas: {stable: 0}
---
apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata:
  name: search
  namespace: catalog
spec:
  service: {port: 8080}
  stable: {version: blue, image: "ghcr.io/acme/search:1.4.2"}
  canary: {version: green, image: "ghcr.io/acme/search:1.5.0"}
  replicas: 7
  stages:
    # Staff and the internal API, plus a fifth of everyone else.
    - name: staff
      weight: 20
      match:
        - uri: {regex: "^/internal/.*"}
        - headers:
            x-employee: {prefix: acme-}
            x-region: {exact: eu-west-1}
    - name: thirty
      weight: 30
    - name: most
      weight: 80
      replicas: {stable: 2}
    - name: all-in
      weight: 100
      replicas: {stable: 0, canary: 9}
"#;

/// A release without a canary, in a nested folder, as `.yml`, whose only container is not
/// named after the release.
const LEDGER: &str = r#"apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata:
  name: ledger
  namespace: finance
spec:
  service: {port: 5000}
  hosts: [ledger.finance.svc.cluster.local]
  stable: {version: v2024-11, image: "quay.io/acme/ledger:2024.11"}
  replicas: 3
  template:
    spec:
      containers:
        - name: server
          ports: [{containerPort: 5000}]
          resources: {limits: {memory: 256Mi}}
"#;

/// `kanari -C repo ARGS`, which must succeed.
fn ok_in(repo: &Path, args: &[&str]) -> Run {
    let mut all_args = vec!["-C", repo.to_str().expect("UTF-8 temp path")];
    all_args.extend_from_slice(args);
    kanari_ok(repo, &all_args)
}

fn shop_repo() -> tempfile::TempDir {
    repo_with(&[("canaries/shop.yaml", SHOP), ("canaries/finance/ledger.yml", LEDGER)])
}

/// One condition of a match entry, as the spec writes it.
#[derive(Clone, Copy, Debug)]
enum Cond {
    /// `uri: {KIND: VALUE}`
    Uri(&'static str, &'static str),
    /// `headers: {NAME: {KIND: VALUE}}`
    Header(&'static str, &'static str, &'static str),
    /// `cookie: {name: NAME, value: VALUE}`, and `cookie` headers beyond the usual ones that
    /// must not match (say, what an unescaped regex would take).
    Cookie(&'static str, &'static str, &'static [&'static str]),
}

/// A version's pods in a state.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Pods {
    /// `spec.replicas: N` and no HPA.
    Fixed(u64),
    /// No `spec.replicas`; an HPA with this `minReplicas` (and the release's `maxReplicas`).
    Hpa(u64),
}

/// What the tests know about a release from its spec.
struct Release {
    /// How the command line names it.
    selector: &'static str,
    name: &'static str,
    namespace: &'static str,
    hosts: &'static [&'static str],
    gateways: &'static [&'static str],
    /// The Service's port, or None with `create: false`.
    service_port: Option<u64>,
    /// (version, image)
    stable: (&'static str, &'static str),
    canary: Option<(&'static str, &'static str)>,
    /// (maxReplicas, targetCPUUtilizationPercentage) with autoscaling.
    autoscaling: Option<(u64, u64)>,
    /// The spec's pod template, when it has one.
    template: Option<Value>,
    /// The container port of the default container (no template).
    port: u64,
}

/// What one state must look like, worked out by hand from the design's rules.
struct Expect {
    state: &'static str,
    /// The canary's share of the catch-all route; None: no route may name the canary.
    weight: Option<u64>,
    /// The stage's match entries (ORed), each a list of conditions (ANDed).
    matches: Vec<Vec<Cond>>,
    stable: Pods,
    /// None: the state has no canary Deployment.
    canary: Option<Pods>,
}

fn at(state: &'static str, weight: Option<u64>, stable: Pods, canary: Option<Pods>) -> Expect {
    Expect { state, weight, matches: Vec::new(), stable, canary }
}

impl Expect {
    fn matching(mut self, matches: Vec<Vec<Cond>>) -> Self {
        self.matches = matches;
        self
    }
}

/// Problems found so far, each tagged with the release and state it was found in.
#[derive(Default)]
struct Findings {
    at: String,
    problems: Vec<String>,
}

impl Findings {
    fn check(&mut self, ok: bool, what: impl FnOnce() -> String) {
        if !ok {
            self.problems.push(format!("[{}] {}", self.at, what()));
        }
    }

    fn eq<T: PartialEq + Debug>(&mut self, what: &str, got: T, want: T) {
        if got != want {
            self.problems.push(format!("[{}] {what}: got {got:?}, want {want:?}", self.at));
        }
    }
}
