//! The one reading of an overlay's files ([`facts`]): what they show as a [`plan::Observed`]
//! (its stage, the traffic, the pods as counts and the match rules per version, a mirror, the
//! images, pod templates, Deployment and subset names), from a VirtualService or a Gateway API
//! HTTPRoute. Read from the overlay's files themselves, so the "before" side of a diff is what
//! is really committed, whatever the spec says now; a committed overlay is read once per run
//! (`commands::commits::Committed::observed`) and shared by the decision, `status`, `diff` and the
//! commit message. Sits beside [`crate::diff`]: it reads rendered bytes and imports only
//! [`crate::plan`] (the model, how a match reads) and [`crate::spec`] (which host is the
//! release's); never render, overlay, repo or the commands.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_json::Value;

use crate::plan::{self, Matched, Observed, PodCount};
use crate::spec;

pub(crate) mod changes;

pub(crate) use changes::SpecChanges;

/// Reads the facts from an overlay's files (file name → bytes). Files that do not parse are
/// skipped: the facts are a summary, the diff below them is the truth. Versions are named by
/// their `version` label: a route's subset is read through the DestinationRule's subsets.
///
/// Of the VirtualService, only the HTTP rules that send to the release's Service (the
/// Kustomization's name) count, as a VirtualService of the user's routes to other Services
/// too: the last of them carries the traffic, those before it with a `match` are match rules.
pub(crate) fn facts(files: &BTreeMap<PathBuf, Vec<u8>>) -> Observed {
    let mut out =
        Observed { files: files.keys().map(|p| p.to_string_lossy().into_owned()).collect(), ..Observed::default() };
    // Subset name → version label.
    let mut versions: BTreeMap<String, String> = BTreeMap::new();
    let mut replicas: BTreeMap<String, Option<u64>> = BTreeMap::new();
    // Each autoscaled version's HPA bounds: (minReplicas, maxReplicas).
    let mut hpas: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut routes: Vec<&Value> = Vec::new();
    // Gateway API: the version each Service selects, by Service name.
    let mut selects: BTreeMap<String, String> = BTreeMap::new();
    let docs: Vec<Value> = files.values().filter_map(|bytes| serde_saphyr::from_slice::<Value>(bytes).ok()).collect();
    let release = docs.iter().find(|d| d["kind"] == "Kustomization").and_then(|d| d["metadata"]["name"].as_str());
    for doc in &docs {
        let version = || doc["metadata"]["labels"]["version"].as_str().unwrap_or("?").to_string();
        match doc["kind"].as_str() {
            Some("Kustomization") => {
                out.stage = doc["metadata"]["annotations"][plan::key("stage")].as_str().map(str::to_string);
            }
            Some("Deployment") => {
                replicas.insert(version(), doc["spec"]["replicas"].as_u64());
                if let Some(name) = doc["metadata"]["name"].as_str() {
                    out.deployments.insert(version(), name.to_string());
                }
                let containers = doc["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
                let images = containers.iter().filter_map(|c| c["image"].as_str().map(str::to_string)).collect();
                out.images.insert(version(), images);
                out.templates.insert(version(), doc["spec"]["template"].clone());
            }
            Some("HorizontalPodAutoscaler") => {
                let (min, max) = (&doc["spec"]["minReplicas"], &doc["spec"]["maxReplicas"]);
                hpas.insert(version(), (min.as_u64().unwrap_or(1), max.as_u64().unwrap_or(0)));
            }
            Some("DestinationRule") => {
                for subset in doc["spec"]["subsets"].as_array().into_iter().flatten() {
                    if let (Some(name), Some(version)) = (subset["name"].as_str(), subset["labels"]["version"].as_str())
                    {
                        versions.insert(name.to_string(), version.to_string());
                        out.subsets.insert(version.to_string(), name.to_string());
                    }
                }
            }
            Some("Service") => {
                if let (Some(name), Some(v)) =
                    (doc["metadata"]["name"].as_str(), doc["spec"]["selector"]["version"].as_str())
                {
                    selects.insert(name.to_string(), v.to_string());
                }
            }
            Some("HTTPRoute") => routes.push(doc),
            Some("VirtualService") => {
                let namespace = doc["metadata"]["namespace"].as_str().unwrap_or_default();
                let ours = |r: &Value| match (release, r["destination"]["host"].as_str()) {
                    (Some(name), Some(host)) => spec::service_of(host, namespace) == Some((name, namespace)),
                    _ => true,
                };
                let rules: Vec<&Value> = doc["spec"]["http"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|rule| rule["route"].as_array().into_iter().flatten().any(ours))
                    .collect();
                let named = |rule: &Value, name: &str| rule["name"].as_str() == Some(name);
                let matches_of = |rule: &Value| rule["match"].as_array().cloned().unwrap_or_default();
                // The rule that carries the split: the last of the route's own (not a copy kanari
                // made for matches or a mirror's matches) without a match, else the last whose
                // destinations all carry weights (a user's named route with matches of its own).
                let own: Vec<usize> = (0..rules.len())
                    .filter(|&i| !named(rules[i], spec::CANARY_MATCH) && !named(rules[i], spec::CANARY_MIRROR))
                    .collect();
                let weighted =
                    |rule: &Value| rule["route"].as_array().into_iter().flatten().all(|d| d.get("weight").is_some());
                let split = own
                    .iter()
                    .rev()
                    .find(|&&i| matches_of(rules[i]).is_empty())
                    .or_else(|| own.iter().rev().find(|&&i| weighted(rules[i])))
                    .or(own.last())
                    .copied();
                for (i, rule) in rules.iter().enumerate() {
                    let routes = rule["route"].as_array().cloned().unwrap_or_default();
                    if let Some(to) = rule["mirror"]["subset"].as_str() {
                        // Istio mirrors every request when no percentage is given.
                        let percent = rule["mirrorPercentage"]["value"].as_f64().unwrap_or(100.0);
                        let of: Vec<String> = match named(rule, spec::CANARY_MIRROR) {
                            true => matches_of(rule).iter().map(match_text).collect(),
                            false => Vec::new(),
                        };
                        out.mirror = Some(plan::mirror_text(percent, to, &of));
                        if percent > 0.0 {
                            out.routed.insert(to.to_string());
                        }
                    }
                    if Some(i) == split {
                        out.traffic = routes
                            .iter()
                            .map(|r| {
                                let subset = r["destination"]["subset"].as_str().unwrap_or("?").to_string();
                                (subset, r["weight"].as_u64().unwrap_or(if routes.len() == 1 { 100 } else { 0 }))
                            })
                            .collect();
                        continue;
                    }
                    // A stage's match rule: kanari's, or an unnamed rule with a match of a route
                    // written by hand; the user's own named rules are theirs.
                    let stage_rule = named(rule, spec::CANARY_MATCH) || rule.get("name").is_none();
                    if !stage_rule {
                        continue;
                    }
                    let to = routes.first().and_then(|r| r["destination"]["subset"].as_str()).unwrap_or("?");
                    let matches = matches_of(rule);
                    if !matches.is_empty() {
                        out.routed.insert(to.to_string());
                    }
                    for m in &matches {
                        out.matches.push(Matched { when: match_text(m), to: to.to_string() });
                    }
                }
            }
            _ => {}
        }
    }
    let version_of = |subset: &str| versions.get(subset).cloned().unwrap_or_else(|| subset.to_string());
    for (subset, _) in out.traffic.iter_mut() {
        *subset = version_of(subset);
    }
    out.routed = out.routed.iter().map(|s| version_of(s)).collect();
    for m in out.matches.iter_mut() {
        m.to = version_of(&m.to);
    }
    // Gateway API: backends are read as versions through the Services' selectors.
    for route in routes {
        http_route(&mut out, route, &selects);
    }
    for (version, weight) in &out.traffic {
        if *weight > 0 {
            out.routed.insert(version.clone());
        }
    }
    out.pods = replicas
        .into_iter()
        .map(|(version, n)| {
            let count = match (n, hpas.get(&version)) {
                (Some(n), _) => Some(PodCount::Replicas(n)),
                (None, Some(&(min, max))) => Some(PodCount::Hpa { min, max }),
                (None, None) => None,
            };
            (version, count)
        })
        .collect();
    out
}

/// The traffic, routed versions and matches of a Gateway API `HTTPRoute`: the rule without
/// `matches` is the catch-all, a rule with them sends what matches to its first backend. A
/// backend Service names its version by its `version` selector, else by the suffix after the
/// route's name (`reviews-v2` of route `reviews`).
fn http_route(out: &mut Observed, route: &Value, selects: &BTreeMap<String, String>) {
    let prefix = format!("{}-", route["metadata"]["name"].as_str().unwrap_or_default());
    let version = |backend: &Value| {
        let name = backend["name"].as_str().unwrap_or("?");
        selects.get(name).cloned().unwrap_or_else(|| name.strip_prefix(&prefix).unwrap_or(name).to_string())
    };
    for rule in route["spec"]["rules"].as_array().into_iter().flatten() {
        let backends = rule["backendRefs"].as_array().cloned().unwrap_or_default();
        for filter in rule["filters"].as_array().into_iter().flatten().filter(|f| f["type"] == "RequestMirror") {
            let mirror = &filter["requestMirror"];
            let to = version(&mirror["backendRef"]);
            // Without a percent or fraction, every request is mirrored.
            let percent = mirror["percent"].as_f64().unwrap_or(100.0);
            let of: Vec<String> = rule["matches"].as_array().into_iter().flatten().map(gateway_match_text).collect();
            out.mirror = Some(plan::mirror_text(percent, &to, &of));
            if percent > 0.0 {
                out.routed.insert(to);
            }
        }
        // A mirror's own matches: the rule serves them as the catch-all does.
        let mirrors = rule["filters"].as_array().into_iter().flatten().any(|f| f["type"] == "RequestMirror");
        if mirrors && rule.get("matches").is_some() {
            continue;
        }
        match rule.get("matches") {
            None => {
                let lone = backends.len() == 1;
                out.traffic = backends
                    .iter()
                    .map(|b| (version(b), b["weight"].as_u64().unwrap_or(if lone { 100 } else { 1 })))
                    .collect();
            }
            Some(matches) => {
                let to = backends.first().map_or("?".to_string(), version);
                out.routed.insert(to.clone());
                for m in matches.as_array().into_iter().flatten() {
                    out.matches.push(Matched { when: gateway_match_text(m), to: to.clone() });
                }
            }
        }
    }
}

/// A Gateway API `HTTPRouteMatch` in one line, in the same words as an Istio match: `Exact`
/// reads as `exact`, `PathPrefix` as `prefix`, `RegularExpression` as `regex`.
fn gateway_match_text(m: &Value) -> String {
    let condition = |subject: &str, sm: &Value| {
        let kind = match sm["type"].as_str().unwrap_or("Exact") {
            "Exact" => "exact",
            "PathPrefix" => "prefix",
            "RegularExpression" => "regex",
            _ => "?",
        };
        plan::condition_text(subject, kind, sm["value"].as_str().unwrap_or(""))
    };
    let mut parts: Vec<String> = Vec::new();
    for h in m["headers"].as_array().into_iter().flatten() {
        parts.push(condition(h["name"].as_str().unwrap_or("?"), h));
    }
    if let Some(path) = m.get("path") {
        parts.push(condition("uri", path));
    }
    if let Some(method) = m["method"].as_str() {
        parts.push(plan::condition_text("method", "exact", method));
    }
    parts.join(" & ")
}

/// An Istio `HTTPMatchRequest` in one line: `end-user=jason & uri^=/api`, each condition as
/// [`plan::condition_text`] reads it.
fn match_text(m: &Value) -> String {
    let condition = |subject: &str, sm: &Value| {
        let (kind, value) = sm
            .as_object()
            .and_then(|o| o.iter().next())
            .map_or(("?", ""), |(k, v)| (k.as_str(), v.as_str().unwrap_or("")));
        plan::condition_text(subject, kind, value)
    };
    let mut parts: Vec<String> = Vec::new();
    for (name, sm) in m["headers"].as_object().into_iter().flatten() {
        parts.push(condition(name, sm));
    }
    if let Some(uri) = m.get("uri") {
        parts.push(condition("uri", uri));
    }
    if let Some(method) = m.get("method") {
        parts.push(condition("method", method));
    }
    parts.join(" & ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_stage_traffic_pods_and_matches() {
        let files: BTreeMap<PathBuf, Vec<u8>> = [
            ("kustomization.yaml", "kind: Kustomization\nmetadata:\n  annotations:\n    kanari.dev/stage: jason\n"),
            ("d1.yaml", "kind: Deployment\nmetadata: {labels: {version: v1}}\nspec: {replicas: 10}\n"),
            ("d2.yaml", "kind: Deployment\nmetadata: {labels: {version: v2}}\nspec: {}\n"),
            ("h2.yaml", "kind: HorizontalPodAutoscaler\nmetadata: {labels: {version: v2}}\nspec: {minReplicas: 2, maxReplicas: 9}\n"),
            (
                "vs.yaml",
                "kind: VirtualService\nspec:\n  http:\n    - match: [{headers: {end-user: {exact: jason}}, uri: {prefix: /a}}]\n      route: [{destination: {subset: v2}}]\n    - route:\n        - {destination: {subset: v1}, weight: 90}\n        - {destination: {subset: v2}, weight: 10}\n      mirror: {host: web, subset: v3}\n      mirrorPercentage: {value: 20}\n",
            ),
        ]
        .into_iter()
        .map(|(name, text)| (PathBuf::from(name), text.as_bytes().to_vec()))
        .collect();
        let f = facts(&files);
        assert_eq!(f.stage.as_deref(), Some("jason"));
        assert_eq!(f.traffic, [("v1".to_string(), 90), ("v2".to_string(), 10)]);
        let pods = [
            ("v1".to_string(), Some(PodCount::Replicas(10))),
            ("v2".to_string(), Some(PodCount::Hpa { min: 2, max: 9 })),
        ];
        assert_eq!(f.pods, pods);
        assert_eq!(f.matches, [Matched { when: "end-user=jason & uri^=/a".into(), to: "v2".into() }]);
        assert_eq!(f.mirror.as_deref(), Some("mirror 20% -> v3"));
        assert!(f.routed.contains("v3"), "a mirrored subset takes traffic: {:?}", f.routed);
    }

    #[test]
    fn a_pod_template_is_read_per_version() {
        let deployment = |env: &str| {
            let text = format!(
                "kind: Deployment\nmetadata: {{labels: {{version: v2}}}}\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers: [{{name: web, image: web:2, env: [{{name: A, value: {env}}}]}}]\n"
            );
            facts(&[(PathBuf::from("d.yaml"), text.into_bytes())].into())
        };
        let (a, b) = (deployment("x"), deployment("y"));
        assert_eq!(a.images["v2"], ["web:2"]);
        assert_ne!(a.templates["v2"], b.templates["v2"], "an env change is a template change");
        assert_eq!(a.templates["v2"], deployment("x").templates["v2"]);
    }

    #[test]
    fn reads_an_http_route_through_its_backend_services() {
        let files: BTreeMap<PathBuf, Vec<u8>> = [
            ("s1.yaml", "kind: Service\nmetadata: {name: web-v1}\nspec: {selector: {app: web, version: v1}}\n"),
            ("s.yaml", "kind: Service\nmetadata: {name: web}\nspec: {selector: {app: web}}\n"),
            (
                "route.yaml",
                "kind: HTTPRoute\nmetadata: {name: web}\nspec:\n  rules:\n    - matches: [{headers: [{name: end-user, type: Exact, value: jason}], path: {type: PathPrefix, value: /a}}]\n      backendRefs: [{name: web-v2, port: 80}]\n    - backendRefs:\n        - {name: web-v1, port: 80, weight: 90}\n        - {name: web-v2, port: 80, weight: 10}\n",
            ),
        ]
        .into_iter()
        .map(|(name, text)| (PathBuf::from(name), text.as_bytes().to_vec()))
        .collect();
        let f = facts(&files);
        assert_eq!(f.traffic, [("v1".to_string(), 90), ("v2".to_string(), 10)]);
        assert_eq!(f.matches, [Matched { when: "end-user=jason & uri^=/a".into(), to: "v2".into() }]);
        assert_eq!(f.routed, ["v1".to_string(), "v2".to_string()].into());
    }
}
