//! What kanari renders for an accepted spec is sound.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use kanari::commands::Renderer;
use kanari::plan::{self, State, Step};
use kanari::render::Rendered;
use kanari::spec::{self, Canary};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::Value;

use super::strategies::gen_spec;
use super::{FILE, Gen, GenMatch, check, cookie_regex};

fn parse_yaml(bytes: &[u8]) -> Value {
    serde_saphyr::from_str::<Value>(std::str::from_utf8(bytes).expect("rendered files are UTF-8"))
        .expect("rendered files are YAML")
}

/// Renders every state of `canary` and checks it as `lint` does ([`kanari::check`]); checks the
/// plan and bytes are deterministic.
pub(super) fn render_all(canary: &Canary) -> Result<Vec<(Step, Rendered)>, TestCaseError> {
    let first = Renderer::new(&Default::default()).map_err(|e| TestCaseError::fail(format!("{e:#}")))?.checking_all();
    let second = Renderer::new(&Default::default()).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    let mut out = Vec::new();
    for step in Step::all(canary) {
        let state = State::new(step);
        let p = plan::plan(canary, &state);
        prop_assert_eq!(&p, &plan::plan(canary, &state), "the plan of {:?} is not deterministic", step);
        let rendered = first.render(&p, &canary.file).map_err(|e| {
            TestCaseError::fail(format!("an accepted spec does not render at {}: {e:#}", step.name(canary)))
        })?;
        let again = second.render(&p, &canary.file).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert_eq!(&rendered, &again, "the bytes of {:?} are not deterministic", step);
        out.push((step, rendered));
    }
    Ok(out)
}

/// Istio's host rules for a VirtualService (pilot's validation): no `*` when bound to the mesh,
/// no host that another one of the same VirtualService matches.
fn istio_hosts(hosts: &[String], gateways: &[String]) -> Result<(), String> {
    let mesh = gateways.is_empty() || gateways.iter().any(|g| g == "mesh");
    if mesh && hosts.iter().any(|h| h == "*") {
        return Err("wildcard host * is not allowed for virtual services bound to the mesh gateway".into());
    }
    let matches = |a: &str, b: &str| {
        let wild = |w: &str, h: &str| w.strip_prefix('*').is_some_and(|suffix| h.ends_with(suffix));
        a == b || wild(a, b) || wild(b, a)
    };
    for (i, a) in hosts.iter().enumerate() {
        for b in &hosts[i + 1..] {
            if matches(a, b) {
                return Err(format!("duplicate hosts in virtual service: {a} & {b}"));
            }
        }
    }
    Ok(())
}

/// Checks one state's overlay against the spec it came from.
fn sound(
    sg: &Gen,
    canary: &Canary,
    step: Step,
    r: &Rendered,
    templates: &mut BTreeMap<String, Value>,
) -> Result<(), TestCaseError> {
    let state = step.name(canary);
    let listed: BTreeSet<&String> = r.resources.iter().collect();
    let files: BTreeSet<&String> = r.files.keys().filter(|f| *f != "kustomization.yaml").collect();
    prop_assert_eq!(listed, files, "{}: kustomization.yaml must list exactly the overlay's files", state);
    let k = parse_yaml(&r.files["kustomization.yaml"]);
    prop_assert_eq!(k["metadata"]["annotations"]["kanari.dev/stage"].as_str(), Some(state));

    let docs: Vec<Value> = r.resources.iter().map(|f| parse_yaml(&r.files[f])).collect();
    let of = |kind: &str| docs.iter().filter(|d| d["kind"] == kind).collect::<Vec<_>>();
    let (drs, vss) = (of("DestinationRule"), of("VirtualService"));
    prop_assert_eq!((drs.len(), vss.len()), (1, 1), "{}: one DestinationRule and one VirtualService", state);
    prop_assert_eq!(of("Service").len(), usize::from(sg.create != Some(false)), "{}: the Service", state);

    let subsets: BTreeSet<&str> =
        drs[0]["spec"]["subsets"].as_array().unwrap().iter().map(|s| s["name"].as_str().unwrap()).collect();
    let vs = &vss[0]["spec"];
    let hosts: Vec<String> = vs["hosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_string()).collect();
    let gateways: Vec<String> =
        vs["gateways"].as_array().into_iter().flatten().map(|g| g.as_str().unwrap().to_string()).collect();
    let expected_hosts = sg.hosts.clone().unwrap_or_else(|| vec![sg.name.clone()]);
    prop_assert_eq!(&hosts, &expected_hosts, "{}: hosts", state);
    if let Err(why) = istio_hosts(&hosts, &gateways) {
        return Err(TestCaseError::fail(format!("{state}: kanari accepted a VirtualService Istio rejects: {why}")));
    }

    let http = vs["http"].as_array().unwrap();
    for (i, rule) in http.iter().enumerate() {
        let catch_all = rule.get("match").is_none();
        prop_assert!(catch_all == (i + 1 == http.len()), "{}: only the last rule is the catch-all", state);
        let routes = rule["route"].as_array().unwrap();
        let weights: Vec<i64> = routes.iter().map(|r| r["weight"].as_i64().unwrap_or(100)).collect();
        prop_assert!(weights.iter().all(|w| (0..=100).contains(w)), "{}: weights {:?}", state, weights);
        prop_assert_eq!(weights.iter().sum::<i64>(), 100, "{}: weights {:?} must sum to 100", state, weights);
        for route in routes {
            let subset = route["destination"]["subset"].as_str().unwrap();
            prop_assert!(subsets.contains(subset), "{}: routes to subset `{}`, not in {:?}", state, subset, subsets);
        }
    }

    // Traffic as the spec says.
    let stable = &sg.stable.0;
    let catch_all: Vec<(String, i64)> = http.last().unwrap()["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["destination"]["subset"].as_str().unwrap().to_string(), r["weight"].as_i64().unwrap_or(100)))
        .collect();
    let stage = match step {
        Step::Stage(i) => Some(&sg.stages[i]),
        _ => None,
    };
    match stage {
        Some(s) => {
            let canary_version = &sg.canary.as_ref().unwrap().0;
            let w = i64::from(s.weight.unwrap_or(0));
            prop_assert_eq!(&catch_all, &vec![(stable.clone(), 100 - w), (canary_version.clone(), w)], "{}", state);
            if s.matches.is_empty() {
                prop_assert_eq!(http.len(), 1, "{}: no match rule without matches", state);
            } else {
                prop_assert_eq!(http.len(), 2, "{}: a match rule first", state);
                let expected: Vec<Value> = s.matches.iter().map(GenMatch::istio).collect();
                prop_assert_eq!(&http[0]["match"], &Value::Array(expected), "{}: the matches round-trip", state);
                prop_assert_eq!(http[0]["route"][0]["destination"]["subset"].as_str(), Some(canary_version.as_str()));
                for (name, value) in s.matches.iter().filter_map(|m| m.cookie.as_ref()) {
                    let re = regex::Regex::new(&cookie_regex(name, value)).unwrap();
                    for (header, expected) in [
                        (format!("{name}={value}"), true),
                        (format!("a=1; {name}={value}; b=2"), true),
                        (format!("{name}={value}x"), false),
                        (format!("x{name}={value}"), false),
                    ] {
                        prop_assert_eq!(re.is_match(&header), expected, "{}: cookie regex on `{}`", state, header);
                    }
                }
            }
        }
        None => prop_assert_eq!(&catch_all, &vec![(stable.clone(), 100)], "{}: all traffic to stable", state),
    }

    // Deployments: one per subset, images as given, pod templates the same in every state, and
    // replicas or an HPA.
    let deployments = of("Deployment");
    let names: BTreeSet<String> =
        deployments.iter().map(|d| d["metadata"]["name"].as_str().unwrap().to_string()).collect();
    let expected: BTreeSet<String> = subsets.iter().map(|s| format!("{}-{s}", sg.name)).collect();
    prop_assert_eq!(names, expected, "{}: a Deployment per subset", state);
    let hpas: BTreeSet<String> = of("HorizontalPodAutoscaler")
        .iter()
        .map(|h| h["spec"]["scaleTargetRef"]["name"].as_str().unwrap().to_string())
        .collect();
    for d in &deployments {
        let name = d["metadata"]["name"].as_str().unwrap().to_string();
        let version = d["metadata"]["labels"]["version"].as_str().unwrap();
        let image = if version == stable { &sg.stable.1 } else { &sg.canary.as_ref().unwrap().1 };
        let containers = d["spec"]["template"]["spec"]["containers"].as_array().unwrap();
        prop_assert!(containers.iter().any(|c| c["image"].as_str() == Some(image)), "{}: image {:?}", state, image);
        let replicas = d["spec"].get("replicas").and_then(Value::as_u64);
        prop_assert!(replicas.is_some() != hpas.contains(&name), "{}: {} needs replicas or an HPA", state, name);
        let template = d["spec"]["template"].clone();
        if let Some(before) = templates.insert(name.clone(), template.clone()) {
            prop_assert_eq!(before, template, "{}: the pod template of {} changed between states", state, name);
        }
        if step == Step::Aborted && version != stable {
            prop_assert_eq!(replicas, Some(0), "{}: the canary is held at 0", state);
        }
    }
    if step == Step::Prepare {
        prop_assert_eq!(subsets.len(), 2, "prepare: the canary's subset exists");
    }
    Ok(())
}

#[test]
fn accepted_specs_render_sound_overlays() {
    let counts = Cell::new((0u32, 0u32, 0u32)); // (valid-looking, accepted, with a mistake)
    check(128, gen_spec(true), |sg| {
        let text = sg.yaml();
        let (canaries, problems) = spec::parse_file(Path::new(FILE), &text);
        if let Some(mistake) = sg.mistake {
            let (valid, accepted, wrong) = counts.get();
            counts.set((valid, accepted, wrong + 1));
            prop_assert!(canaries.is_empty(), "{:?} was accepted:\n{}", mistake, text);
            let lines = text.lines().count() as u64;
            for p in &problems.0 {
                prop_assert!(
                    p.location.file == Path::new(FILE) && (1..=lines).contains(&p.location.line),
                    "{:?}: the problem is not at a place in the file: {}",
                    mistake,
                    p
                );
            }
            return Ok(());
        }
        let (valid, accepted, wrong) = counts.get();
        counts.set((valid + 1, accepted + u32::from(!canaries.is_empty()), wrong));
        let Some(canary) = canaries.first() else {
            // A valid-looking spec may still break a rule by chance (an odd image); fine, but
            // it must say where.
            prop_assert!(!problems.is_empty(), "refused without a problem:\n{}", text);
            return Ok(());
        };
        prop_assert_eq!(canaries.len(), 1);
        let mut templates = BTreeMap::new();
        for (step, rendered) in render_all(canary)? {
            sound(&sg, canary, step, &rendered, &mut templates)
                .map_err(|e| TestCaseError::fail(format!("{e}\nspec:\n{text}")))?;
        }
        let _ = plan::warnings(canary);
        Ok(())
    });
    let (valid, accepted, wrong) = counts.get();
    eprintln!(
        "accepted_specs_render_sound_overlays: {accepted} of {valid} valid-looking specs accepted, {wrong} with a mistake refused"
    );
    assert!(accepted * 2 >= valid && accepted >= 16, "too few generated specs were accepted: {accepted} of {valid}");
}
