//! The last gate before anything is written or committed: the rendered overlay checked the way
//! Istio's admission webhook and `istioctl analyze` would check it, plus Kubernetes' name rules.
//! Templates can be overridden, so the check reads the rendered YAML, not the plan. It runs
//! whenever a template is overridden, in `lint` for every state, and in debug builds on every
//! render; see [`crate::commands::Renderer`] for why release builds skip it otherwise. It reads
//! the rendered bytes ([`Rendered`]) and never the renderer: it imports `render` for that value
//! type alone, and nothing after it in the pipeline.
//!
//! What an overlay may hold at all: objects of the kinds kanari makes ([`KINDS`]), of the user's
//! own manifests and of `spec.extraKinds` ([`Rendered::kinds`]); a `kustomization.yaml` with
//! `apiVersion`, `kind`, `metadata` and `resources` naming files of the overlay, nothing else (no
//! remote or `../` resources, generators, patches, `helmCharts`...). A problem in a file that a
//! template of the repository's wrote names that template.
//!
//! Rules, for the fields kanari emits:
//! - every object: a kind, a name that is a DNS-1123 subdomain (a DNS-1035 label for a Service),
//!   a DNS-1123 label namespace, label keys and values Kubernetes accepts;
//! - DestinationRule: unique subset names that are DNS-1123 labels, with valid labels;
//! - VirtualService: hosts and gateways well formed; per rule, weights not negative, not all zero
//!   and summing to 100 when there are several destinations; every routed subset defined by a
//!   DestinationRule of the overlay for that host (Istio accepts a missing one and answers 503),
//!   hosts compared as the Services they name (`web` in `shop` is `web.shop.svc.cluster.local`);
//!   a route to another Service, which a VirtualService of the user's may have, is checked only
//!   when the overlay has a DestinationRule for it;
//!   header names lowercase HTTP tokens; string matches with exactly one of exact, prefix or
//!   regex, regexes that RE2 reads as written, within 1,024 characters ([`crate::re2::check`],
//!   the same check as the spec's); a catch-all rule (one without `match`) only last; a `mirror`
//!   to a subset the overlay defines, its `mirrorPercentage.value` from 0 to 100;
//! - HTTPRoute (`router: gateway-api`): see [`httproute`]; every backend a Service of the overlay;
//! - Deployment: a selector that selects its own pod template; HPA: 1 ≤ minReplicas ≤ maxReplicas.

mod httproute;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::problem::{Problem, Problems};
use crate::re2::Refusal;
use crate::render::{KINDS, KUSTOMIZATION, Rendered, is_plain_file_name};
use crate::spec::{
    HostRefusal, LABEL_KEY_RULE, binds_mesh, check_header_name, host_refusals, is_dns1035_label, is_dns1123_label,
    is_dns1123_subdomain, is_gateway, is_host, is_label_key, is_label_value, service_of,
};

/// Checks a rendered overlay; every problem names the rendered file and the line it is on.
pub(crate) fn check(rendered: &Rendered) -> Result<(), Problems> {
    let mut problems = Problems::default();
    let mut docs = Vec::new();
    let mut release = None;
    for (name, bytes) in &rendered.files {
        let file = rendered.output.join(name);
        let text = String::from_utf8_lossy(bytes).into_owned();
        let template = rendered.templates.get(name).map(PathBuf::as_path);
        // A file may hold several documents: kustomize reads every one.
        match serde_saphyr::from_multiple::<Value>(&text) {
            Ok(found) => {
                let found: Vec<Value> = found.into_iter().filter(|d| !d.is_null()).collect();
                let mut at = At { file: &file, text: &text, template, problems: &mut problems };
                if name == KUSTOMIZATION {
                    kustomization(&mut at, &found, rendered);
                    release = found.first().and_then(|d| d["metadata"]["name"].as_str()).map(str::to_string);
                } else {
                    for doc in &found {
                        allowed_kind(&mut at, doc, &rendered.kinds);
                    }
                    docs.extend(found.into_iter().map(|doc| (file.clone(), text.clone(), template, doc)));
                }
            }
            Err(e) => {
                let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
                let mut at = At { file: &file, text: &text, template, problems: &mut problems };
                at.push(line, column, format!("the rendered file is not YAML: {e}"));
            }
        }
    }
    let subsets = subsets_by_host(&docs);
    let services: BTreeSet<String> = docs
        .iter()
        .filter(|(_, _, _, d)| d["kind"] == "Service")
        .filter_map(|(_, _, _, d)| d["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    for (file, text, template, doc) in &docs {
        let mut at = At { file, text, template: *template, problems: &mut problems };
        object(&mut at, doc);
        match doc["kind"].as_str() {
            Some("DestinationRule") => destination_rule(&mut at, doc),
            Some("VirtualService") => virtual_service(&mut at, doc, &subsets, release.as_deref()),
            Some("HTTPRoute") => httproute::http_route(&mut at, doc, &services),
            Some("Deployment") => deployment(&mut at, doc),
            Some("HorizontalPodAutoscaler") => hpa(&mut at, doc),
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        problems.sort();
        Err(problems)
    }
}

/// One rendered file and the documents it holds: where, its text, the template of the
/// repository's that wrote it, the document.
type Doc<'a> = (PathBuf, String, Option<&'a Path>, Value);

/// Where problems of one rendered file go; the line is found from the offending text.
struct At<'a> {
    file: &'a Path,
    text: &'a str,
    /// The repository's template that wrote the file, named in every problem.
    template: Option<&'a Path>,
    problems: &'a mut Problems,
}

impl At<'_> {
    fn push(&mut self, line: u64, column: u64, message: String) {
        let message = match self.template {
            Some(t) => format!("{message} (written by the template `{}`)", t.display()),
            None => message,
        };
        self.problems.push(Problem::at(self.file, self.text, line, column, message));
    }

    /// A problem on the first line that holds `needle` (the file's first line if none does).
    fn problem(&mut self, needle: &str, message: String) {
        let (line, column) = self
            .text
            .lines()
            .enumerate()
            .find_map(|(i, l)| l.find(needle).map(|c| (i as u64 + 1, c as u64 + 1)))
            .unwrap_or((1, 1));
        self.push(line, column, message);
    }

    /// A problem at the first mapping key `key` (plain or quoted), else as [`At::problem`].
    fn problem_at_key(&mut self, key: &str, message: String) {
        let forms = [format!("{key}:"), format!("\"{key}\":"), format!("'{key}':")];
        let found = self.text.lines().enumerate().find_map(|(i, l)| {
            let rest = l.trim_start().trim_start_matches("- ").trim_start_matches('{').trim_start();
            let column = l.len() - rest.len();
            forms.iter().any(|f| rest.starts_with(f.as_str())).then(|| (i as u64 + 1, column as u64 + 1))
        });
        match found {
            Some((line, column)) => self.push(line, column, message),
            None => self.problem(key, message),
        }
    }
}

/// A host as the Service it names (`name.namespace`) for an object in `namespace`; any other
/// host as written.
fn service_key(host: &str, namespace: &str) -> String {
    service_of(host, namespace).map_or_else(|| host.to_string(), |(name, ns)| format!("{name}.{ns}"))
}

fn namespace_of(doc: &Value) -> &str {
    doc["metadata"]["namespace"].as_str().unwrap_or_default()
}

/// An object of a kind the overlay may hold: kanari's own, or one of `kinds` (`Kind`, or
/// `group/Kind` with `core` the core group).
fn allowed_kind(at: &mut At, doc: &Value, kinds: &BTreeSet<String>) {
    let Some(kind) = doc["kind"].as_str() else { return };
    let api_version = doc["apiVersion"].as_str().unwrap_or_default();
    let group = api_version.rsplit_once('/').map_or("core", |(group, _)| group);
    if KINDS.contains(&kind) || kinds.contains(kind) || kinds.contains(&format!("{group}/{kind}")) {
        return;
    }
    let message = format!(
        "the overlay may not hold a `{kind}` ({api_version}): kanari makes {}; list it in the spec's `extraKinds` to allow it",
        KINDS.join(", ")
    );
    let line = at.text.lines().position(|l| l.trim_end() == format!("kind: {kind}"));
    match line {
        Some(i) => at.push(i as u64 + 1, 1, message),
        None => at.problem(kind, message),
    }
}

/// The keys a `kustomization.yaml` may hold: anything else (generators, patches, `helmCharts`,
/// components) would put in the overlay what kanari did not make.
const KUSTOMIZATION_KEYS: [&str; 4] = ["apiVersion", "kind", "metadata", "resources"];

/// The overlay's index: one document, of [`KUSTOMIZATION_KEYS`] only, its resources files of the
/// overlay itself.
fn kustomization(at: &mut At, docs: &[Value], rendered: &Rendered) {
    let [doc] = docs else {
        at.problem("kind", format!("`{KUSTOMIZATION}` must be one YAML document, not {}", docs.len()));
        return;
    };
    let Some(map) = doc.as_object() else {
        at.problem("kind", format!("`{KUSTOMIZATION}` must be a mapping"));
        return;
    };
    for key in map.keys().filter(|k| !KUSTOMIZATION_KEYS.contains(&k.as_str())) {
        at.problem_at_key(
            key,
            format!("`{KUSTOMIZATION}` may hold only `apiVersion`, `kind`, `metadata` and `resources`, not `{key}`"),
        );
    }
    let Some(resources) = doc["resources"].as_array() else {
        if doc.get("resources").is_some() {
            at.problem_at_key("resources", "`resources` must be a list of the overlay's files".into());
        }
        return;
    };
    for resource in resources {
        let name = resource.as_str().map_or_else(|| resource.to_string(), str::to_string);
        let own = resource.as_str().is_some_and(|n| is_plain_file_name(n) && n != KUSTOMIZATION);
        if !own || !rendered.files.contains_key(&name) {
            at.problem(
                &name,
                format!("the resource `{name}` is not a file of the overlay: an overlay lists only its own files (no URL, no path, no `..`)"),
            );
        }
    }
}

fn subsets_by_host(docs: &[Doc]) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (_, _, _, doc) in docs.iter().filter(|(_, _, _, d)| d["kind"] == "DestinationRule") {
        let host = service_key(doc["spec"]["host"].as_str().unwrap_or_default(), namespace_of(doc));
        let names = doc["spec"]["subsets"].as_array().into_iter().flatten().filter_map(|s| s["name"].as_str());
        out.entry(host).or_default().extend(names.map(str::to_string));
    }
    out
}

fn object(at: &mut At, doc: &Value) {
    let kind = doc["kind"].as_str().unwrap_or_default();
    if kind.is_empty() || doc["apiVersion"].as_str().is_none_or(str::is_empty) {
        at.problem("kind", "every object needs `apiVersion` and `kind`".into());
    }
    let name = doc["metadata"]["name"].as_str().unwrap_or_default();
    let ok = if kind == "Service" { is_dns1035_label(name) } else { is_dns1123_subdomain(name) };
    if !ok {
        at.problem("name:", format!("{kind} name `{name}` is not a valid Kubernetes name"));
    }
    if let Some(ns) = doc["metadata"]["namespace"].as_str()
        && !is_dns1123_label(ns)
    {
        at.problem("namespace:", format!("namespace `{ns}` is not a DNS-1123 label"));
    }
    labels(at, &doc["metadata"]["labels"]);
    labels(at, &doc["spec"]["template"]["metadata"]["labels"]);
}

fn labels(at: &mut At, labels: &Value) {
    for (key, value) in labels.as_object().into_iter().flatten() {
        if !is_label_key(key) {
            at.problem(key, format!("label key `{key}` is not valid: {LABEL_KEY_RULE}"));
        }
        match value.as_str() {
            Some(v) if is_label_value(v) => {}
            _ => at.problem(key, format!("label `{key}` has the value {value}, which is not a valid label value")),
        }
    }
}

fn destination_rule(at: &mut At, doc: &Value) {
    if doc["spec"]["host"].as_str().is_none_or(str::is_empty) {
        at.problem("host", "a DestinationRule needs a host".into());
    }
    let mut seen = BTreeSet::new();
    for subset in doc["spec"]["subsets"].as_array().into_iter().flatten() {
        let name = subset["name"].as_str().unwrap_or_default();
        if !is_dns1123_label(name) {
            at.problem(&format!("name: {name}"), format!("subset name `{name}` is not a DNS-1123 label"));
        }
        if !seen.insert(name) {
            at.problem(&format!("name: {name}"), format!("subset `{name}` is defined twice"));
        }
        labels(at, &subset["labels"]);
    }
}

/// `release` is the release's name (the Kustomization's), when the overlay has one.
fn virtual_service(at: &mut At, doc: &Value, subsets: &BTreeMap<String, BTreeSet<String>>, release: Option<&str>) {
    let spec = &doc["spec"];
    let own = release.map(|name| service_key(name, namespace_of(doc)));
    let hosts = spec["hosts"].as_array().cloned().unwrap_or_default();
    if hosts.is_empty() {
        at.problem("hosts", "a VirtualService needs at least one host".into());
    }
    let gateways: Vec<&str> = spec["gateways"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let mesh = binds_mesh(gateways.iter().copied());
    for (i, host) in hosts.iter().enumerate() {
        let h = host.as_str().unwrap_or_default();
        if !is_host(h) {
            at.problem(h, format!("host `{h}` is not a DNS name"));
        }
        for refusal in host_refusals(h, hosts[..i].iter().filter_map(Value::as_str), mesh) {
            match refusal {
                HostRefusal::WildcardOnMesh => at.problem("hosts", "host `*` is not allowed on the mesh".into()),
                HostRefusal::Overlaps(other) => {
                    at.problem(h, format!("host `{h}` overlaps `{other}` in the same VirtualService"))
                }
            }
        }
    }
    for gateway in spec["gateways"].as_array().into_iter().flatten() {
        let g = gateway.as_str().unwrap_or_default();
        if !is_gateway(g) {
            at.problem(g, format!("gateway `{g}` is not `name` or `namespace/name`"));
        }
    }
    let rules = spec["http"].as_array().cloned().unwrap_or_default();
    if rules.is_empty() {
        at.problem("http", "a VirtualService needs at least one HTTP route".into());
    }
    for (i, rule) in rules.iter().enumerate() {
        let label = rule["name"].as_str().map_or(format!("route {}", i + 1), |n| format!("route `{n}`"));
        let needle = rule["name"].as_str().map_or("http".to_string(), |n| format!("name: {n}"));
        let catch_all = rule.get("match").is_none_or(|m| m.as_array().is_none_or(Vec::is_empty));
        if catch_all && i + 1 < rules.len() {
            at.problem(
                &needle,
                format!("{label} matches every request but is not the last: the routes after it never run"),
            );
        }
        for m in rule["match"].as_array().into_iter().flatten() {
            for (name, sm) in m["headers"].as_object().into_iter().flatten() {
                if let Err(why) = check_header_name(name) {
                    at.problem_at_key(name, why.to_string());
                }
                string_match(at, sm, &format!("header `{name}`"));
            }
            if let Some(uri) = m.get("uri") {
                string_match(at, uri, "uri");
            }
        }
        let routes = rule["route"].as_array().cloned().unwrap_or_default();
        if routes.is_empty() {
            at.problem(&needle, format!("{label} has no destination"));
        }
        let weights: Vec<i64> = routes.iter().map(|r| r["weight"].as_i64().unwrap_or(0)).collect();
        if weights.iter().any(|w| *w < 0) {
            at.problem("weight: -", format!("{label} has a negative weight"));
        }
        if routes.len() > 1 {
            let total: i64 = weights.iter().sum();
            if total != 100 {
                at.problem(&needle, format!("{label}'s weights add up to {total}, not 100"));
            }
        }
        if routes.len() > 1 && weights.iter().all(|w| *w == 0) {
            at.problem(&needle, format!("{label}'s weights are all zero"));
        }
        for r in &routes {
            let host = r["destination"]["host"].as_str().unwrap_or_default();
            let key = service_key(host, namespace_of(doc));
            // Another Service's subsets are defined where that Service is.
            let checked = subsets.contains_key(&key) || own.as_ref() == Some(&key) || own.is_none();
            if let Some(subset) = r["destination"]["subset"].as_str()
                && checked
                && !subsets.get(&key).is_some_and(|s| s.contains(subset))
            {
                at.problem(
                    &format!("subset: {subset}"),
                    format!("{label} routes to subset `{subset}` of `{host}`, which no DestinationRule in the overlay defines: Istio would answer 503"),
                );
            }
        }
        if rule.get("mirror").is_some() {
            mirror(at, rule, &label, subsets, namespace_of(doc));
        }
    }
}

/// A rule's `mirror`: a host, a subset the overlay defines (a copy to a missing one is lost
/// without a word), and a `mirrorPercentage.value` from 0 to 100.
fn mirror(at: &mut At, rule: &Value, label: &str, subsets: &BTreeMap<String, BTreeSet<String>>, namespace: &str) {
    let host = rule["mirror"]["host"].as_str().unwrap_or_default();
    if host.is_empty() {
        at.problem("mirror:", format!("{label} mirrors to no host"));
    }
    if let Some(subset) = rule["mirror"]["subset"].as_str()
        && !subsets.get(&service_key(host, namespace)).is_some_and(|s| s.contains(subset))
    {
        at.problem(
            "mirror:",
            format!(
                "{label} mirrors to subset `{subset}` of `{host}`, which no DestinationRule in the overlay defines"
            ),
        );
    }
    if let Some(p) = rule.get("mirrorPercentage") {
        match p["value"].as_f64() {
            Some(v) if (0.0..=100.0).contains(&v) => {}
            _ => at.problem("mirrorPercentage", format!("{label}'s mirrorPercentage.value must be from 0 to 100")),
        }
    }
}

fn string_match(at: &mut At, sm: &Value, what: &str) {
    let Some(map) = sm.as_object() else {
        at.problem(what, format!("{what}: expected one of exact, prefix or regex"));
        return;
    };
    if map.len() != 1 || !["exact", "prefix", "regex"].contains(&map.keys().next().map_or("", String::as_str)) {
        at.problem(what, format!("{what}: expected exactly one of exact, prefix or regex"));
        return;
    }
    if let Some(re) = map.get("regex").and_then(Value::as_str) {
        regex(at, re, what);
    }
}

/// A regex of a match, as RE2 reads it ([`crate::re2::check`]).
fn regex(at: &mut At, re: &str, what: &str) {
    match crate::re2::check(re) {
        Ok(()) => {}
        Err(why @ Refusal::TooLong(_)) => at.problem(what, format!("{what}: {why}")),
        Err(why) => at.problem(re, format!("{what}: {why}")),
    }
}

fn deployment(at: &mut At, doc: &Value) {
    let selector = doc["spec"]["selector"]["matchLabels"].as_object().cloned().unwrap_or_default();
    let labels = &doc["spec"]["template"]["metadata"]["labels"];
    if selector.is_empty() || selector.iter().any(|(k, v)| &labels[k] != v) {
        at.problem("selector", "the Deployment's selector does not select its own pod template".into());
    }
}

fn hpa(at: &mut At, doc: &Value) {
    let min = doc["spec"]["minReplicas"].as_i64().unwrap_or(1);
    let max = doc["spec"]["maxReplicas"].as_i64().unwrap_or(0);
    if min < 1 || max < min {
        at.problem("minReplicas", format!("the HPA needs 1 ≤ minReplicas ({min}) ≤ maxReplicas ({max})"));
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use std::path::PathBuf;

    fn overlay(files: &[(&str, &str)]) -> Rendered {
        Rendered {
            output: PathBuf::from("o"),
            files: files.iter().map(|(n, t)| (n.to_string(), t.as_bytes().to_vec())).collect(),
            resources: files.iter().map(|(n, _)| n.to_string()).collect(),
            kinds: BTreeSet::new(),
            templates: BTreeMap::new(),
        }
    }

    #[test]
    fn only_kanari_kinds_and_own_files() {
        let binding = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: x}\n";
        let found = messages(&[("dr.yaml", &format!("{DR}---\n{binding}"))]);
        assert!(found.iter().any(|m| m.contains("may not hold a `ClusterRoleBinding`")), "{found:?}");
        let mut allowed = overlay(&[("dr.yaml", &format!("{DR}---\n{binding}"))]);
        allowed.kinds.insert("rbac.authorization.k8s.io/ClusterRoleBinding".into());
        assert!(check(&allowed).is_ok());
        allowed.kinds = ["core/ClusterRoleBinding".to_string()].into();
        assert!(check(&allowed).is_err());
        let k = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [dr.yaml, ../x.yaml]\nhelmCharts: []\n";
        let found = messages(&[("dr.yaml", DR), (KUSTOMIZATION, k)]);
        assert!(found.iter().any(|m| m.contains("`../x.yaml` is not a file of the overlay")), "{found:?}");
        assert!(found.iter().any(|m| m.contains("not `helmCharts`")), "{found:?}");
    }

    const DR: &str = "apiVersion: networking.istio.io/v1\nkind: DestinationRule\nmetadata: {name: web, namespace: shop}\nspec:\n  host: web\n  subsets:\n    - {name: v1, labels: {version: v1}}\n    - {name: v2, labels: {version: v2}}\n";

    fn vs(http: &str) -> String {
        format!(
            "apiVersion: networking.istio.io/v1\nkind: VirtualService\nmetadata: {{name: web, namespace: shop}}\nspec:\n  hosts: [web]\n  http:\n{http}"
        )
    }

    pub(super) fn messages(files: &[(&str, &str)]) -> Vec<String> {
        match check(&overlay(files)) {
            Ok(()) => vec![],
            Err(p) => p.0.iter().map(|p| format!("{}:{} {}", p.location.line, p.location.column, p.message)).collect(),
        }
    }

    #[test]
    fn istio_rules() {
        let good = vs(
            "    - name: primary\n      route:\n        - {destination: {host: web, subset: v1}, weight: 90}\n        - {destination: {host: web, subset: v2}, weight: 10}\n",
        );
        assert_eq!(messages(&[("dr.yaml", DR), ("vs.yaml", &good)]), Vec::<String>::new());
        let mirrored = vs(
            "    - route: [{destination: {host: web, subset: v1}}]\n      mirror: {host: web, subset: v2}\n      mirrorPercentage: {value: 20}\n",
        );
        assert_eq!(messages(&[("dr.yaml", DR), ("vs.yaml", &mirrored)]), Vec::<String>::new());
        // (a broken VirtualService http section, what the problem says)
        let table = [
            ("    - route:\n        - {destination: {host: web, subset: v9}}\n", "subset `v9`"),
            (
                "    - route:\n        - {destination: {host: web, subset: v1}, weight: 90}\n        - {destination: {host: web, subset: v2}, weight: 20}\n",
                "add up to 110",
            ),
            (
                "    - route:\n        - {destination: {host: web, subset: v1}, weight: 0}\n        - {destination: {host: web, subset: v2}, weight: 0}\n",
                "all zero",
            ),
            (
                "    - route:\n        - {destination: {host: web, subset: v1}, weight: 110}\n        - {destination: {host: web, subset: v2}, weight: -10}\n",
                "negative",
            ),
            (
                "    - name: all\n      route: [{destination: {host: web, subset: v1}}]\n    - name: late\n      match: [{uri: {prefix: /a}}]\n      route: [{destination: {host: web, subset: v2}}]\n",
                "is not the last",
            ),
            (
                "    - match: [{headers: {End-User: {exact: a}}}]\n      route: [{destination: {host: web, subset: v2}}]\n    - route: [{destination: {host: web, subset: v1}}]\n",
                "lowercase HTTP token",
            ),
            (
                "    - match: [{uri: {regex: 'a(('}}]\n      route: [{destination: {host: web, subset: v2}}]\n    - route: [{destination: {host: web, subset: v1}}]\n",
                "does not compile",
            ),
            (
                "    - match: [{uri: {exact: a, prefix: b}}]\n      route: [{destination: {host: web, subset: v2}}]\n    - route: [{destination: {host: web, subset: v1}}]\n",
                "exactly one of",
            ),
            (
                "    - route: [{destination: {host: web, subset: v1}}]\n      mirror: {host: web, subset: v9}\n",
                "mirrors to subset `v9` of `web`",
            ),
            (
                "    - route: [{destination: {host: web, subset: v1}}]\n      mirror: {host: web, subset: v2}\n      mirrorPercentage: {value: 120}\n",
                "mirrorPercentage.value must be from 0 to 100",
            ),
        ];
        for (http, expected) in table {
            let found = messages(&[("dr.yaml", DR), ("vs.yaml", &vs(http))]);
            assert!(found.iter().any(|m| m.contains(expected)), "{expected}: {found:?}");
        }
        let missing = messages(&[
            ("dr.yaml", DR),
            ("vs.yaml", &vs("    - route:\n        - {destination: {host: web, subset: v9}}\n")),
        ]);
        assert!(missing[0].starts_with("8:"), "the line of `subset: v9`: {missing:?}");
    }

    /// A VirtualService of the user's routes to other Services too, whose subsets are defined
    /// where those Services are; the release's own routes, however their host is written, are
    /// still held to the overlay's DestinationRule.
    #[test]
    fn routes_to_other_services_are_theirs_and_the_releases_are_checked_in_every_form() {
        const KUSTOMIZATION: &str = "kind: Kustomization\nmetadata: {name: web}\n";
        let dr = DR.to_string();
        let other =
            "    - match: [{uri: {prefix: /r}}]\n      route: [{destination: {host: ratings, subset: preview}}]\n";
        let ours = |host: &str, subset: &str| {
            vs(&format!("{other}    - route: [{{destination: {{host: {host}, subset: {subset}}}}}]\n"))
        };
        let files = |vs: &str| {
            vec![
                ("kustomization.yaml", KUSTOMIZATION.to_string()),
                ("dr.yaml", dr.clone()),
                ("vs.yaml", vs.to_string()),
            ]
        };
        let found = |vs: &str| {
            let owned = files(vs);
            let refs: Vec<(&str, &str)> = owned.iter().map(|(n, t)| (*n, t.as_str())).collect();
            messages(&refs)
        };
        assert_eq!(found(&ours("web", "v2")), Vec::<String>::new());
        assert_eq!(found(&ours("web.shop.svc.cluster.local", "v1")), Vec::<String>::new());
        for host in ["web", "web.shop", "web.shop.svc", "web.shop.svc.cluster.local"] {
            let problems = found(&ours(host, "v9"));
            assert!(problems.iter().any(|p| p.contains("subset `v9`")), "{host}: {problems:?}");
        }
        // Without a Kustomization (the release unknown), every routed subset is checked.
        assert!(messages(&[("dr.yaml", DR), ("vs.yaml", &ours("web", "v1"))]).iter().any(|p| p.contains("`preview`")));
    }

    #[test]
    fn a_bad_header_name_is_shown_at_its_key() {
        let http = "    - match:\n        - headers:\n            x: {exact: \":authority\"}\n            \":authority\":\n              exact: a\n      route: [{destination: {host: web, subset: v2}}]\n    - route: [{destination: {host: web, subset: v1}}]\n";
        let found = messages(&[("dr.yaml", DR), ("vs.yaml", &vs(http))]);
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].starts_with("10:13 header name `:authority`"), "{found:?}");
    }

    #[test]
    fn regexes_are_checked_as_re2_reads_them() {
        let http = "    - match: [{uri: {regex: '[a-z&&[^aeiou]]'}}]\n      route: [{destination: {host: web, subset: v2}}]\n    - route: [{destination: {host: web, subset: v1}}]\n";
        let found = messages(&[("dr.yaml", DR), ("vs.yaml", &vs(http))]);
        assert!(found.iter().any(|m| m.contains("RE2 reads as plain characters")), "{found:?}");
    }

    #[test]
    fn kubernetes_rules() {
        let dup = DR.replace("{name: v2, labels: {version: v2}}", "{name: v1, labels: {version: v1}}");
        assert!(messages(&[("dr.yaml", &dup)]).iter().any(|m| m.contains("defined twice")));
        let label = DR.replace("{version: v2}", "{version: \"-bad\"}");
        assert!(messages(&[("dr.yaml", &label)]).iter().any(|m| m.contains("not a valid label value")));
        let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web-v1}\nspec:\n  selector: {matchLabels: {app: web}}\n  template: {metadata: {labels: {app: other}}}\n";
        assert!(messages(&[("d.yaml", deploy)]).iter().any(|m| m.contains("does not select")));
        let hpa = "apiVersion: autoscaling/v2\nkind: HorizontalPodAutoscaler\nmetadata: {name: web}\nspec: {minReplicas: 5, maxReplicas: 2}\n";
        assert!(messages(&[("h.yaml", hpa)]).iter().any(|m| m.contains("minReplicas (5)")));
    }
}
