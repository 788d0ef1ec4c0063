//! Specs nobody wrote for the fixtures render to what DESIGN.md promises: other names and
//! namespaces, versions that are not `v1`/`v2`, cookie, URI and header matches, gateways and
//! hosts, `service.create: false`, autoscaling, stage replica overrides, a sidecar in the pod
//! template, several documents in one file and the default output path.
//!
//! Every state `kanari plan` lists is rendered, built with the real `kubectl kustomize`, and the
//! built resources are checked against the design's rules (weights, subsets, replica arithmetic,
//! HPAs, pod templates, state annotations), not against snapshots. Each release's problems are
//! collected over all its states and reported together.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::path::Path;

use regex::Regex;
use serde_json::{Value, json};

use crate::{Run, all, documents, kanari, kanari_ok, kustomize, one, replicas, repo_with, tree, weights};

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

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| text(s).to_string()).collect()).unwrap_or_default()
}

/// The spec's `template` of release `name`, as written.
fn spec_template(source: &str, name: &str) -> Value {
    let docs = documents(source);
    let doc = docs.iter().find(|d| d["metadata"]["name"] == name).expect("the release is in the source");
    doc["spec"]["template"].clone()
}

/// The design's pod template: the spec's, with the `app` and `version` labels added and the
/// image of the container named after the release (or of the only one) set.
fn expected_template(spec: &Value, release: &str, version: &str, image: &str) -> Value {
    let mut t = spec.clone();
    t["metadata"]["labels"]["app"] = json!(release);
    t["metadata"]["labels"]["version"] = json!(version);
    let containers = t["spec"]["containers"].as_array_mut().expect("the template has containers");
    let main = containers.iter().position(|c| c["name"] == release).unwrap_or(0);
    containers[main]["image"] = json!(image);
    t
}

/// Every `(k, v)` of `subset` is in `labels`.
fn selects(subset: &Value, labels: &Value) -> bool {
    subset.as_object().is_some_and(|m| m.iter().all(|(k, v)| labels.get(k) == Some(v)))
}

/// A cookie rendered as a regex on the `cookie` header must find exactly `name=value` among
/// the request's cookies.
fn check_cookie_regex(source: &str, name: &str, value: &str, also_misses: &[&str]) -> Result<(), String> {
    let re = Regex::new(source).map_err(|e| format!("cookie regex `{source}` does not compile: {e}"))?;
    let (n, v) = (name, value);
    let hits = [
        format!("{n}={v}"),
        format!("a=1; {n}={v}"),
        format!("a=1; {n}={v}; z=2"),
        format!("a=1;{n}={v}"),
        format!("{n}={v}; z=2"),
    ];
    let misses = [
        format!("{n}={v}no"),
        format!("a=1; {n}={v}no; z=2"),
        format!("x{n}={v}"),
        format!("a=1; x{n}={v}"),
        format!("{n}=no"),
        format!("{n}="),
        "a=1".to_string(),
        String::new(),
    ];
    let wrong_hits: Vec<&String> = hits.iter().filter(|h| !re.is_match(h)).collect();
    let extra = also_misses.iter().map(|m| m.to_string());
    let wrong_misses: Vec<String> = misses.into_iter().chain(extra).filter(|m| re.is_match(m)).collect();
    if wrong_hits.is_empty() && wrong_misses.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "cookie regex `{source}` for {n}={v}: should match but does not {wrong_hits:?}; \
             should not match but does {wrong_misses:?}"
        ))
    }
}

/// Does the rendered Istio `HTTPMatchRequest` `entry` say exactly the ANDed `conds`?
fn satisfies(entry: &Value, conds: &[Cond]) -> Result<(), String> {
    let mut want_keys = BTreeSet::new();
    let mut want_headers = BTreeSet::new();
    for c in conds {
        match c {
            Cond::Uri(..) => {
                want_keys.insert("uri".to_string());
            }
            Cond::Header(name, ..) => {
                want_keys.insert("headers".to_string());
                want_headers.insert(name.to_string());
            }
            Cond::Cookie(..) => {
                want_keys.insert("headers".to_string());
                want_headers.insert("cookie".to_string());
            }
        }
    }
    let keys: BTreeSet<String> = entry.as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    if keys != want_keys {
        return Err(format!("fields {keys:?}, want {want_keys:?}"));
    }
    let headers: BTreeSet<String> =
        entry["headers"].as_object().map(|m| m.keys().cloned().collect()).unwrap_or_default();
    if headers != want_headers {
        return Err(format!("headers {headers:?}, want {want_headers:?}"));
    }
    for c in conds {
        match *c {
            Cond::Uri(kind, value) => {
                if entry["uri"] != json!({ kind: value }) {
                    return Err(format!("uri {}, want {}", entry["uri"], json!({ kind: value })));
                }
            }
            Cond::Header(name, kind, value) => {
                if entry["headers"][name] != json!({ kind: value }) {
                    return Err(format!("header {name}: {}, want {}", entry["headers"][name], json!({ kind: value })));
                }
            }
            Cond::Cookie(name, value, also_misses) => {
                let cookie = &entry["headers"]["cookie"];
                let only_regex = cookie.as_object().is_some_and(|m| m.len() == 1 && m.contains_key("regex"));
                if !only_regex {
                    return Err(format!("the cookie header match must be one `regex`, got {cookie}"));
                }
                check_cookie_regex(text(&cookie["regex"]), name, value, also_misses)?;
            }
        }
    }
    Ok(())
}

/// Renders `want.state` of `rel` with `render --stage --out`, builds it with kustomize and checks
/// it. Returns each Deployment's `spec.template`, for the checks across states.
fn check_state(f: &mut Findings, repo: &Path, rel: &Release, want: &Expect) -> BTreeMap<String, Value> {
    f.at = format!("{} {}", rel.selector, want.state);
    let out_root = tempfile::tempdir().expect("temp dir");
    let out = out_root.path().join(want.state);
    ok_in(repo, &["render", rel.selector, "--stage", want.state, "--out", out.to_str().unwrap()]);
    let docs = documents(&kustomize(&out));

    // The state is recorded in the overlay's kustomization.yaml.
    let k = documents(&std::fs::read_to_string(out.join("kustomization.yaml")).expect("kustomization.yaml"));
    let annotations = &k[0]["metadata"]["annotations"];
    f.eq("kanari.dev/stage annotation", annotations["kanari.dev/stage"].as_str(), Some(want.state));
    if want.state != "steady" {
        f.eq("kanari.dev/canary annotation", annotations["kanari.dev/canary"].as_str(), rel.canary.map(|c| c.0));
    }

    let kinds = ["Service", "Deployment", "HorizontalPodAutoscaler", "DestinationRule", "VirtualService"];
    for d in &docs {
        let kind = text(&d["kind"]);
        f.check(kinds.contains(&kind), || format!("unexpected resource kind {kind}"));
        f.eq(
            &format!("namespace of {kind} {}", d["metadata"]["name"]),
            text(&d["metadata"]["namespace"]),
            rel.namespace,
        );
    }

    // Deployments: one per version the state runs, with the design's replica counts.
    let mut versions = vec![(rel.stable.0, rel.stable.1, want.stable)];
    if let (Some((version, image)), Some(pods)) = (rel.canary, want.canary) {
        versions.push((version, image, pods));
    }
    let deployments: BTreeMap<String, &Value> =
        all(&docs, "Deployment").into_iter().map(|d| (text(&d["metadata"]["name"]).to_string(), d)).collect();
    let want_names: BTreeSet<String> = versions.iter().map(|(v, ..)| format!("{}-{v}", rel.name)).collect();
    f.eq("Deployments", deployments.keys().cloned().collect::<BTreeSet<_>>(), want_names);
    let counts = replicas(&docs);
    let hpas = all(&docs, "HorizontalPodAutoscaler");
    let mut templates = BTreeMap::new();
    let mut pod_labels: BTreeMap<&str, Value> = BTreeMap::new();
    for &(version, image, pods) in &versions {
        let name = format!("{}-{version}", rel.name);
        let Some(d) = deployments.get(&name) else { continue };
        let targeting: Vec<&Value> =
            hpas.iter().filter(|h| h["spec"]["scaleTargetRef"]["name"] == name.as_str()).copied().collect();
        match pods {
            Pods::Fixed(n) => {
                f.eq(&format!("{name} spec.replicas"), counts[&name], Some(n));
                f.eq(&format!("HPAs of {name}"), targeting.len(), 0);
            }
            Pods::Hpa(min) => {
                f.check(d["spec"].get("replicas").is_none(), || {
                    format!("{name} is autoscaled but has spec.replicas {}", d["spec"]["replicas"])
                });
                f.eq(&format!("HPAs of {name}"), targeting.len(), 1);
                if let ([hpa], Some((max, cpu))) = (&targeting[..], rel.autoscaling) {
                    let spec = &hpa["spec"];
                    f.eq(&format!("{name} HPA minReplicas"), spec["minReplicas"].as_u64(), Some(min));
                    f.eq(&format!("{name} HPA maxReplicas"), spec["maxReplicas"].as_u64(), Some(max.max(min)));
                    f.eq(&format!("{name} HPA target kind"), text(&spec["scaleTargetRef"]["kind"]), "Deployment");
                    f.eq(
                        &format!("{name} HPA target apiVersion"),
                        text(&spec["scaleTargetRef"]["apiVersion"]),
                        "apps/v1",
                    );
                    let cpu_target = spec["metrics"].as_array().into_iter().flatten().find_map(|m| {
                        (m["resource"]["name"] == "cpu").then(|| m["resource"]["target"]["averageUtilization"].as_u64())
                    });
                    f.eq(&format!("{name} HPA CPU target"), cpu_target, Some(Some(cpu)));
                }
            }
        }

        let template = &d["spec"]["template"];
        let labels = &template["metadata"]["labels"];
        f.eq(&format!("{name} pod label app"), text(&labels["app"]), rel.name);
        f.eq(&format!("{name} pod label version"), text(&labels["version"]), version);
        f.check(selects(&d["spec"]["selector"]["matchLabels"], labels), || {
            format!("{name}: selector {} does not select its pods {labels}", d["spec"]["selector"]["matchLabels"])
        });
        match &rel.template {
            Some(spec) => {
                f.eq(&format!("{name} spec.template"), template, &expected_template(spec, rel.name, version, image))
            }
            None => {
                let containers = template["spec"]["containers"].as_array().cloned().unwrap_or_default();
                f.eq(&format!("{name} containers"), containers.len(), 1);
                if let Some(c) = containers.first() {
                    f.eq(&format!("{name} container name"), text(&c["name"]), rel.name);
                    f.eq(&format!("{name} container image"), text(&c["image"]), image);
                    let ports: Vec<u64> = c["ports"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|p| p["containerPort"].as_u64())
                        .collect();
                    f.eq(&format!("{name} container ports"), ports, vec![rel.port]);
                }
            }
        }
        pod_labels.insert(version, labels.clone());
        templates.insert(name, template.clone());
    }
    let autoscaled = versions.iter().filter(|v| matches!(v.2, Pods::Hpa(_))).count();
    f.eq("number of HPAs", hpas.len(), autoscaled);

    // The Service, unless the spec says another tool owns it; it selects every version's pods.
    let services = all(&docs, "Service");
    match rel.service_port {
        None => f.eq("Services with create: false", services.len(), 0),
        Some(port) => {
            f.eq("Services", services.len(), 1);
            if let [s] = &services[..] {
                f.eq("Service name", text(&s["metadata"]["name"]), rel.name);
                let ports: Vec<u64> =
                    s["spec"]["ports"].as_array().into_iter().flatten().filter_map(|p| p["port"].as_u64()).collect();
                f.eq("Service ports", ports, vec![port]);
                let selector = &s["spec"]["selector"];
                f.check(selector.as_object().is_some_and(|m| !m.is_empty()), || format!("Service selector {selector}"));
                for (version, labels) in &pod_labels {
                    f.check(selects(selector, labels), || {
                        format!("Service selector {selector} misses the pods of {version} {labels}")
                    });
                }
            }
        }
    }

    // DestinationRule: a subset for exactly the versions whose Deployments exist.
    let rules = all(&docs, "DestinationRule");
    f.eq("DestinationRules", rules.len(), 1);
    let mut host = String::new();
    let mut subsets = BTreeSet::new();
    if let [dr] = &rules[..] {
        f.eq("DestinationRule name", text(&dr["metadata"]["name"]), rel.name);
        host = text(&dr["spec"]["host"]).to_string();
        let local = format!("{}.{}", rel.name, rel.namespace);
        f.check(host == rel.name || host == local || host.starts_with(&format!("{local}.")), || {
            format!("DestinationRule host `{host}` is not the release's Service")
        });
        for subset in dr["spec"]["subsets"].as_array().into_iter().flatten() {
            let name = text(&subset["name"]).to_string();
            f.eq(&format!("subset {name} version label"), text(&subset["labels"]["version"]), name.as_str());
            if let Some(labels) = pod_labels.get(name.as_str()) {
                f.check(selects(&subset["labels"], labels), || {
                    format!("subset {name} labels {} do not select its pods {labels}", subset["labels"])
                });
            }
            f.check(subsets.insert(name.clone()), || format!("subset {name} is defined twice"));
        }
        let deployed: BTreeSet<String> = versions.iter().map(|(v, ..)| v.to_string()).collect();
        f.eq("DestinationRule subsets", &subsets, &deployed);
    }

    // VirtualService: hosts and gateways as given, the match rule first, the catch-all last.
    let services = all(&docs, "VirtualService");
    f.eq("VirtualServices", services.len(), 1);
    let [vs] = &services[..] else { return templates };
    f.eq("VirtualService name", text(&vs["metadata"]["name"]), rel.name);
    f.eq("VirtualService hosts", strings(&vs["spec"]["hosts"]), rel.hosts.iter().map(|h| h.to_string()).collect());
    f.eq(
        "VirtualService gateways",
        strings(&vs["spec"]["gateways"]),
        rel.gateways.iter().map(|g| g.to_string()).collect(),
    );
    let http = vs["spec"]["http"].as_array().cloned().unwrap_or_default();
    let canary = rel.canary.map(|c| c.0);
    for route in &http {
        for dest in route["route"].as_array().into_iter().flatten() {
            let (to, subset) = (text(&dest["destination"]["host"]), text(&dest["destination"]["subset"]));
            f.eq(&format!("destination host of subset {subset}"), to, host.as_str());
            f.check(subsets.contains(subset), || format!("a route names subset `{subset}`, which is not defined"));
            if want.weight.is_none() {
                f.check(Some(subset) != canary, || format!("a route names the canary subset `{subset}`"));
            }
        }
    }
    let Some(last) = http.last() else {
        f.check(false, || "the VirtualService has no http routes".to_string());
        return templates;
    };
    if last.get("match").is_some() {
        f.check(false, || format!("the last route is not the catch-all: {last}"));
    } else {
        let split = weights(vs);
        let by_subset: BTreeMap<String, u64> = split.iter().cloned().collect();
        f.eq("catch-all subsets are distinct", by_subset.len(), split.len());
        f.eq("catch-all weights sum", split.iter().map(|(_, w)| w).sum::<u64>(), 100);
        let stable = rel.stable.0.to_string();
        let mut expected = BTreeMap::new();
        match (want.weight, canary) {
            (Some(w), Some(c)) => {
                expected.insert(stable, 100 - w);
                expected.insert(c.to_string(), w);
            }
            _ => {
                expected.insert(stable, 100);
            }
        }
        let nonzero: BTreeMap<String, u64> = by_subset.into_iter().filter(|(_, w)| *w > 0).collect();
        expected.retain(|_, w| *w > 0);
        f.eq("catch-all weights", nonzero, expected);
    }
    if want.matches.is_empty() {
        f.eq("number of http routes (no matches in this state)", http.len(), 1);
    } else {
        f.eq("number of http routes (match rule + catch-all)", http.len(), 2);
        let first = &http[0];
        let to: Vec<(&str, Option<u64>)> = first["route"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|d| (text(&d["destination"]["subset"]), d["weight"].as_u64()))
            .filter(|(_, w)| *w != Some(0))
            .collect();
        let all_to_canary = !to.is_empty() && to.iter().all(|(s, _)| Some(*s) == canary);
        f.check(all_to_canary, || format!("the match rule must send everything to the canary, routes {to:?}"));
        let entries = first["match"].as_array().cloned().unwrap_or_default();
        f.eq("match entries (ORed, one list item each)", entries.len(), want.matches.len());
        for conds in &want.matches {
            let reasons: Vec<String> =
                entries.iter().filter_map(|e| satisfies(e, conds).err().map(|why| format!("{e}: {why}"))).collect();
            f.check(reasons.len() < entries.len(), || {
                format!("no match entry says {conds:?} (ANDed in one entry):\n    {}", reasons.join("\n    "))
            });
        }
    }
    templates
}

/// Checks every state `kanari plan` lists for `rel` against `expects`, then that each
/// Deployment's pod template is the same in every state (moving never restarts a pod).
fn check_release(repo: &Path, rel: &Release, expects: &[Expect]) {
    let plan = ok_in(repo, &["plan", rel.selector, "--format", "json"]);
    let plan: Value = serde_json::from_str(&plan.stdout).expect("plan --format json prints JSON");
    assert_eq!(plan.as_array().map(Vec::len), Some(1), "one release: {plan}");
    assert_eq!(plan[0]["name"], format!("{}/{}", rel.namespace, rel.name));
    let states: Vec<&str> = plan[0]["states"].as_array().expect("states").iter().map(|s| text(&s["state"])).collect();
    let wanted: Vec<&str> = expects.iter().map(|e| e.state).collect();
    assert_eq!(states, wanted, "the states of {} in plan --format json", rel.selector);

    let mut f = Findings::default();
    let mut templates: BTreeMap<String, Vec<(&str, Value)>> = BTreeMap::new();
    for want in expects {
        for (deployment, template) in check_state(&mut f, repo, rel, want) {
            templates.entry(deployment).or_default().push((want.state, template));
        }
    }
    f.at = rel.selector.to_string();
    for (deployment, list) in &templates {
        let (first_state, first) = &list[0];
        for (state, template) in &list[1..] {
            f.check(template == first, || {
                format!("{deployment}: spec.template in {state} differs from {first_state}:\n{template}\n{first}")
            });
        }
    }
    assert!(f.problems.is_empty(), "{} problem(s):\n{}", f.problems.len(), f.problems.join("\n"));
}

fn checkout() -> Release {
    Release {
        selector: "shop/checkout",
        name: "checkout",
        namespace: "shop",
        hosts: &["checkout.example.com", "checkout.shop.svc.cluster.local"],
        gateways: &["istio-system/public-gw", "mesh"],
        service_port: None,
        stable: ("stable-2024", "registry.example.com/shop/checkout:2024.12.1"),
        canary: Some(("rc1", "registry.example.com/shop/checkout:2025.1.0-rc1")),
        autoscaling: Some((20, 65)),
        template: Some(spec_template(SHOP, "checkout")),
        port: 8443,
    }
}

#[test]
fn checkout_autoscaled_behind_a_gateway_with_cookie_and_uri_matches() {
    use Pods::{Fixed, Hpa};
    let repo = shop_repo();
    // minReplicas 4: the canary HPA's minimum is ceil(4 × weight / 100), at least 1 (5% → 1,
    // 30% → 2); non-zero overrides set HPA minimums, and a version at 0 is `replicas: 0` without
    // an HPA.
    let beta = vec![
        vec![Cond::Cookie("beta", "yes", &[])],
        vec![Cond::Uri("prefix", "/api/v2/"), Cond::Header("x-client", "regex", "^mobile-(ios|android)$")],
    ];
    let expects = [
        at("steady", None, Hpa(4), None),
        at("prepare", None, Hpa(4), Some(Hpa(1))),
        at("beta-testers", Some(0), Hpa(4), Some(Hpa(1))).matching(beta),
        at("canary-5", Some(5), Hpa(4), Some(Hpa(1))).matching(vec![
            vec![Cond::Header("x-canary", "exact", "always")],
            vec![
                Cond::Cookie("ab.test", "v1.5+x", &["abxtest=v1x5x", "ab.test=v1x55x", "a=1; ab.test=v1.5x"]),
                Cond::Uri("exact", "/checkout/v2"),
            ],
        ]),
        at("thirty", Some(30), Hpa(4), Some(Hpa(2))),
        at("half", Some(50), Hpa(8), Some(Hpa(6))),
        at("full", Some(100), Fixed(0), Some(Hpa(4))),
        at("aborted", None, Hpa(4), Some(Fixed(0))),
    ];
    check_release(repo.path(), &checkout(), &expects);
}

#[test]
fn search_with_fixed_replicas_regex_uri_and_anded_headers() {
    use Pods::Fixed;
    let repo = shop_repo();
    let rel = Release {
        selector: "search",
        name: "search",
        namespace: "catalog",
        hosts: &["search"],
        gateways: &[],
        service_port: Some(8080),
        stable: ("blue", "ghcr.io/acme/search:1.4.2"),
        canary: Some(("green", "ghcr.io/acme/search:1.5.0")),
        autoscaling: None,
        template: None,
        port: 8080,
    };
    // replicas 7: the canary runs ceil(7 × weight / 100) (20% → 2, 30% → 3, 80% → 6), and
    // `prepare` already runs the first stage's count.
    let staff = vec![
        vec![Cond::Uri("regex", "^/internal/.*")],
        vec![Cond::Header("x-employee", "prefix", "acme-"), Cond::Header("x-region", "exact", "eu-west-1")],
    ];
    let expects = [
        at("steady", None, Fixed(7), None),
        at("prepare", None, Fixed(7), Some(Fixed(2))),
        at("staff", Some(20), Fixed(7), Some(Fixed(2))).matching(staff),
        at("thirty", Some(30), Fixed(7), Some(Fixed(3))),
        at("most", Some(80), Fixed(2), Some(Fixed(6))),
        at("all-in", Some(100), Fixed(0), Some(Fixed(9))),
        at("aborted", None, Fixed(7), Some(Fixed(0))),
    ];
    check_release(repo.path(), &rel, &expects);

    // The same state renders to the same bytes.
    let outs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for out in &outs {
        let out = out.path().join("staff");
        ok_in(repo.path(), &["render", "search", "--stage", "staff", "--out", out.to_str().unwrap()]);
    }
    assert_eq!(tree(outs[0].path()), tree(outs[1].path()), "two renders of one state differ");
}

#[test]
fn steady_only_release_sets_the_image_of_its_only_container() {
    let repo = shop_repo();
    let rel = Release {
        selector: "finance/ledger",
        name: "ledger",
        namespace: "finance",
        hosts: &["ledger.finance.svc.cluster.local"],
        gateways: &[],
        service_port: Some(5000),
        stable: ("v2024-11", "quay.io/acme/ledger:2024.11"),
        canary: None,
        autoscaling: None,
        template: Some(spec_template(LEDGER, "ledger")),
        port: 5000,
    };
    check_release(repo.path(), &rel, &[at("steady", None, Pods::Fixed(3), None)]);

    // A release without a canary has no `prepare`: bad usage, and nothing is written.
    let out = repo.path().join("out");
    let run = kanari(
        repo.path(),
        &[
            "-C",
            repo.path().to_str().unwrap(),
            "render",
            "ledger",
            "--stage",
            "prepare",
            "--out",
            out.to_str().unwrap(),
        ],
    );
    assert_eq!(run.code, 2, "render --stage prepare of a release without a canary:\n{}\n{}", run.stdout, run.stderr);
    assert!(!out.exists(), "a failed render wrote {}", out.display());
}

#[test]
fn default_outputs_are_overlays_namespace_name_and_render_alone() {
    let repo = shop_repo();
    let root = repo.path();
    ok_in(root, &["render"]);
    let outputs = ["overlays/shop/checkout", "overlays/catalog/search", "overlays/finance/ledger"];
    let dirs: BTreeSet<String> = tree(&root.join("overlays"))
        .keys()
        .filter(|p| p.components().count() == 2)
        .map(|p| format!("overlays/{}", p.display()))
        .collect();
    assert_eq!(dirs, outputs.iter().map(|s| s.to_string()).collect(), "overlay folders");
    for dir in outputs {
        let docs = documents(&kustomize(&root.join(dir)));
        assert!(!all(&docs, "VirtualService").is_empty(), "{dir} builds a VirtualService");
        let k = documents(&std::fs::read_to_string(root.join(dir).join("kustomization.yaml")).unwrap());
        assert_eq!(k[0]["metadata"]["annotations"]["kanari.dev/stage"], "steady", "{dir}");
    }

    // Moving one release touches its overlay alone; the others stay byte for byte.
    let search_before = tree(&root.join("overlays/catalog/search"));
    let ledger_before = tree(&root.join("overlays/finance/ledger"));
    ok_in(root, &["render", "shop/checkout", "--stage", "half"]);
    assert_eq!(tree(&root.join("overlays/catalog/search")), search_before);
    assert_eq!(tree(&root.join("overlays/finance/ledger")), ledger_before);
    let checkout = root.join("overlays/shop/checkout");
    let docs = documents(&kustomize(&checkout));
    let vs = one(&docs, "VirtualService");
    let mut split = weights(vs);
    split.sort();
    assert_eq!(split, vec![("rc1".to_string(), 50), ("stable-2024".to_string(), 50)]);
    assert_eq!(all(&docs, "Service").len(), 0, "checkout's Service is not kanari's");

    // Without --stage, render keeps the state the overlay records.
    let before = tree(&checkout);
    ok_in(root, &["render", "checkout"]);
    assert_eq!(tree(&checkout), before, "re-rendering the recorded state changed the overlay");
}
