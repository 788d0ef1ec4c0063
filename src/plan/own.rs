//! The user's own manifests ([`crate::spec::Own`]) made into the objects of one state: the
//! VirtualService with only its named HTTP route's destinations set (and the stage's match
//! route put right before it), the DestinationRule with kanari's subsets, a Deployment per
//! version. Everything else of the user's objects passes through as written. Pure, like all of
//! `plan`: the manifests were read with the spec.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::{MatchRoute, Plan};
use crate::spec::{CANARY_MATCH, Canary};

/// The objects of `plan` made from the user's manifests, by the file name each replaces.
pub fn objects(canary: &Canary, plan: &Plan) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    if let Some((manifest, route)) = &canary.own.virtual_service {
        let mut vs = named(&manifest.object, &plan.virtual_service.name, &plan.namespace);
        if let Some(http) = vs.pointer_mut("/spec/http").and_then(Value::as_array_mut) {
            route_traffic(http, route, plan);
        }
        out.insert(format!("virtualservice-{}.yaml", plan.virtual_service.name), vs);
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
        out.insert(format!("destinationrule-{}.yaml", rule.name), dr);
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
            out.insert(format!("deployment-{}.yaml", version.deployment), deployment);
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

/// Sets the destinations of the HTTP route named `route` to the plan's weights, and puts the
/// plan's match route, when it has one, right before it: a copy of the route (retries, timeouts
/// and the rest hold for matched requests too) whose matches are the route's own joined with
/// the stage's, sending to the canary.
fn route_traffic(http: &mut Vec<Value>, route: &str, plan: &Plan) {
    let Some(at) = http.iter().position(|r| r["name"].as_str() == Some(route)) else { return };
    let first = http[at]["route"].as_array().and_then(|r| r.first()).cloned().unwrap_or_else(|| json!({}));
    let host = json!(plan.virtual_service.host);
    let destination = |subset: &str, weight: Option<u32>| {
        let mut d = first.clone();
        let target = object(&mut d, "destination");
        target.entry("host").or_insert_with(|| host.clone());
        target.insert("subset".into(), json!(subset));
        let d_map = d.as_object_mut().expect("a mapping");
        match weight {
            Some(w) => d_map.insert("weight".into(), json!(w)),
            None => d_map.remove("weight"),
        };
        d
    };
    let weighted: Vec<Value> =
        plan.virtual_service.weights.iter().map(|w| destination(&w.subset, Some(w.weight))).collect();
    let matched = plan.virtual_service.match_route.as_ref().map(|m| {
        let mut copy = http[at].clone();
        let rule = copy.as_object_mut().expect("a named route is a mapping");
        rule.insert("name".into(), json!(CANARY_MATCH));
        rule.insert("match".into(), Value::Array(joined(rule.get("match"), m)));
        rule.insert("route".into(), json!([destination(&m.subset, None)]));
        copy
    });
    if let Some(rule) = http[at].as_object_mut() {
        rule.insert("route".into(), Value::Array(weighted));
    }
    if let Some(matched) = matched {
        http.insert(at, matched);
    }
}

/// Every match of the route's own (`theirs`; none is one that takes everything) joined with
/// every match of the stage: both must hold. Validation made sure no field is in both.
fn joined(theirs: Option<&Value>, stage: &MatchRoute) -> Vec<Value> {
    let theirs: Vec<Value> = match theirs.and_then(Value::as_array) {
        Some(list) if !list.is_empty() => list.clone(),
        _ => vec![json!({})],
    };
    let mut out = Vec::new();
    for t in &theirs {
        for m in &stage.matches {
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
        Stage { name: name.into(), weight, matches, mirror: None, replicas, pause, at }
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
