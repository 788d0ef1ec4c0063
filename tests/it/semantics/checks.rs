//! Checks one release's states, rendered by the binary and built with kustomize, against the
//! design's rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use regex::Regex;
use serde_json::{Value, json};

use super::{Cond, Expect, Findings, Pods, Release, ok_in};
use crate::{all, documents, kustomize, replicas, weights};

fn text(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().map(|s| text(s).to_string()).collect()).unwrap_or_default()
}

/// The spec's `template` of release `name`, as written.
pub(super) fn spec_template(source: &str, name: &str) -> Value {
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
pub(super) fn check_release(repo: &Path, rel: &Release, expects: &[Expect]) {
    let plan = ok_in(repo, &["plan", rel.selector, "--format", "json"]);
    let plan: Value = serde_json::from_str(&plan.stdout).expect("plan --format json prints JSON");
    assert_eq!(plan.as_array().map(Vec::len), Some(1), "one release: {plan}");
    assert_eq!(plan[0]["name"], format!("{}/{}", rel.namespace, rel.name));
    // The states themselves; the commits between two of them (`most, draining thirty`) are
    // checked against the make-before-break rules by the transitions tests.
    let states: Vec<&str> = plan[0]["states"]
        .as_array()
        .expect("states")
        .iter()
        .map(|s| text(&s["state"]))
        .filter(|s| !s.contains(", "))
        .collect();
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
