//! Property tests (proptest) over generated Canary specs, bounded so the files run in seconds.
//! This module holds the generated spec ([`Gen`]) and the runner; [`strategies`] generates specs
//! and awkward text, and each family of properties has its own file:
//!
//! - [`loading`]: arbitrary bytes and strings, random YAML trees, and valid specs
//!   with random edits, and generated specs with deliberate mistakes (among them pod templates
//!   of the wrong shape) go through `spec::parse_file` (and, when accepted, through planning,
//!   rendering and warnings) without a panic;
//! - [`sound`]: generated specs that look valid (every match form,
//!   replicas or autoscaling, overrides, pauses, templates, odd strings that YAML must quote) are
//!   parsed; for every accepted one and every state, planning and rendering succeed and are
//!   deterministic, the VirtualService obeys the Istio rules kanari must enforce (weights sum to
//!   100, every routed subset is a DestinationRule subset, the catch-all rule is last, no wildcard
//!   host on the mesh, no duplicate host), and the values of the spec survive the round trip
//!   through YAML. Specs given one deliberate mistake must be refused at a place inside the file.
//!   A good share of the generated specs must be accepted, so the property is not vacuous;
//! - [`binary`]: fewer cases run the real binary
//!   (`lint`, then `render --all-stages --out`), compare its files with the library's, build
//!   every state with the real `kubectl kustomize` and validate the manifests against the upstream
//!   schemas (see [`crate::schema`]).
//!
//! A failing case is printed shrunk, with the seed that replays it; every run draws the same
//! cases unless told otherwise ([`crate::proptesting`]).

mod binary;
mod loading;
mod own;
mod sound;
mod strategies;

use std::collections::BTreeMap;

use kanari::spec;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError};
use serde_json::{Value, json};

use crate::{Spec, Stage};

/// The spec file every generated spec is read as.
const FILE: &str = "canaries/x.yaml";

fn config(cases: u32) -> Config {
    Config { max_shrink_iters: 256, ..crate::proptesting::config(cases) }
}

/// Runs `test` over `strategy`; a failure panics with the shrunk input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    crate::proptesting::run(config(cases), strategy, test);
}

// ---------------------------------------------------------------------------------------------
// The generated spec.

#[derive(Clone, Debug)]
struct Gen {
    name: String,
    namespace: Option<String>,
    output: Option<String>,
    port: u32,
    create: Option<bool>,
    hosts: Option<Vec<String>>,
    gateways: Option<Vec<String>>,
    stable: (String, String),
    canary: Option<(String, String)>,
    sizing: Sizing,
    template: Option<Value>,
    stages: Vec<GenStage>,
    /// Write stages as one JSON-style flow sequence instead of block style.
    flow_stages: bool,
    /// Write the small mappings (service, stable, canary...) in block style, not as flow ones.
    block: bool,
    mistake: Option<Mistake>,
    /// Which part of the template [`Mistake::TemplateShape`] replaces, and with what (indices
    /// into [`TEMPLATE_SLOTS`] and the wrong values for that slot).
    shape: (usize, usize),
}

#[derive(Clone, Debug)]
enum Sizing {
    Default,
    Replicas(u32),
    Autoscaling { min: u32, max: u32, target: u32 },
}

#[derive(Clone, Debug)]
struct GenStage {
    name: String,
    weight: Option<u32>,
    matches: Vec<GenMatch>,
    replicas: Option<(Option<u32>, Option<u32>)>,
    pause: Option<(Option<bool>, Option<String>)>,
}

#[derive(Clone, Debug)]
struct GenMatch {
    headers: Vec<(String, Sm)>,
    cookie: Option<(String, String)>,
    uri: Option<Sm>,
}

#[derive(Clone, Debug)]
enum Sm {
    Exact(String),
    Prefix(String),
    Regex(String),
}

impl Sm {
    fn json(&self) -> Value {
        match self {
            Sm::Exact(v) => json!({ "exact": v }),
            Sm::Prefix(v) => json!({ "prefix": v }),
            Sm::Regex(v) => json!({ "regex": v }),
        }
    }
}

/// One deliberate mistake that the loader must refuse.
#[derive(Clone, Copy, Debug)]
enum Mistake {
    WeightOver100,
    NegativeWeight,
    UppercaseName,
    CanaryIsStable,
    PortZero,
    PortTooBig,
    ReplicasAndAutoscaling,
    ReservedStageName,
    DuplicateStageName,
    EmptyMatch,
    UppercaseHeader,
    RegexDoesNotCompile,
    RegexTooLong,
    BadDuration,
    UnknownField,
    OutputUp,
    OutputIntoGit,
    YesForTrue,
    CanaryWithoutStages,
    StableZeroWithTraffic,
    ImageWithSpace,
    DuplicateKey,
    EmptyPrefix,
    /// A part of the pod template of the wrong shape (`metadata: oops`, `spec: null`,
    /// `containers` as a mapping...), which must be refused, not planned.
    TemplateShape,
}

const MISTAKES: [Mistake; 24] = [
    Mistake::WeightOver100,
    Mistake::NegativeWeight,
    Mistake::UppercaseName,
    Mistake::CanaryIsStable,
    Mistake::PortZero,
    Mistake::PortTooBig,
    Mistake::ReplicasAndAutoscaling,
    Mistake::ReservedStageName,
    Mistake::DuplicateStageName,
    Mistake::EmptyMatch,
    Mistake::UppercaseHeader,
    Mistake::RegexDoesNotCompile,
    Mistake::RegexTooLong,
    Mistake::BadDuration,
    Mistake::UnknownField,
    Mistake::OutputUp,
    Mistake::OutputIntoGit,
    Mistake::YesForTrue,
    Mistake::CanaryWithoutStages,
    Mistake::StableZeroWithTraffic,
    Mistake::ImageWithSpace,
    Mistake::DuplicateKey,
    Mistake::EmptyPrefix,
    Mistake::TemplateShape,
];

/// The kinds of YAML value a part of a template can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Null,
    Str,
    Int,
    Bool,
    List,
    Map,
}

/// Parts that every generated template has (see [`template`]), with the kind each must be.
const TEMPLATE_SLOTS: [(&str, Kind); 11] = [
    ("", Kind::Map),
    ("/metadata", Kind::Map),
    ("/metadata/labels", Kind::Map),
    ("/spec", Kind::Map),
    ("/spec/containers", Kind::List),
    ("/spec/containers/0", Kind::Map),
    ("/spec/containers/0/name", Kind::Str),
    ("/spec/containers/0/ports", Kind::List),
    ("/spec/containers/0/ports/0", Kind::Map),
    ("/spec/containers/0/ports/0/containerPort", Kind::Int),
    ("/spec/containers/0/env", Kind::List),
];

/// `template` with one part replaced by a value of another kind. (`template: null` itself is
/// no template, as for every optional field of a spec, so the whole template is never null.)
fn wrong_shape(template: &Value, (slot, pick): (usize, usize)) -> Value {
    let values = [
        (Kind::Null, Value::Null),
        (Kind::Str, json!("oops")),
        (Kind::Str, json!("80")),
        (Kind::Int, json!(1)),
        (Kind::Bool, json!(true)),
        (Kind::List, json!(["a"])),
        (Kind::Map, json!({ "a": "b" })),
    ];
    let (path, kind) = TEMPLATE_SLOTS[slot % TEMPLATE_SLOTS.len()];
    let wrong: Vec<&Value> =
        values.iter().filter(|(k, _)| *k != kind && !(path.is_empty() && *k == Kind::Null)).map(|(_, v)| v).collect();
    let value = wrong[pick % wrong.len()].clone();
    let mut out = template.clone();
    match out.pointer_mut(path) {
        Some(part) => *part = value,
        None => panic!("every generated template has {path}: {template}"),
    }
    out
}

/// A YAML scalar for `s`: plain when it is a simple word, else a JSON string (valid YAML).
fn q(s: &str) -> String {
    let simple = s.len() <= 40
        && s.starts_with(|c: char| c.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !["yes", "no", "on", "off", "y", "n", "true", "false", "null"].contains(&s);
    if simple { s.to_string() } else { serde_json::to_string(s).unwrap() }
}

impl Gen {
    /// The spec as YAML text, with its mistake if it has one.
    fn yaml(&self) -> String {
        let mut g = self.clone();
        let mut extra_spec_lines = Vec::new();
        let mut stage_extra: Option<String> = None;
        match self.mistake {
            None => {}
            Some(m) => {
                let first = &mut g.stages[0];
                match m {
                    Mistake::WeightOver100 => first.weight = Some(101),
                    Mistake::NegativeWeight => stage_extra = Some("weight: -1".into()),
                    Mistake::UppercaseName => g.name = format!("W{}", g.name),
                    Mistake::CanaryIsStable => g.canary.as_mut().unwrap().0 = g.stable.0.clone(),
                    Mistake::PortZero => g.port = 0,
                    Mistake::PortTooBig => g.port = 65536,
                    Mistake::ReplicasAndAutoscaling => {
                        g.sizing = Sizing::Autoscaling { min: 1, max: 2, target: 50 };
                        extra_spec_lines.push("replicas: 3".to_string());
                    }
                    Mistake::ReservedStageName => first.name = "prepare".into(),
                    Mistake::DuplicateStageName => {
                        let copy = g.stages[0].clone();
                        g.stages.push(copy);
                    }
                    Mistake::EmptyMatch => stage_extra = Some("match: [{}]".into()),
                    Mistake::UppercaseHeader => first.matches.push(GenMatch {
                        headers: vec![("X-User".into(), Sm::Exact("a".into()))],
                        cookie: None,
                        uri: None,
                    }),
                    Mistake::RegexDoesNotCompile => first.matches.push(GenMatch {
                        headers: vec![],
                        cookie: None,
                        uri: Some(Sm::Regex("((".into())),
                    }),
                    Mistake::RegexTooLong => first.matches.push(GenMatch {
                        headers: vec![("x-long".into(), Sm::Regex("a".repeat(1025)))],
                        cookie: None,
                        uri: None,
                    }),
                    Mistake::BadDuration => first.pause = Some((None, Some("5x".into()))),
                    Mistake::UnknownField => stage_extra = Some("wieght: 3".into()),
                    Mistake::OutputUp => g.output = Some("overlays/../../escape".into()),
                    Mistake::OutputIntoGit => g.output = Some(".Git/hooks".into()),
                    Mistake::YesForTrue => stage_extra = Some("pause: {approval: yes}".into()),
                    Mistake::CanaryWithoutStages => g.stages.clear(),
                    Mistake::StableZeroWithTraffic => {
                        first.weight = Some(50);
                        first.replicas = Some((Some(0), None));
                    }
                    Mistake::ImageWithSpace => g.stable.1 = "web 1".into(),
                    Mistake::DuplicateKey => extra_spec_lines.push("service: {port: 80}".into()),
                    Mistake::EmptyPrefix => first.matches.push(GenMatch {
                        headers: vec![],
                        cookie: None,
                        uri: Some(Sm::Prefix(String::new())),
                    }),
                    Mistake::TemplateShape => {
                        let valid = g.template.clone().unwrap_or_else(|| {
                            json!({ "metadata": { "labels": {} }, "spec": { "containers": [
                                { "name": g.name, "ports": [{ "containerPort": 80 }], "env": [] }
                            ] } })
                        });
                        g.template = Some(wrong_shape(&valid, g.shape));
                    }
                }
            }
        }
        g.write(&extra_spec_lines, stage_extra.as_deref())
    }

    fn write(&self, extra_spec_lines: &[String], stage_extra: Option<&str>) -> String {
        let (version, image) = &self.stable;
        let mut spec = Spec::new(&q(&self.name)).port(self.port).stable(&q(version), &q(image));
        spec = match &self.namespace {
            Some(ns) => spec.namespace(&q(ns)),
            None => spec.without_namespace(),
        };
        if let Some(out) = &self.output {
            spec = spec.output(&q(out));
        }
        if let Some(create) = self.create {
            spec = spec.create(create);
        }
        for line in extra_spec_lines {
            spec = spec.line(line);
        }
        if let Some(hosts) = &self.hosts {
            spec = spec.hosts(&hosts.iter().map(|h| q(h)).collect::<Vec<_>>());
        }
        if let Some(gateways) = &self.gateways {
            spec = spec.gateways(&gateways.iter().map(|g| q(g)).collect::<Vec<_>>());
        }
        spec = match &self.canary {
            Some((version, image)) => spec.canary(&q(version), &q(image)),
            None => spec.without_canary(),
        };
        match self.sizing {
            Sizing::Default => {}
            Sizing::Replicas(n) => spec = spec.replicas(n),
            Sizing::Autoscaling { min, max, target } => spec = spec.autoscaling(min, max, target),
        }
        if let Some(t) = &self.template {
            spec = spec.template_inline(&serde_json::to_string(t).unwrap());
        }
        let mut stages: Vec<Stage> = self.stages.iter().map(GenStage::stage).collect();
        if let Some(extra) = stage_extra {
            match stages.first_mut() {
                Some(first) => *first = first.clone().line(extra),
                None => stages.push(Stage::new("only").line(extra)),
            }
        }
        spec = spec.stages(stages);
        if self.flow_stages && stage_extra.is_none() {
            spec = spec.flow_stages();
        }
        if self.block {
            spec = spec.block();
        }
        format!("# generated\n{}", spec.yaml())
    }
}

impl GenStage {
    fn stage(&self) -> Stage {
        let mut stage = Stage::new(&q(&self.name));
        if let Some(w) = self.weight {
            stage = stage.weight(w);
        }
        if !self.matches.is_empty() {
            let m: Vec<Value> = self.matches.iter().map(GenMatch::json).collect();
            stage = stage.matches(&serde_json::to_string(&m).unwrap());
        }
        if let Some((stable, canary)) = self.replicas {
            stage = stage.replicas(stable, canary);
        }
        if let Some((approval, duration)) = &self.pause {
            stage = stage.pause(*approval, duration.as_deref().map(q).as_deref());
        }
        stage
    }
}

impl GenMatch {
    fn json(&self) -> Value {
        let mut m = serde_json::Map::new();
        if !self.headers.is_empty() {
            let h: serde_json::Map<String, Value> = self.headers.iter().map(|(k, v)| (k.clone(), v.json())).collect();
            m.insert("headers".into(), Value::Object(h));
        }
        if let Some((name, value)) = &self.cookie {
            m.insert("cookie".into(), json!({ "name": name, "value": value }));
        }
        if let Some(uri) = &self.uri {
            m.insert("uri".into(), uri.json());
        }
        Value::Object(m)
    }

    /// The Istio `HTTPMatchRequest` this entry must become.
    fn istio(&self) -> Value {
        let mut headers: BTreeMap<String, Value> = self.headers.iter().map(|(k, v)| (k.clone(), v.json())).collect();
        if let Some((name, value)) = &self.cookie {
            headers.insert("cookie".into(), json!({ "regex": cookie_regex(name, value) }));
        }
        let mut m = serde_json::Map::new();
        if !headers.is_empty() {
            m.insert("headers".into(), json!(headers));
        }
        if let Some(uri) = &self.uri {
            m.insert("uri".into(), uri.json());
        }
        Value::Object(m)
    }
}

/// kanari's regex on the `cookie` header for `name=value`.
fn cookie_regex(name: &str, value: &str) -> String {
    spec::Cookie { name: name.to_string(), value: value.to_string() }.header_regex()
}
