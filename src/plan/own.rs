//! The user's own manifests ([`crate::spec::Own`]) made into the objects of one state: the
//! VirtualService with its named HTTP route given the stage's weights and mirror (and the
//! stage's match route, and a mirror's own match route, put right before it), its other routes
//! to the release's Service pinned to stable or following the stage (`otherRoutes`), the
//! DestinationRule with kanari's subsets, a Deployment per version. Everything else of the
//! user's objects passes through as written. Every feature of a stage is put on the user's
//! route as kanari's own template puts it on its own (`tests/it/props/own.rs` holds the two to
//! the same routing); what cannot be was refused with the spec ([`crate::spec`]'s `own`). Pure,
//! like all of `plan`: the manifests were read with the spec.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::Plan;
use crate::spec::{CANARY_MATCH, CANARY_MIRROR, Canary, OtherRoutes, service_of};

/// The objects of `plan` made from the user's manifests, by the file name each replaces.
pub(super) fn objects(canary: &Canary, plan: &Plan) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some((manifest, route)) = &canary.own.virtual_service {
        let mut vs = named(&manifest.object, &plan.virtual_service.name, &plan.namespace);
        route_traffic(&mut vs, route, plan, canary.own.other_routes);
        out.insert(crate::plan::object_file("virtualservice", &plan.virtual_service.name), vs);
    }
    if let Some(manifest) = &canary.own.destination_rule {
        let rule = &plan.destination_rule;
        let mut dr = named(&manifest.object, &rule.name, &plan.namespace);
        let theirs: Vec<Value> = dr["spec"]["subsets"].as_array().cloned().unwrap_or_default();
        let subsets: Vec<Value> = rule
            .subsets
            .iter()
            .map(|ours| {
                let mut subset = json!({ "name": ours.name, "labels": { "version": ours.version } });
                // A subset of the user's by the same name keeps its own traffic policy.
                let policy = theirs.iter().find(|s| s["name"] == json!(ours.name)).and_then(|s| s.get("trafficPolicy"));
                if let Some(policy) = policy {
                    subset["trafficPolicy"] = policy.clone();
                }
                subset
            })
            .collect();
        let spec = object(&mut dr, "spec");
        spec.entry("host").or_insert_with(|| json!(rule.host));
        spec.insert("subsets".into(), Value::Array(subsets));
        out.insert(crate::plan::object_file("destinationrule", &rule.name), dr);
    }
    if let Some(manifest) = &canary.own.deployment {
        for version in &plan.versions {
            let labels = json!({ "app": plan.name, "version": version.version });
            let mut deployment = named(&manifest.object, &version.deployment, &plan.namespace);
            let metadata = object(&mut deployment, "metadata");
            let mut all = match metadata.remove("labels") {
                Some(Value::Object(theirs)) => theirs,
                _ => Map::new(),
            };
            all.extend(labels.as_object().cloned().unwrap_or_default());
            metadata.insert("labels".into(), Value::Object(all));
            let spec = object(&mut deployment, "spec");
            match version.replicas {
                Some(n) => spec.insert("replicas".into(), json!(n)),
                // An autoscaler owns the count.
                None => spec.remove("replicas"),
            };
            spec.insert("selector".into(), json!({ "matchLabels": labels }));
            spec.insert("template".into(), version.pod_template.clone());
            out.insert(crate::plan::object_file("deployment", &version.deployment), deployment);
        }
    }
    out
}

/// `manifest` named `name` in `namespace`.
fn named(manifest: &Value, name: &str, namespace: &str) -> Value {
    let mut out = manifest.clone();
    let metadata = object(&mut out, "metadata");
    metadata.insert("name".into(), json!(name));
    metadata.insert("namespace".into(), json!(namespace));
    out
}

/// The mapping under `key` of `value`, made one when it is anything else.
fn object<'a>(value: &'a mut Value, key: &str) -> &'a mut Map<String, Value> {
    if !value.is_object() {
        *value = json!({});
    }
    let map = value.as_object_mut().expect("made a mapping above");
    let entry = map.entry(key).or_insert_with(|| json!({}));
    if !entry.is_object() {
        *entry = json!({});
    }
    entry.as_object_mut().expect("made a mapping above")
}

/// The routes of the user's VirtualService with the state's traffic: the named HTTP route gets
/// the plan's weights and mirror, with its match route (the stage's matches) and mirror route
/// (a mirror's own matches) right before it, each a copy of the route (retries, timeouts and
/// the rest hold for those requests too) whose matches are the route's own joined with the
/// stage's. Every other route (HTTP, TLS or TCP) that sends to the release's Service is pinned
/// to the stable subset, or with `otherRoutes: follow` gets the same split and mirror.
fn route_traffic(vs: &mut Value, route: &str, plan: &Plan, others: OtherRoutes) {
    let namespace = plan.namespace.as_str();
    let release = (plan.name.as_str(), namespace);
    let ours = |d: &Value| d["host"].as_str().is_some_and(|h| service_of(h, namespace) == Some(release));
    let stable = plan.virtual_service.weights.first().map(|w| w.subset.clone()).unwrap_or_default();
    let pin = |target: &mut Value| {
        if ours(target) {
            target["subset"] = json!(stable);
        }
    };
    for kind in ["tcp", "tls"] {
        for rule in vs.pointer_mut(&format!("/spec/{kind}")).and_then(Value::as_array_mut).into_iter().flatten() {
            let Some(destinations) = rule.get_mut("route").and_then(Value::as_array_mut) else { continue };
            match others {
                OtherRoutes::Stable => destinations.iter_mut().for_each(|d| pin(&mut d["destination"])),
                OtherRoutes::Follow => *destinations = split(destinations, &ours, plan),
            }
        }
    }
    let Some(http) = vs.pointer_mut("/spec/http").and_then(Value::as_array_mut) else { return };
    let mut out = Vec::with_capacity(http.len() + 2);
    for mut rule in http.drain(..) {
        let named = rule["name"].as_str() == Some(route);
        let sends_here = rule["route"].as_array().into_iter().flatten().any(|d| ours(&d["destination"]))
            || rule.get("mirror").is_some_and(&ours);
        if !named && !sends_here {
            out.push(rule);
            continue;
        }
        if let Some(mirror) = rule.get_mut("mirror") {
            pin(mirror);
        }
        if !named && others == OtherRoutes::Stable {
            for d in rule.get_mut("route").and_then(Value::as_array_mut).into_iter().flatten() {
                pin(&mut d["destination"]);
            }
            out.push(rule);
            continue;
        }
        let destinations = rule["route"].as_array().cloned().unwrap_or_default();
        rule["route"] = Value::Array(match named {
            true => weighted(&destinations, plan),
            false => split(&destinations, &ours, plan),
        });
        let copy = |name: String, matches: &[Value], route: Value| {
            let mut copy = rule.clone();
            let fields = copy.as_object_mut().expect("a route is a mapping");
            fields.insert("name".into(), json!(name));
            fields.insert("match".into(), Value::Array(joined(fields.get("match"), matches)));
            fields.insert("route".into(), route);
            copy
        };
        if let Some(m) = plan.virtual_service.match_route.as_ref().filter(|_| named) {
            let to = destinations.first().cloned().unwrap_or_else(|| json!({}));
            out.push(copy(
                CANARY_MATCH.into(),
                &m.matches,
                json!([to_subset(to, &plan.virtual_service.host, &m.subset, None)]),
            ));
        }
        if let Some(m) = &plan.virtual_service.mirror {
            let mirror = json!({ "host": plan.virtual_service.host, "subset": m.subset });
            let percentage = json!({ "value": m.percent });
            let mut copied = match m.matches.is_empty() {
                true => None,
                false => {
                    let name = match named {
                        true => CANARY_MIRROR.to_string(),
                        false => format!("{}-{CANARY_MIRROR}", rule["name"].as_str().unwrap_or("route")),
                    };
                    Some(copy(name, &m.matches, rule["route"].clone()))
                }
            };
            let target = copied.as_mut().unwrap_or(&mut rule);
            target["mirror"] = mirror;
            target["mirrorPercentage"] = percentage;
            out.extend(copied);
        }
        out.push(rule);
    }
    *http = out;
}

/// The named route's destinations: its first destination (its port, headers and the rest) once
/// per weighted subset of the plan.
fn weighted(destinations: &[Value], plan: &Plan) -> Vec<Value> {
    let first = destinations.first().cloned().unwrap_or_else(|| json!({}));
    let vs = &plan.virtual_service;
    vs.weights.iter().map(|w| to_subset(first.clone(), &vs.host, &w.subset, Some(w.weight))).collect()
}

/// `destination` sent to `subset` (the release's Service when it names no host), with `weight`
/// or none.
fn to_subset(mut destination: Value, host: &str, subset: &str, weight: Option<u32>) -> Value {
    let target = object(&mut destination, "destination");
    target.entry("host").or_insert_with(|| json!(host));
    target.insert("subset".into(), json!(subset));
    let fields = destination.as_object_mut().expect("made a mapping above");
    match weight {
        Some(w) => fields.insert("weight".into(), json!(w)),
        None => fields.remove("weight"),
    };
    destination
}

/// `destinations` with each one to the release's Service shared out among the plan's weighted
/// subsets: its weight (100 when it is the route's only one) split by the plan's percents, the
/// remainders to the largest fractions, so the route's total stays what it was.
fn split(destinations: &[Value], ours: &dyn Fn(&Value) -> bool, plan: &Plan) -> Vec<Value> {
    let vs = &plan.virtual_service;
    let lone = destinations.len() == 1;
    let mut out = Vec::new();
    for d in destinations {
        if !ours(&d["destination"]) {
            out.push(d.clone());
            continue;
        }
        let total = d["weight"].as_u64().unwrap_or(if lone { 100 } else { 0 });
        let exact: Vec<u64> = vs.weights.iter().map(|w| total * u64::from(w.weight)).collect();
        let mut shares: Vec<u64> = exact.iter().map(|e| e / 100).collect();
        let mut order: Vec<usize> = (0..shares.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(exact[i] % 100));
        let left = total - shares.iter().sum::<u64>();
        for &i in order.iter().take(left as usize) {
            shares[i] += 1;
        }
        for (w, share) in vs.weights.iter().zip(shares) {
            out.push(to_subset(d.clone(), &vs.host, &w.subset, Some(share as u32)));
        }
    }
    out
}

/// Every match of the route's own (`theirs`; none is one that takes everything) joined with
/// every match of the stage's: both must hold. Validation made sure no field is in both.
fn joined(theirs: Option<&Value>, stage: &[Value]) -> Vec<Value> {
    let theirs: Vec<Value> = match theirs.and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![json!({})],
    };
    let mut out = Vec::new();
    for t in &theirs {
        for m in stage {
            let mut both = t.as_object().cloned().unwrap_or_default();
            for (key, value) in m.as_object().into_iter().flatten() {
                match (key.as_str(), both.get_mut(key).and_then(Value::as_object_mut), value.as_object()) {
                    ("headers", Some(headers), Some(more)) => headers.extend(more.clone()),
                    _ => {
                        both.insert(key.clone(), value.clone());
                    }
                }
            }
            out.push(Value::Object(both));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::release;
    use crate::plan::{State, Step, plan};
    use crate::spec::{Manifest, Match, Pause, ReplicaOverride, Stage, StringMatch};

    fn stage(name: &str, weight: u32, jason: bool) -> Stage {
        let mut matches = Vec::new();
        if jason {
            let mut m = Match::default();
            m.headers.insert("end-user".into(), StringMatch::Exact("jason".into()));
            matches.push(m);
        }
        let (replicas, pause, at) = (ReplicaOverride::default(), Pause::default(), Default::default());
        Stage { name: name.into(), weight, matches, mirror: None, mirror_matches: vec![], replicas, pause, at }
    }

    fn manifest(object: Value) -> Manifest {
        Manifest { file: "m.yaml".into(), object }
    }

    #[test]
    fn only_the_named_route_and_the_subsets_change() {
        let mut c = release(4, None, vec![stage("jason", 0, true), stage("half", 50, false)]);
        let other = json!({ "name": "other", "match": [{ "uri": { "prefix": "/x" } }], "route": [{ "destination": { "host": "x", "subset": "a" } }] });
        let vs = json!({ "kind": "VirtualService", "metadata": { "name": "mine", "labels": { "t": "1" } }, "spec": { "hosts": ["web"], "http": [
            other,
            { "name": "main", "match": [{ "uri": { "prefix": "/web" } }], "retries": { "attempts": 3 },
              "route": [{ "destination": { "host": "web", "port": { "number": 80 } }, "weight": 100, "headers": { "request": { "set": { "a": "b" } } } }] },
        ] } });
        c.own.virtual_service = Some((manifest(vs), "main".into()));
        let dr = json!({ "kind": "DestinationRule", "spec": { "trafficPolicy": { "tls": { "mode": "ISTIO_MUTUAL" } },
            "subsets": [{ "name": "v2", "labels": { "version": "v2" }, "trafficPolicy": { "p": 1 } }, { "name": "old" }] } });
        c.own.destination_rule = Some(manifest(dr));

        let p = plan(&c, &State::new(Step::Stage(0)));
        let vs = &p.own["virtualservice-web.yaml"];
        assert_eq!(vs["metadata"], json!({ "name": "web", "namespace": "shop", "labels": { "t": "1" } }));
        let http = vs["spec"]["http"].as_array().unwrap();
        assert_eq!(http[0], other);
        let dest = |subset: &str| json!({ "destination": { "host": "web", "port": { "number": 80 }, "subset": subset }, "headers": { "request": { "set": { "a": "b" } } } });
        let weighted = |subset: &str, weight: u32| {
            let mut d = dest(subset);
            d["weight"] = json!(weight);
            d
        };
        assert_eq!(http[1]["name"], "canary-match");
        assert_eq!(
            http[1]["match"],
            json!([{ "uri": { "prefix": "/web" }, "headers": { "end-user": { "exact": "jason" } } }])
        );
        assert_eq!(http[1]["route"], json!([dest("v2")]));
        assert_eq!(http[1]["retries"], json!({ "attempts": 3 }));
        assert_eq!(http[2]["route"], json!([weighted("v1", 100), weighted("v2", 0)]));
        assert_eq!(http[2]["match"], json!([{ "uri": { "prefix": "/web" } }]));

        let dr = &p.own["destinationrule-web.yaml"];
        assert_eq!(dr["spec"]["host"], "web");
        assert_eq!(dr["spec"]["trafficPolicy"], json!({ "tls": { "mode": "ISTIO_MUTUAL" } }));
        assert_eq!(
            dr["spec"]["subsets"],
            json!([{ "name": "v1", "labels": { "version": "v1" } }, { "name": "v2", "labels": { "version": "v2" }, "trafficPolicy": { "p": 1 } }])
        );

        let steady = plan(&c, &State::new(Step::Steady));
        let http = steady.own["virtualservice-web.yaml"]["spec"]["http"].as_array().unwrap().clone();
        assert_eq!(http.len(), 2, "no match route without a stage's matches");
        assert_eq!(http[1]["route"], json!([weighted("v1", 100)]));
        assert!(steady.own.keys().all(|k| !k.starts_with("deployment-")), "no Deployment of the user's");
    }

    #[test]
    fn each_version_is_the_users_deployment_with_kanaris_fields() {
        let mut c = release(4, None, vec![stage("half", 50, false)]);
        c.template = json!({ "metadata": { "labels": { "team": "a" } }, "spec": { "containers": [{ "name": "web", "image": "old" }] } });
        let deployment = json!({ "kind": "Deployment", "metadata": { "name": "x", "labels": { "app": "x", "team": "a" } },
            "spec": { "replicas": 9, "strategy": { "type": "Recreate" }, "selector": { "matchLabels": { "app": "x" } }, "template": {} } });
        c.own.deployment = Some(manifest(deployment));
        let p = plan(&c, &State::new(Step::Stage(0)));
        let d = &p.own["deployment-web-v2.yaml"];
        assert_eq!(
            d["metadata"],
            json!({ "name": "web-v2", "namespace": "shop", "labels": { "app": "web", "team": "a", "version": "v2" } })
        );
        assert_eq!(d["spec"]["strategy"], json!({ "type": "Recreate" }));
        assert_eq!(d["spec"]["selector"], json!({ "matchLabels": { "app": "web", "version": "v2" } }));
        assert_eq!(d["spec"]["replicas"], json!(p.versions[1].replicas.unwrap()));
        assert_eq!(d["spec"]["template"], p.versions[1].pod_template);
        assert_eq!(d["spec"]["template"]["spec"]["containers"][0]["image"], "web:2");
    }
}
