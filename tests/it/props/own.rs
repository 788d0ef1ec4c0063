//! A stage is never dropped silently with `spec.virtualService.from`: for generated specs
//! (weight stages, stage matches on headers, paths and methods, mirror stages with and without
//! matches of their own, hosts and gateways), the VirtualService rendered from the user's own
//! manifest routes every state exactly as kanari's own template does: the same rules in the same
//! order, each with the same matches, destinations and weights, and the same mirror. Only the
//! rules' names may differ (the user's route keeps its own).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use kanari::commands::Renderer;
use kanari::plan::{self, State, Step};
use kanari::spec::{self, Canary, Scope};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

use super::check;

#[derive(Clone, Debug)]
struct Routing {
    hosts: Vec<&'static str>,
    gateways: Vec<&'static str>,
    stages: Vec<Routed>,
}

#[derive(Clone, Debug)]
enum Routed {
    Weight { weight: u32, matches: Vec<Value> },
    Mirror { percent: u32, matches: Vec<Value> },
}

/// One match entry: one or two of a header, a path and a method.
fn a_match() -> impl Strategy<Value = Value> {
    let header = prop::sample::select(vec![
        json!({ "headers": { "end-user": { "exact": "jason" } } }),
        json!({ "headers": { "x-canary": { "regex": "^(yes|1)$" } } }),
    ]);
    let uri = prop::sample::select(vec![json!({ "uri": { "prefix": "/api" } }), json!({ "uri": { "exact": "/" } })]);
    let method = prop::sample::select(vec![json!({ "method": "GET" }), json!({ "method": "HEAD" })]);
    (prop::option::of(header), prop::option::of(uri), prop::option::of(method)).prop_map(|(h, u, m)| {
        let mut out = serde_json::Map::new();
        for part in [h, u, m].into_iter().flatten() {
            out.extend(part.as_object().cloned().unwrap_or_default());
        }
        if out.is_empty() {
            out.insert("method".into(), json!("GET"));
        }
        Value::Object(out)
    })
}

fn routed() -> impl Strategy<Value = Routed> {
    prop_oneof![
        3 => (0u32..=100, prop::collection::vec(a_match(), 0..=2)).prop_map(|(weight, matches)| Routed::Weight { weight, matches }),
        2 => (1u32..=100, prop::collection::vec(a_match(), 0..=2)).prop_map(|(percent, matches)| Routed::Mirror { percent, matches }),
    ]
}

fn routing() -> impl Strategy<Value = Routing> {
    let hosts = prop::sample::select(vec![vec![], vec!["web"], vec!["web.example.com", "web"]]);
    let gateways = prop::sample::select(vec![vec![], vec!["shop/public"], vec!["shop/public", "mesh"]]);
    (hosts, gateways, prop::collection::vec(routed(), 1..=4)).prop_map(|(hosts, gateways, stages)| Routing {
        hosts,
        gateways,
        stages,
    })
}

/// The spec, with the routing written in it or (`own`) in the user's VirtualService.
fn spec_text(r: &Routing, own: bool) -> String {
    let mut spec = json!({
        "service": { "port": 9080 },
        "stable": { "version": "v1", "image": "web:1" },
        "canary": { "version": "v2", "image": "web:2" },
        "replicas": 4,
    });
    if own {
        spec["virtualService"] = json!({ "from": "manifests/vs.yaml", "route": "main" });
    } else {
        if !r.hosts.is_empty() {
            spec["hosts"] = json!(r.hosts);
        }
        if !r.gateways.is_empty() {
            spec["gateways"] = json!(r.gateways);
        }
    }
    let stages: Vec<Value> = r
        .stages
        .iter()
        .enumerate()
        .map(|(i, s)| match s {
            Routed::Weight { weight, matches } if matches.is_empty() => {
                json!({ "name": format!("s{i}"), "weight": weight })
            }
            Routed::Weight { weight, matches } => {
                json!({ "name": format!("s{i}"), "weight": weight, "match": matches })
            }
            Routed::Mirror { percent, matches } if matches.is_empty() => {
                json!({ "name": format!("s{i}"), "mirror": percent })
            }
            Routed::Mirror { percent, matches } => {
                json!({ "name": format!("s{i}"), "mirror": { "percent": percent, "match": matches } })
            }
        })
        .collect();
    spec["stages"] = json!(stages);
    let doc = json!({
        "apiVersion": "kanari.dev/v1alpha1",
        "kind": "Canary",
        "metadata": { "name": "web", "namespace": "shop" },
        "spec": spec,
    });
    serde_json::to_string_pretty(&doc).unwrap()
}

/// The user's VirtualService: kanari's defaults for hosts and gateways, and one HTTP route to the
/// release's Service.
fn own_vs(r: &Routing) -> String {
    let hosts = if r.hosts.is_empty() { vec!["web"] } else { r.hosts.clone() };
    let mut vs = json!({
        "apiVersion": "networking.istio.io/v1",
        "kind": "VirtualService",
        "metadata": { "name": "web" },
        "spec": { "hosts": hosts, "http": [{ "name": "main", "route": [{ "destination": { "host": "web" } }] }] },
    });
    if !r.gateways.is_empty() {
        vs["spec"]["gateways"] = json!(r.gateways);
    }
    serde_json::to_string_pretty(&vs).unwrap()
}

fn load(r: &Routing, own: bool) -> Result<Canary, TestCaseError> {
    let files = BTreeMap::from([(PathBuf::from("canaries/web.yaml"), spec_text(r, own).into_bytes())]);
    let vs = own_vs(r);
    let read = |path: &Path| match path == Path::new("manifests/vs.yaml") {
        true => Ok(vs.clone().into_bytes()),
        false => Err("no such file".to_string()),
    };
    let mut canaries = spec::load_files(files, Path::new("canaries"), Scope::All, &read)
        .map_err(|e| TestCaseError::fail(format!("the spec (own: {own}) does not load: {e:#}")))?;
    Ok(canaries.remove(0))
}

/// What the rendered VirtualService does with requests: its hosts and gateways, and its HTTP
/// rules in order, each without its name.
fn routing_of(rendered: &BTreeMap<String, Vec<u8>>) -> Value {
    let (_, bytes) = rendered.iter().find(|(f, _)| f.starts_with("virtualservice-")).expect("a VirtualService");
    let mut vs: Value = serde_saphyr::from_str(std::str::from_utf8(bytes).unwrap()).unwrap();
    for rule in vs["spec"]["http"].as_array_mut().into_iter().flatten() {
        rule.as_object_mut().unwrap().remove("name");
    }
    json!({ "hosts": vs["spec"]["hosts"], "gateways": vs["spec"]["gateways"], "http": vs["spec"]["http"] })
}

#[test]
fn every_stage_routes_the_same_with_the_users_virtual_service() {
    let renderer = Renderer::new(&Default::default()).unwrap().checking_all();
    check(96, routing(), |r| {
        let (theirs, ours) = (load(&r, false)?, load(&r, true)?);
        for step in Step::all(&theirs) {
            let state = State::new(step);
            let render = |c: &Canary| {
                renderer
                    .render(&plan::plan(c, &state), &c.file)
                    .map(|r| routing_of(&r.files))
                    .map_err(|e| TestCaseError::fail(format!("{} does not render: {e:#}", step.name(c))))
            };
            let (built_in, from_file) = (render(&theirs)?, render(&ours)?);
            prop_assert_eq!(
                &built_in,
                &from_file,
                "stage {} routes differently with `virtualService.from`",
                step.name(&theirs)
            );
        }
        Ok(())
    });
}
