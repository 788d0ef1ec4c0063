//! Make before break, read back from Git: releases are driven with the real binary in real
//! repositories (promote, `--to`, approve, abort, restart, a changed canary, the finish), then
//! every commit that changed the release's overlay is read back with `git`, built with
//! `kubectl kustomize`, and every two consecutive ones, A then B, must keep the four rules of
//! the README ("Transitions: make before break, in every commit"):
//!
//! 1. a subset routed in B is defined in A;
//! 2. a subset routed in A is still defined in B;
//! 3. for every version v routed in B: `pods_A(v) >= need_B(v)`;
//! 4. for every version v routed in A: `pods_B(v) >= need_A(v)`.
//!
//! Everything is read from the committed files alone, not from kanari's code:
//!
//! - defined: the DestinationRule's `spec.subsets[].name`; with an HTTPRoute (`router:
//!   gateway-api`), the `version` selector of each Service of the overlay;
//! - the release's routes: the HTTP rules with a destination whose host is the DestinationRule's
//!   host, both read as the Service they name (`reviews` in `bookinfo` is
//!   `reviews.bookinfo.svc.cluster.local`); a VirtualService of the user's also routes to other
//!   Services, and those rules are not the release's;
//! - routed: a weight above 0 in the weighted rule (the last of the release's routes: kanari's
//!   catch-all, or the user's named route, which may have a `match` of its own; a lone
//!   destination without a weight takes 100), or a destination of a release's rule before it
//!   with a `match`, or the `mirror` of a release's rule whose `mirrorPercentage.value` is above 0
//!   (Istio's default is 100); with an HTTPRoute, a backendRef (to the Service of v) with a weight above 0
//!   in the rule without `matches`, or a backendRef of a rule with `matches`;
//! - share: the weighted rule's weight (0 when absent), plus the percent mirrored to it (copies
//!   are real load), at most 100; an HTTPRoute's weights are proportions, so its share is the
//!   weight's part of their sum, in percent;
//! - pods: the `spec.replicas` of the Deployment whose `version` label is v, else the
//!   `minReplicas` of the HorizontalPodAutoscaler that targets it, else 1 (Kubernetes'
//!   default); no Deployment is 0 pods;
//! - full: the spec's `replicas` (default 1), or `autoscaling.minReplicas`, from the spec in the
//!   same commit as the overlay;
//! - need: 0 when v takes no traffic, else `max(1, min(ceil(full * share / 100), OVR))`, where
//!   OVR is the explicit `replicas.stable` or `replicas.canary` of the stage the overlay's
//!   `kanari.dev/stage` names, for v's role (the canary is the version of the
//!   `kanari.dev/canary` annotation). An explicit count below the computed one is the user's own
//!   capacity decision, so it lowers the need; it never raises it.
//!
//! Versions are named by their subsets: a Deployment's `version` label and the
//! `kanari.dev/canary` annotation are read through the DestinationRule's subset labels (a
//! version `6.5.0` is the subset `6-5-0`).
//!
//! Every overlay must also build with `kubectl kustomize`, and name in its routes only
//! subsets (or version Services) it defines itself. [`checker`] shows with hand-written overlays that each
//! rule can fail.

mod bookinfo;
mod checker;
mod drive;
mod fleet;
mod fleet_props;
mod gateway;
mod own;
mod props;
mod semver;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_json::Value;

use crate::{documents, git, kustomize};

/// One committed overlay of a release, as read back from Git.
#[derive(Clone, Debug)]
pub struct Overlay {
    /// The commit and its subject, for messages.
    pub commit: String,
    pub subject: String,
    /// `kanari.dev/stage` and `kanari.dev/canary`.
    pub stage: String,
    pub canary: Option<String>,
    /// File name in the overlay folder → text.
    pub files: BTreeMap<String, String>,
    /// The DestinationRule's subsets.
    pub defined: BTreeSet<String>,
    /// Every subset the VirtualService names, at any weight.
    pub named: BTreeSet<String>,
    /// The catch-all rule's weights.
    pub shares: BTreeMap<String, u64>,
    /// The destinations of the rules with a `match`.
    pub matched: BTreeSet<String>,
    /// The percent of the requests mirrored to each subset.
    pub mirrored: BTreeMap<String, u64>,
    /// Pods by version.
    pub pods: BTreeMap<String, u64>,
}

impl Overlay {
    /// Reads an overlay from its files.
    pub fn parse(commit: &str, subject: &str, files: BTreeMap<String, String>) -> Result<Overlay, String> {
        let at = format!("{} `{subject}`", short(commit));
        let kustomization = files.get("kustomization.yaml").ok_or(format!("{at}: no kustomization.yaml"))?;
        let annotations = documents(kustomization)[0]["metadata"]["annotations"].clone();
        let stage = text(&annotations["kanari.dev/stage"]).ok_or(format!("{at}: no kanari.dev/stage annotation"))?;
        let canary = text(&annotations["kanari.dev/canary"]);
        let docs: Vec<Value> =
            files.iter().filter(|(name, _)| *name != "kustomization.yaml").flat_map(|(_, t)| documents(t)).collect();
        let of = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
        let mut overlay = Overlay {
            commit: commit.to_string(),
            subject: subject.to_string(),
            stage,
            canary,
            files: files.clone(),
            defined: BTreeSet::new(),
            named: BTreeSet::new(),
            shares: BTreeMap::new(),
            matched: BTreeSet::new(),
            mirrored: BTreeMap::new(),
            pods: BTreeMap::new(),
        };
        let routes: Vec<&Value> = of("HTTPRoute").collect();
        if !routes.is_empty() {
            overlay.http_route(&at, &routes, of("Service"))?;
            overlay.count_pods(&at, &docs, &BTreeMap::new())?;
            return Ok(overlay);
        }
        // Version label → subset name.
        let mut subset_of: BTreeMap<String, String> = BTreeMap::new();
        for dr in of("DestinationRule") {
            for subset in list(&dr["spec"]["subsets"]) {
                let Some(name) = text(&subset["name"]) else { continue };
                if let Some(label) = text(&subset["labels"]["version"]) {
                    subset_of.insert(label, name.clone());
                }
                overlay.defined.insert(name);
            }
        }
        let by_subset = |label: String| subset_of.get(&label).cloned().unwrap_or(label);
        overlay.canary = overlay.canary.take().map(by_subset);
        let vss: Vec<&Value> = of("VirtualService").collect();
        if vss.len() != 1 {
            return Err(format!("{at}: {} VirtualServices", vss.len()));
        }
        let namespace = text(&vss[0]["metadata"]["namespace"]).unwrap_or_default();
        let host = of("DestinationRule").find_map(|d| text(&d["spec"]["host"]));
        let ours = |destination: &Value| match (&host, text(&destination["host"])) {
            (Some(own), Some(to)) => service(own, &namespace) == service(&to, &namespace),
            _ => true,
        };
        let http: Vec<&Value> = list(&vss[0]["spec"]["http"])
            .filter(|rule| {
                list(&rule["route"]).any(|r| ours(&r["destination"])) || rule.get("mirror").is_some_and(ours)
            })
            .collect();
        for (i, rule) in http.iter().enumerate() {
            let routes: Vec<&Value> = list(&rule["route"]).filter(|r| ours(&r["destination"])).collect();
            let subsets = routes.iter().filter_map(|r| text(&r["destination"]["subset"]));
            overlay.named.extend(subsets.clone());
            if rule.get("mirror").is_some_and(ours)
                && let Some(mirror) = text(&rule["mirror"]["subset"])
            {
                let percent = rule["mirrorPercentage"]["value"].as_f64().map_or(100, |p| p.ceil() as u64);
                *overlay.mirrored.entry(mirror.clone()).or_default() += percent;
                overlay.named.insert(mirror);
            }
            if rule.get("match").is_some() && i + 1 < http.len() {
                overlay.matched.extend(subsets);
            }
        }
        if let Some(weighted) = http.last() {
            let routes: Vec<&Value> = list(&weighted["route"]).collect();
            let lone = routes.len() == 1;
            for r in routes {
                let subset = text(&r["destination"]["subset"]).ok_or(format!("{at}: a route without a subset"))?;
                let weight = r["weight"].as_u64().unwrap_or(if lone { 100 } else { 0 });
                *overlay.shares.entry(subset).or_default() += weight;
            }
        }
        overlay.count_pods(&at, &docs, &subset_of)?;
        Ok(overlay)
    }

    /// Gateway API: a version is defined by a Service that selects it (its `version` selector),
    /// and named by a backendRef to that Service (a backend that is no Service of the overlay
    /// stands for itself, so it is never defined); the catch-all is the rule without `matches`.
    fn http_route<'v>(
        &mut self,
        at: &str,
        routes: &[&Value],
        services: impl Iterator<Item = &'v Value>,
    ) -> Result<(), String> {
        if routes.len() != 1 {
            return Err(format!("{at}: {} HTTPRoutes", routes.len()));
        }
        let mut selects = BTreeMap::new();
        for s in services {
            if let (Some(name), Some(version)) = (text(&s["metadata"]["name"]), text(&s["spec"]["selector"]["version"]))
            {
                self.defined.insert(version.clone());
                selects.insert(name, version);
            }
        }
        let version = |b: &Value| {
            let name = text(&b["name"]).unwrap_or_default();
            selects.get(&name).cloned().unwrap_or(name)
        };
        let rules: Vec<&Value> = list(&routes[0]["spec"]["rules"]).collect();
        for rule in &rules {
            let backends = list(&rule["backendRefs"]).map(version);
            self.named.extend(backends.clone());
            // A RequestMirror filter copies its percent (all without one) to its backend.
            for filter in list(&rule["filters"]).filter(|f| f["type"] == "RequestMirror") {
                let to = version(&filter["requestMirror"]["backendRef"]);
                let percent = filter["requestMirror"]["percent"].as_u64().unwrap_or(100);
                *self.mirrored.entry(to.clone()).or_default() += percent;
                self.named.insert(to);
            }
            if rule.get("matches").is_some() {
                self.matched.extend(backends);
            }
        }
        if let Some(catch_all) = rules.iter().find(|rule| rule.get("matches").is_none()) {
            let backends: Vec<&Value> = list(&catch_all["backendRefs"]).collect();
            let weight = |b: &Value| b["weight"].as_u64().unwrap_or(1);
            let total: u64 = backends.iter().copied().map(weight).sum();
            for b in backends {
                // Weights are proportions: each backend's share of 100.
                let share = (weight(b) * 100).checked_div(total).unwrap_or(0);
                *self.shares.entry(version(b)).or_default() += share;
            }
        }
        Ok(())
    }

    /// Pods by version, from the Deployments and HorizontalPodAutoscalers; a version label is
    /// read as its subset where `subset_of` names one.
    fn count_pods(&mut self, at: &str, docs: &[Value], subset_of: &BTreeMap<String, String>) -> Result<(), String> {
        let by_subset = |label: String| subset_of.get(&label).cloned().unwrap_or(label);
        let of = |kind: &'static str| docs.iter().filter(move |d| d["kind"] == kind);
        let overlay = self;
        let hpa_min: BTreeMap<String, u64> = of("HorizontalPodAutoscaler")
            .filter_map(|h| {
                Some((text(&h["spec"]["scaleTargetRef"]["name"])?, h["spec"]["minReplicas"].as_u64().unwrap_or(1)))
            })
            .collect();
        for d in of("Deployment") {
            let version = text(&d["metadata"]["labels"]["version"])
                .or_else(|| text(&d["spec"]["template"]["metadata"]["labels"]["version"]))
                .ok_or(format!("{at}: a Deployment without a version label"))?;
            let name = text(&d["metadata"]["name"]).unwrap_or_default();
            let pods = d["spec"]["replicas"].as_u64().or_else(|| hpa_min.get(&name).copied()).unwrap_or(1);
            *overlay.pods.entry(by_subset(version)).or_default() += pods;
        }
        Ok(())
    }

    /// v takes traffic: a weight above 0 in the catch-all rule, a mirror above 0%, or a match
    /// sends to it.
    pub fn routed(&self, v: &str) -> bool {
        self.share(v) > 0 || self.matched.contains(v)
    }

    /// Every version that takes traffic.
    pub fn routed_all(&self) -> BTreeSet<String> {
        self.shares
            .keys()
            .chain(&self.matched)
            .chain(self.mirrored.keys())
            .filter(|v| self.routed(v))
            .cloned()
            .collect()
    }

    /// The catch-all weight plus the percent mirrored to v, at most 100.
    pub fn share(&self, v: &str) -> u64 {
        (self.shares.get(v).copied().unwrap_or(0) + self.mirrored.get(v).copied().unwrap_or(0)).min(100)
    }

    pub fn pods(&self, v: &str) -> u64 {
        self.pods.get(v).copied().unwrap_or(0)
    }

    /// What the overlay routes and runs, in a line.
    pub fn summary(&self) -> String {
        format!(
            "{}: canary {:?}, defined {:?}, catch-all {:?}, matched {:?}, mirrored {:?}, pods {:?}",
            self.label(),
            self.canary,
            self.defined,
            self.shares,
            self.matched,
            self.mirrored,
            self.pods
        )
    }

    /// `abc1234 (web: promote a -> b, stage b)`.
    fn label(&self) -> String {
        format!("{} `{}` [stage {}]", short(&self.commit), self.subject, self.stage)
    }
}

/// The Service a destination host names, as `name.namespace`, for a route in `namespace`: a
/// short name is in that namespace; `a.b`, `a.b.svc` and `a.b.svc.cluster.local` are `a.b`.
fn service(host: &str, namespace: &str) -> String {
    let parts: Vec<&str> = host.split('.').collect();
    match parts[..] {
        [name] => format!("{name}.{namespace}"),
        [name, ns] | [name, ns, "svc"] | [name, ns, "svc", "cluster", "local"] => format!("{name}.{ns}"),
        _ => host.to_string(),
    }
}

fn short(commit: &str) -> &str {
    &commit[..commit.len().min(10)]
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn list(v: &Value) -> impl Iterator<Item = &Value> + Clone {
    v.as_array().into_iter().flatten()
}

/// The pods a version runs at 100% of the traffic: `replicas` (default 1), or with autoscaling
/// its `minReplicas`.
pub fn full(spec: &Value) -> u64 {
    let s = &spec["spec"];
    match s.get("autoscaling") {
        Some(a) if !a.is_null() => a["minReplicas"].as_u64().unwrap_or(1),
        _ => s["replicas"].as_u64().unwrap_or(1),
    }
}

/// The explicit count the stage `stage` of `spec` sets for a role, if any.
fn explicit(spec: &Value, stage: &str, canary: bool) -> Option<u64> {
    let found = list(&spec["spec"]["stages"]).find(|s| text(&s["name"]).as_deref() == Some(stage))?;
    found["replicas"][if canary { "canary" } else { "stable" }].as_u64()
}

/// The pods v needs in overlay `x`, made from `spec`.
pub fn need(x: &Overlay, spec: &Value, v: &str) -> u64 {
    if !x.routed(v) {
        return 0;
    }
    let computed = (full(spec) * x.share(v)).div_ceil(100);
    let canary = x.canary.as_deref() == Some(v);
    let limit = explicit(spec, &x.stage, canary).unwrap_or(u64::MAX);
    computed.min(limit).max(1)
}

/// What a version takes in `x`, for messages: `50%`, `0% + match`, `20% (mirrored 20%)`.
fn traffic(x: &Overlay, v: &str) -> String {
    let matched = if x.matched.contains(v) { " + match" } else { "" };
    let mirrored = x.mirrored.get(v).map(|p| format!(" (mirrored {p}%)")).unwrap_or_default();
    format!("{}%{matched}{mirrored}", x.share(v))
}

/// `1 pod`, `5 pods`.
fn pods(n: u64) -> String {
    if n == 1 { "1 pod".to_string() } else { format!("{n} pods") }
}

/// Checks one overlay on its own: its VirtualService names only subsets it defines.
pub fn check_overlay(x: &Overlay) -> Result<(), String> {
    let missing: Vec<&String> = x.named.difference(&x.defined).collect();
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "{}: the routes name subsets {missing:?} that the overlay does not define ({:?})",
        x.label(),
        x.defined
    ))
}

/// Checks the four rules between consecutive overlays `a` then `b`, made from `spec_a` and
/// `spec_b`; the error names the commits, each broken rule and its numbers.
pub fn check_pair(a: &Overlay, b: &Overlay, spec_a: &Value, spec_b: &Value) -> Result<(), String> {
    let mut broken = Vec::new();
    for v in b.routed_all() {
        if !a.defined.contains(&v) {
            broken.push(format!(
                "rule 1 (no route to a missing subset): `{v}` takes {} in B but A defines only {:?}",
                traffic(b, &v),
                a.defined
            ));
        }
    }
    for v in a.routed_all() {
        if !b.defined.contains(&v) {
            broken.push(format!(
                "rule 2 (no subset pulled from under traffic): `{v}` takes {} in A but B defines only {:?}",
                traffic(a, &v),
                b.defined
            ));
        }
    }
    for v in b.routed_all() {
        let needed = need(b, spec_b, &v);
        if a.pods(&v) < needed {
            broken.push(format!(
                "rule 3 (capacity before traffic): `{v}` takes {} in B and needs {}, but A runs {}",
                traffic(b, &v),
                pods(needed),
                a.pods(&v)
            ));
        }
    }
    for v in a.routed_all() {
        let needed = need(a, spec_a, &v);
        if b.pods(&v) < needed {
            broken.push(format!(
                "rule 4 (no capacity cut under traffic): `{v}` takes {} in A and needs {}, but B runs {}",
                traffic(a, &v),
                pods(needed),
                b.pods(&v)
            ));
        }
    }
    if broken.is_empty() {
        return Ok(());
    }
    Err(format!("A = {} -> B = {}:\n  {}", a.label(), b.label(), broken.join("\n  ")))
}

/// The overlay in folder `dir` of the repository at `commit`.
pub fn overlay_at(repo: &Path, commit: &str, dir: &str) -> Overlay {
    let prefix = format!("{}/", dir.trim_end_matches('/'));
    let listing = git(repo, &["ls-tree", "-r", "--name-only", commit, "--", &prefix]);
    let files = listing
        .lines()
        .map(|path| {
            let name = path.strip_prefix(&prefix).unwrap_or(path).to_string();
            (name, git(repo, &["show", &format!("{commit}:{path}")]))
        })
        .collect();
    let subject = git(repo, &["log", "-1", "--format=%s", commit]).trim().to_string();
    Overlay::parse(commit, &subject, files).unwrap_or_else(|e| panic!("{e}"))
}

/// The spec in `file` at `commit`.
pub fn spec_at(repo: &Path, commit: &str, file: &str) -> Value {
    documents(&git(repo, &["show", &format!("{commit}:{file}")])).remove(0)
}

/// The commits of the current branch that changed `dir`, oldest first.
pub fn history(repo: &Path, dir: &str) -> Vec<String> {
    git(repo, &["log", "--reverse", "--format=%H", "--", dir]).lines().map(str::to_string).collect()
}

/// Checks every committed overlay of the release in `dir` (made from the spec in `spec_file`)
/// and every consecutive pair of them; returns the overlays. When the rules hold, every overlay
/// is also built with `kubectl kustomize` (which fails the test when it cannot).
pub fn check_release(repo: &Path, dir: &str, spec_file: &str) -> Result<Vec<Overlay>, String> {
    check_instance(repo, dir, spec_file, None)
}

/// The spec of a fleet's instance in `cluster`: the cluster's `replicas` or `autoscaling`
/// in place of the spec's.
pub fn instance_spec(mut spec: Value, cluster: &str) -> Value {
    let entry = list(&spec["spec"]["clusters"]).find(|c| text(&c["name"]).as_deref() == Some(cluster)).cloned();
    let Some(entry) = entry else { return spec };
    for key in ["replicas", "autoscaling"] {
        if let Some(value) = entry.get(key).filter(|v| !v.is_null()) {
            let s = spec["spec"].as_object_mut().expect("a spec");
            s.remove("replicas");
            s.remove("autoscaling");
            s.insert(key.to_string(), value.clone());
        }
    }
    spec
}

/// [`check_release`] for a fleet's instance in `cluster` (its spec read with
/// [`instance_spec`]), or for a release that is no fleet (`None`).
pub fn check_instance(repo: &Path, dir: &str, spec_file: &str, cluster: Option<&str>) -> Result<Vec<Overlay>, String> {
    let mut read: Vec<(Overlay, Value)> = Vec::new();
    let mut broken = Vec::new();
    for commit in history(repo, dir) {
        let x = overlay_at(repo, &commit, dir);
        let spec = spec_at(repo, &commit, spec_file);
        let spec = match cluster {
            Some(cluster) => instance_spec(spec, cluster),
            None => spec,
        };
        if let Err(e) = check_overlay(&x) {
            broken.push(e);
        }
        if let Some((a, spec_a)) = read.last()
            && let Err(e) = check_pair(a, &x, spec_a, &spec)
        {
            broken.push(e);
        }
        read.push((x, spec));
    }
    if !broken.is_empty() {
        let log = git(repo, &["log", "--reverse", "--format=%h %s"]);
        return Err(format!("{}\nhistory:\n{log}", broken.join("\n")));
    }
    for (x, _) in &read {
        let folder = tempfile::tempdir().expect("temp dir");
        for (name, body) in &x.files {
            std::fs::write(folder.path().join(name), body).unwrap();
        }
        let built = documents(&kustomize(folder.path()));
        if !built.iter().any(|d| d["kind"] == "VirtualService" || d["kind"] == "HTTPRoute") {
            return Err(format!("{}: kustomize built no VirtualService or HTTPRoute", x.label()));
        }
    }
    Ok(read.into_iter().map(|(x, _)| x).collect())
}
