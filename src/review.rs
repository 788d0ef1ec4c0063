//! What a reviewer wants to know about an overlay without reading YAML: its stage, the traffic
//! per version, the pods (or HPA minimum) per version, the match rules and a mirror. Read from the overlay's
//! files themselves, so the "before" side of a diff is what is really committed, whatever the
//! spec says now. Sits beside [`crate::diff`]: it reads rendered bytes and imports only
//! [`crate::plan`] (how a match reads); never render, overlay, repo or the commands.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde::Serialize;
use serde_json::Value;

use crate::plan;

/// The reviewable facts of one overlay.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct Facts {
    /// `kanari.dev/stage`, if recorded.
    pub stage: Option<String>,
    /// Percent of the catch-all traffic per subset, in route order.
    pub traffic: Vec<(String, u64)>,
    /// Pods per version: `10`, `hpa 2-10`, or `0`.
    pub pods: Vec<(String, String)>,
    /// The match rules that send requests to a subset, in a short form: `end-user=jason -> v2`.
    pub matches: Vec<String>,
    /// A rule's copy of its requests to a subset, as [`plan::mirror_text`] says it:
    /// `mirror 20% -> v2`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    /// Pods per version as a number: the Deployment's replicas, or its HPA's minimum.
    #[serde(skip)]
    pub counts: BTreeMap<String, u32>,
    /// The subsets that take traffic: a weight above 0, the target of a match rule, or of a
    /// mirror above 0%.
    #[serde(skip)]
    pub routed: BTreeSet<String>,
    /// The container images of each version's Deployment.
    #[serde(skip)]
    pub images: BTreeMap<String, Vec<String>>,
}

/// Reads the facts from an overlay's files (file name → bytes). Files that do not parse are
/// skipped: the facts are a summary, the diff below them is the truth.
pub fn facts(files: &BTreeMap<PathBuf, Vec<u8>>) -> Facts {
    let mut out = Facts::default();
    let mut replicas: BTreeMap<String, Option<u64>> = BTreeMap::new();
    let mut hpas: BTreeMap<String, String> = BTreeMap::new();
    for bytes in files.values() {
        let Ok(doc) = serde_saphyr::from_slice::<Value>(bytes) else { continue };
        let version = || doc["metadata"]["labels"]["version"].as_str().unwrap_or("?").to_string();
        match doc["kind"].as_str() {
            Some("Kustomization") => {
                out.stage = doc["metadata"]["annotations"]["kanari.dev/stage"].as_str().map(str::to_string);
            }
            Some("Deployment") => {
                replicas.insert(version(), doc["spec"]["replicas"].as_u64());
                let containers = doc["spec"]["template"]["spec"]["containers"].as_array().cloned().unwrap_or_default();
                let images = containers.iter().filter_map(|c| c["image"].as_str().map(str::to_string)).collect();
                out.images.insert(version(), images);
            }
            Some("HorizontalPodAutoscaler") => {
                let (min, max) = (&doc["spec"]["minReplicas"], &doc["spec"]["maxReplicas"]);
                hpas.insert(version(), format!("hpa {}-{}", min.as_u64().unwrap_or(1), max.as_u64().unwrap_or(0)));
            }
            Some("VirtualService") => {
                for rule in doc["spec"]["http"].as_array().into_iter().flatten() {
                    let routes = rule["route"].as_array().cloned().unwrap_or_default();
                    if let Some(to) = rule["mirror"]["subset"].as_str() {
                        // Istio mirrors every request when no percentage is given.
                        let percent = rule["mirrorPercentage"]["value"].as_f64().unwrap_or(100.0);
                        out.mirror = Some(plan::mirror_text(percent, to));
                        if percent > 0.0 {
                            out.routed.insert(to.to_string());
                        }
                    }
                    match rule.get("match") {
                        None => {
                            out.traffic = routes
                                .iter()
                                .map(|r| {
                                    let subset = r["destination"]["subset"].as_str().unwrap_or("?").to_string();
                                    (subset, r["weight"].as_u64().unwrap_or(if routes.len() == 1 { 100 } else { 0 }))
                                })
                                .collect();
                        }
                        Some(matches) => {
                            let to = routes.first().and_then(|r| r["destination"]["subset"].as_str()).unwrap_or("?");
                            out.routed.insert(to.to_string());
                            for m in matches.as_array().into_iter().flatten() {
                                out.matches.push(format!("{} -> {to}", match_text(m)));
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    for (subset, weight) in &out.traffic {
        if *weight > 0 {
            out.routed.insert(subset.clone());
        }
    }
    for (version, n) in &replicas {
        let min = |h: &String| h.strip_prefix("hpa ").and_then(|r| r.split('-').next()).and_then(|n| n.parse().ok());
        let count = n.map(|n| n as u32).or_else(|| hpas.get(version).and_then(min)).unwrap_or(0);
        out.counts.insert(version.clone(), count);
    }
    out.pods = replicas
        .into_iter()
        .map(|(version, n)| {
            let text = match (n, hpas.get(&version)) {
                (Some(n), _) => n.to_string(),
                (None, Some(hpa)) => hpa.clone(),
                (None, None) => "-".into(),
            };
            (version, text)
        })
        .collect();
    out
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
        assert_eq!(f.pods, [("v1".to_string(), "10".to_string()), ("v2".to_string(), "hpa 2-9".to_string())]);
        assert_eq!(f.matches, ["end-user=jason & uri^=/a -> v2"]);
        assert_eq!(f.mirror.as_deref(), Some("mirror 20% -> v3"));
        assert!(f.routed.contains("v3"), "a mirrored subset takes traffic: {:?}", f.routed);
    }
}
