//! Property tests (proptest) over generated Canary specs, bounded so the file runs in seconds:
//!
//! - [`loading_never_panics`]: arbitrary bytes and strings, random YAML trees, and valid specs
//!   with random edits, and generated specs with deliberate mistakes (among them pod templates
//!   of the wrong shape) go through `spec::parse_file` (and, when accepted, through planning,
//!   rendering and warnings) without a panic;
//! - [`accepted_specs_render_sound_overlays`]: generated specs that look valid (every match form,
//!   replicas or autoscaling, overrides, pauses, templates, odd strings that YAML must quote) are
//!   parsed; for every accepted one and every state, planning and rendering succeed and are
//!   deterministic, the VirtualService obeys the Istio rules kanari must enforce (weights sum to
//!   100, every routed subset is a DestinationRule subset, the catch-all rule is last, no wildcard
//!   host on the mesh, no duplicate host), and the values of the spec survive the round trip
//!   through YAML. Specs given one deliberate mistake must be refused at a place inside the file.
//!   A good share of the generated specs must be accepted, so the property is not vacuous;
//! - [`the_binary_writes_overlays_that_kustomize_builds`]: fewer cases run the real binary
//!   (`lint`, then `render --all-stages --out`), compare its files with the library's, build
//!   every state with the real `kubectl kustomize` and validate the manifests against the upstream
//!   schemas (see [`crate::schema`]).
//!
//! A failing case is printed shrunk; proptest seeds each run afresh (set `PROPTEST_RNG_SEED` to
//! replay one), and no regression file is written into the source tree.

use std::cell::Cell;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use kanari::commands::Renderer;
use kanari::plan::{self, State, Step};
use kanari::render::Rendered;
use kanari::spec::{self, Canary};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::{Spec, Stage, kanari_ok, kustomize, repo_with};

/// The spec file every generated spec is read as.
const FILE: &str = "canaries/x.yaml";

fn config(cases: u32) -> Config {
    Config { cases, failure_persistence: None, max_shrink_iters: 256, ..Config::default() }
}

/// Runs `test` over `strategy`; a failure panics with the shrunk input.
fn check<S: Strategy>(cases: u32, strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>)
where
    S::Value: std::fmt::Debug,
{
    let mut runner = TestRunner::new(config(cases));
    if let Err(e) = runner.run(&strategy, test) {
        panic!("{e}");
    }
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

// ---------------------------------------------------------------------------------------------
// Strategies.

/// Strings YAML readers like to take for something else, and other awkward text.
fn tricky() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "yes",
        "No",
        "on",
        "OFF",
        "y",
        "~",
        "null",
        "true",
        "1.0",
        "1e3",
        "0x1F",
        "0o17",
        "1_000",
        "1:30",
        ".inf",
        "-.inf",
        ".NaN",
        "2026-01-02",
        "2026-01-02T03:04:05Z",
        "-x",
        "? x",
        "x:",
        "x: y",
        "a #b",
        "#x",
        "*x",
        "&x",
        "!x",
        "%x",
        "@x",
        "`x",
        "'x",
        "\"x",
        "{x}",
        "[x]",
        "x,y",
        "<<",
        "=",
        "|",
        ">",
        "über",
        "日本",
        "a\tb",
        "a\nb",
        "a\\b",
        " x",
        "x ",
        "\u{feff}x",
        "\u{85}",
        "\u{2028}",
        "",
    ])
    .prop_map(str::to_string)
}

/// Any text: simple, awkward or arbitrary.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[a-zA-Z0-9._/-]{1,12}",
        2 => tricky(),
        1 => "\\PC{0,10}",
        1 => any::<String>().prop_map(|s| s.chars().take(12).collect()),
    ]
}

/// Text with no whitespace or control characters (images), often awkward for YAML.
fn image() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z0-9]{1,6}(\\.[a-z]{2,4})?/[a-z0-9-]{1,10}:[0-9]{1,2}\\.[0-9]{1,2}",
        1 => "[a-z]{1,6}@sha256:[0-9a-f]{64}",
        2 => tricky().prop_filter("no spaces", |s| !s.is_empty() && !s.chars().any(|c| c.is_whitespace() || c.is_control())),
        1 => "[!-~]{1,20}",
    ]
}

fn dns1123() -> impl Strategy<Value = String> {
    "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?"
}

fn host() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => dns1123(),
        2 => "[a-z0-9]{1,6}\\.[a-z0-9]{1,6}(\\.svc\\.cluster\\.local)?",
        1 => "\\*\\.[a-z]{1,6}\\.com",
        1 => Just("*".to_string()),
    ]
}

fn gateway() -> impl Strategy<Value = String> {
    prop_oneof![Just("mesh".to_string()), dns1123(), "[a-z0-9]{1,6}/[a-z0-9]{1,6}(\\.[a-z]{1,4})?"]
}

fn string_match(nonempty: bool) -> impl Strategy<Value = Sm> {
    let regex = prop_oneof![
        prop::sample::select(vec!["^/api(/.*)?$", ".*", "^(a|b)+$", "[0-9]{3}", "\\d+", "(?i)jason", "é+", "^$"])
            .prop_map(str::to_string),
        text().prop_map(|t| regex::escape(&t)),
    ];
    prop_oneof![
        text().prop_filter("non-empty when required", move |t| !nonempty || !t.is_empty()).prop_map(Sm::Exact),
        text().prop_filter("a prefix is not empty", |t| !t.is_empty()).prop_map(Sm::Prefix),
        regex.prop_map(Sm::Regex),
    ]
}

fn a_match() -> impl Strategy<Value = GenMatch> {
    let header_name = prop_oneof![4 => "[a-z][a-z0-9-]{0,10}", 1 => "[a-z0-9!#$%&'*+.^_`|~-]{1,8}"];
    let cookie = ("[A-Za-z0-9!#$%&'*+.^_`|~-]{1,10}", "[\\x21\\x23-\\x2b\\x2d-\\x3a\\x3c-\\x5b\\x5d-\\x7e]{1,12}");
    (
        prop::collection::btree_map(header_name, string_match(false), 0..3),
        prop::option::weighted(0.3, cookie),
        prop::option::weighted(0.4, string_match(true)),
    )
        .prop_map(|(headers, cookie, uri)| {
            let mut headers: Vec<(String, Sm)> = headers.into_iter().collect();
            if cookie.is_some() {
                headers.retain(|(k, _)| k != "cookie");
            }
            let uri = match (&uri, headers.is_empty() && cookie.is_none()) {
                (None, true) => Some(Sm::Prefix("/".into())),
                _ => uri,
            };
            GenMatch { headers, cookie, uri }
        })
}

fn stage() -> impl Strategy<Value = GenStage> {
    let name = prop_oneof![3 => "[a-z0-9][a-z0-9._-]{0,8}", 1 => "[0-9]{1,3}", 1 => "[A-Z][a-zA-Z0-9]{0,6}"];
    let duration = prop_oneof![
        prop::sample::select(vec!["30m", "1h30m", "45s", "2d", "0s", "1h"]).prop_map(str::to_string),
        "[1-9][0-9]{0,2}[smhd]",
    ];
    (
        name,
        prop::option::weighted(0.85, 0u32..=100),
        prop::collection::vec(a_match(), 0..3),
        prop::option::weighted(0.3, (prop::option::of(0u32..12), prop::option::of(0u32..12))),
        prop::option::weighted(0.4, (prop::option::of(any::<bool>()), prop::option::of(duration))),
    )
        .prop_map(|(name, weight, mut matches, replicas, pause)| {
            // Most stages route by weight alone, as real releases do.
            if matches.len() == 2 {
                matches.truncate(1);
            }
            GenStage { name, weight, matches, replicas, pause }
        })
}

fn template(release: String) -> impl Strategy<Value = Option<Value>> {
    let label_value =
        prop_oneof!["[a-z0-9]{1,8}", Just("yes".to_string()), Just("1.0".to_string()), Just(String::new())];
    let labels =
        prop::collection::btree_map(prop_oneof!["[a-z][a-z0-9]{0,6}", "example\\.com/[a-z]{1,6}"], label_value, 0..3);
    let main_name = prop_oneof![Just(release.clone()), "[a-z][a-z0-9]{0,5}"];
    (labels, main_name, any::<bool>(), any::<u16>(), prop::option::of("[a-z]{1,5}"), any::<bool>()).prop_map(
        move |(labels, main, sidecar, port, env, annotate)| {
            let mut containers = vec![json!({
                "name": main,
                "ports": [{ "containerPort": (u32::from(port) % 65535) + 1 }],
                "env": env.map(|v| json!([{ "name": "MODE", "value": v }])).unwrap_or(json!([])),
            })];
            if sidecar {
                containers[0]["name"] = json!(release);
                containers.push(json!({ "name": "proxy", "image": "envoy:1", "args": ["--x", "yes", "1:30"] }));
            }
            let mut metadata = json!({ "labels": labels });
            if annotate {
                metadata["annotations"] = json!({ "note": "x: y # z", "n": "1" });
            }
            Some(json!({ "metadata": metadata, "spec": { "containers": containers } }))
        },
    )
}

fn sizing() -> impl Strategy<Value = Sizing> {
    prop_oneof![
        1 => Just(Sizing::Default),
        4 => (1u32..=20).prop_map(Sizing::Replicas),
        4 => (1u32..=5, 0u32..=8, 1u32..=100).prop_map(|(min, extra, target)| Sizing::Autoscaling { min, max: min + extra, target }),
    ]
}

/// Specs that look valid; `mistakes` gives one in four of them a deliberate mistake.
fn gen_spec(mistakes: bool) -> impl Strategy<Value = Gen> {
    let name = "[a-z]([a-z0-9-]{0,12}[a-z0-9])?";
    let version = prop_oneof!["v[0-9]{1,3}", dns1123()];
    let output = prop_oneof![
        "overlays/[a-z0-9]{1,8}",
        "[a-z0-9][a-z0-9._-]{0,6}/[a-z0-9][a-z0-9._-]{0,6}",
        "\\./deploy/[a-z]{1,5}/",
    ];
    let mistake = if mistakes {
        // Wrong-shaped templates come up more often than the rest: they have many forms.
        let mistake = prop_oneof![3 => prop::sample::select(MISTAKES.to_vec()), 1 => Just(Mistake::TemplateShape)];
        prop::option::weighted(0.25, mistake).boxed()
    } else {
        Just(None).boxed()
    };
    (
        (
            name,
            prop::option::of(dns1123()),
            prop::option::weighted(0.3, output),
            1u32..=65535,
            prop::option::of(any::<bool>()),
        ),
        (
            prop::option::weighted(0.3, prop::collection::vec(host(), 1..3)),
            prop::option::weighted(0.2, prop::collection::btree_set(gateway(), 0..3)),
        ),
        ((version.clone(), image()), prop::option::weighted(0.85, (version, image()))),
        sizing(),
        prop::collection::vec(stage(), 0..5),
        (any::<bool>(), any::<bool>()),
        (mistake, (0usize..1000, 0usize..1000)),
    )
        .prop_flat_map(
            |(
                (name, namespace, output, port, create),
                (hosts, gateways),
                (stable, canary),
                sizing,
                stages,
                (flow, block),
                (mistake, shape),
            )| {
                let sg = Gen {
                    name: name.clone(),
                    namespace,
                    output,
                    port,
                    create,
                    hosts,
                    gateways: gateways.map(|g| g.into_iter().collect()),
                    stable,
                    canary,
                    sizing,
                    template: None,
                    stages,
                    flow_stages: flow,
                    block,
                    mistake,
                    shape,
                };
                (Just(sg), prop::option::weighted(0.5, template(name)).prop_map(Option::flatten))
            },
        )
        .prop_map(|(mut sg, template)| {
            sg.template = template;
            make_valid(&mut sg);
            sg
        })
}

/// Repairs what the random choices got wrong by chance, so that only the deliberate mistake (if
/// any) makes the spec invalid.
fn make_valid(g: &mut Gen) {
    if let Some(canary) = &mut g.canary
        && canary.0 == g.stable.0
    {
        canary.0 = format!("{}x", canary.0);
    }
    if g.mistake.is_some() {
        if g.canary.is_none() {
            g.canary = Some(("mistake".into(), "web:2".into()));
        }
        if g.stages.is_empty() {
            g.stages.push(GenStage {
                name: "one".into(),
                weight: Some(10),
                matches: vec![],
                replicas: None,
                pause: None,
            });
        }
    }
    if g.canary.is_some() && g.stages.is_empty() {
        g.stages.push(GenStage { name: "all".into(), weight: Some(100), matches: vec![], replicas: None, pause: None });
    }
    let cap = match g.sizing {
        Sizing::Autoscaling { max, .. } => max,
        _ => 10_000,
    };
    let mut seen = BTreeSet::new();
    for (i, s) in g.stages.iter_mut().enumerate() {
        if spec::RESERVED_STAGE_NAMES.contains(&s.name.as_str()) || !seen.insert(s.name.clone()) {
            s.name = format!("{}-{i}", s.name);
            seen.insert(s.name.clone());
        }
        let weight = s.weight.unwrap_or(0);
        let routed = !s.matches.is_empty();
        if let Some((stable, canary)) = &mut s.replicas {
            for n in [&mut *stable, &mut *canary].into_iter().flatten() {
                *n = (*n).min(cap);
            }
            if *stable == Some(0) && (weight != 100 || routed) {
                *stable = Some(1);
            }
            if *canary == Some(0) && (weight != 0 || routed) {
                *canary = Some(1);
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (a) Loading never panics.

/// A random YAML node, written as text at an indent (block style) or inline (flow style).
#[derive(Clone, Debug)]
enum Node {
    Scalar(String),
    Map(Vec<(String, Node)>),
    Seq(Vec<Node>),
}

fn node() -> impl Strategy<Value = Node> {
    let keys = prop_oneof![
        prop::sample::select(vec![
            "apiVersion",
            "kind",
            "metadata",
            "spec",
            "name",
            "namespace",
            "service",
            "port",
            "stable",
            "canary",
            "version",
            "image",
            "stages",
            "weight",
            "match",
            "headers",
            "cookie",
            "uri",
            "exact",
            "prefix",
            "regex",
            "replicas",
            "autoscaling",
            "template",
            "pause",
            "approval",
            "duration",
            "output",
            "hosts",
            "gateways",
            "<<",
            "? x",
            "&a k",
            "!!str k",
        ])
        .prop_map(str::to_string),
        "[a-z]{1,6}",
    ];
    let scalars = prop_oneof![
        prop::sample::select(vec![
            "kanari.dev/v1alpha1",
            "Canary",
            "&a x",
            "*a",
            "!!binary aGk=",
            "!!int x",
            "!custom x",
            "!!map {}",
            "&b [*b]",
            "|",
            ">-",
            "- x",
            "[",
            "]",
            "{",
            "}",
            "'",
            "\"",
            "---",
            "...",
            "%YAML 1.2",
            "@",
            "99999999999999999999",
            "-9223372036854775809",
            "0.0000001",
            "1e309",
        ])
        .prop_map(str::to_string),
        tricky().prop_map(|s| serde_json::to_string(&s).unwrap()),
        tricky(),
        "-?[0-9]{1,5}",
    ];
    scalars.prop_map(Node::Scalar).prop_recursive(5, 48, 6, move |inner| {
        prop_oneof![
            prop::collection::vec((keys.clone(), inner.clone()), 0..6).prop_map(Node::Map),
            prop::collection::vec(inner, 0..6).prop_map(Node::Seq),
        ]
    })
}

impl Node {
    fn flow(&self) -> String {
        match self {
            Node::Scalar(s) => s.clone(),
            Node::Map(entries) => {
                let parts: Vec<String> = entries.iter().map(|(k, v)| format!("{k}: {}", v.flow())).collect();
                format!("{{{}}}", parts.join(", "))
            }
            Node::Seq(items) => format!("[{}]", items.iter().map(Node::flow).collect::<Vec<_>>().join(", ")),
        }
    }

    fn block(&self, indent: usize, out: &mut String) {
        let pad = " ".repeat(indent);
        match self {
            Node::Scalar(s) => out.push_str(&format!("{pad}{s}\n")),
            Node::Map(entries) if !entries.is_empty() => {
                for (k, v) in entries {
                    match v {
                        Node::Scalar(_) => out.push_str(&format!("{pad}{k}: {}\n", v.flow())),
                        _ if indent % 3 == 1 => out.push_str(&format!("{pad}{k}: {}\n", v.flow())),
                        _ => {
                            out.push_str(&format!("{pad}{k}:\n"));
                            v.block(indent + 2, out);
                        }
                    }
                }
            }
            Node::Seq(items) if !items.is_empty() => {
                for item in items {
                    match item {
                        Node::Scalar(_) => out.push_str(&format!("{pad}- {}\n", item.flow())),
                        _ => {
                            out.push_str(&format!("{pad}-\n"));
                            item.block(indent + 2, out);
                        }
                    }
                }
            }
            _ => out.push_str(&format!("{pad}{}\n", self.flow())),
        }
    }
}

/// Random YAML: a tree on its own, or under a valid header, in block or flow style, maybe
/// several documents.
fn random_yaml() -> impl Strategy<Value = String> {
    (prop::collection::vec(node(), 1..3), any::<bool>(), any::<bool>()).prop_map(|(docs, header, flow)| {
        let mut out = String::new();
        for (i, doc) in docs.iter().enumerate() {
            if i > 0 {
                out.push_str("---\n");
            }
            if header {
                out.push_str("apiVersion: kanari.dev/v1alpha1\nkind: Canary\nmetadata: {name: web}\nspec:\n");
                doc.block(2, &mut out);
            } else if flow {
                out.push_str(&doc.flow());
                out.push('\n');
            } else {
                doc.block(0, &mut out);
            }
        }
        out
    })
}

/// A valid-looking spec with random edits: lines deleted, duplicated or swapped, bytes inserted,
/// the text cut short.
fn edited_spec() -> impl Strategy<Value = String> {
    let edit = (0u8..5, any::<prop::sample::Index>(), any::<prop::sample::Index>(), tricky());
    (gen_spec(false), prop::collection::vec(edit, 1..4)).prop_map(|(sg, edits)| {
        let mut lines: Vec<String> = sg.yaml().lines().map(str::to_string).collect();
        for (kind, a, b, insert) in edits {
            if lines.is_empty() {
                break;
            }
            let (i, j) = (a.index(lines.len()), b.index(lines.len()));
            match kind {
                0 => {
                    lines.remove(i);
                }
                1 => {
                    let l = lines[i].clone();
                    lines.insert(j, l);
                }
                2 => lines.swap(i, j),
                3 => {
                    let l = &mut lines[i];
                    let at = (0..=l.len()).filter(|k| l.is_char_boundary(*k)).nth(j % (l.len() + 1)).unwrap_or(0);
                    l.insert_str(at, &insert);
                }
                _ => lines.truncate(i),
            }
        }
        lines.join("\n")
    })
}

/// Everything downstream of an accepted spec, which must not panic either.
fn plan_and_render_all(canaries: &[Canary]) {
    let renderer = Renderer::new(&Default::default()).expect("the built-in templates compile").checking_all();
    for canary in canaries {
        let _ = plan::warnings(canary);
        for step in Step::all(canary) {
            let p = plan::plan(canary, &State::new(step));
            let _ = plan::summarize(canary, step, &p);
            let _ = renderer.render(&p, &canary.file);
        }
    }
}

#[test]
fn loading_never_panics() {
    let inputs = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        any::<String>(),
        random_yaml(),
        edited_spec(),
        gen_spec(false).prop_map(|mut g| {
            g.mistake = Some(Mistake::TemplateShape);
            make_valid(&mut g);
            g.yaml()
        }),
    ];
    let accepted = Cell::new(0u32);
    check(256, inputs, |text| {
        let (canaries, problems) = spec::parse_file(Path::new(FILE), &text);
        let lines = text.lines().count() as u64 + 1;
        for p in &problems.0 {
            prop_assert!(p.location.line <= lines.max(1), "problem past the end of the file: {p}");
        }
        let _ = problems.to_string();
        if !canaries.is_empty() {
            accepted.set(accepted.get() + 1);
        }
        plan_and_render_all(&canaries);
        Ok(())
    });
    // Some edited specs stay valid, so the downstream steps did run on random input.
    eprintln!("loading_never_panics: {} of 256 inputs accepted", accepted.get());
}

// ---------------------------------------------------------------------------------------------
// (b) What kanari renders for an accepted spec is sound.

fn parse_yaml(bytes: &[u8]) -> Value {
    serde_saphyr::from_str::<Value>(std::str::from_utf8(bytes).expect("rendered files are UTF-8"))
        .expect("rendered files are YAML")
}

/// Renders every state of `canary` and checks it as `lint` does ([`kanari::check`]); checks the
/// plan and bytes are deterministic.
fn render_all(canary: &Canary) -> Result<Vec<(Step, Rendered)>, TestCaseError> {
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

/// kanari's regex on the `cookie` header for `name=value`.
fn cookie_regex(name: &str, value: &str) -> String {
    spec::Cookie { name: name.to_string(), value: value.to_string() }.header_regex()
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

// ---------------------------------------------------------------------------------------------
// (c) The real binary, kustomize and the upstream schemas.

#[test]
fn the_binary_writes_overlays_that_kustomize_builds() {
    let accepted = gen_spec(false).prop_filter("accepted by the loader", |sg| {
        let (canaries, _) = spec::parse_file(Path::new(FILE), &sg.yaml());
        !canaries.is_empty()
    });
    let mut runner = TestRunner::new(Config { max_shrink_iters: 16, ..config(8) });
    let result = runner.run(&accepted, |sg| {
        let text = sg.yaml();
        let (canaries, _) = spec::parse_file(Path::new(FILE), &text);
        let canary = &canaries[0];
        let repo = repo_with(&[(FILE, &text)]);
        let out = tempfile::tempdir().unwrap();
        let states = out.path().join("states");
        let root = repo.path().to_str().unwrap();
        kanari_ok(repo.path(), &["-C", root, "lint"]);
        kanari_ok(repo.path(), &["-C", root, "render", "--all-stages", "--out", states.to_str().unwrap()]);
        let mut manifests: Vec<PathBuf> = Vec::new();
        for (step, rendered) in render_all(canary)? {
            let dir = states.join(step.name(canary));
            let on_disk = crate::tree(&dir);
            let expected: BTreeMap<PathBuf, Vec<u8>> = std::iter::once((PathBuf::new(), b"<dir>".to_vec()))
                .chain(rendered.files.iter().map(|(n, b)| (PathBuf::from(n), b.clone())))
                .collect();
            prop_assert_eq!(
                on_disk,
                expected,
                "{}: the binary wrote other files than the library renders",
                step.name(canary)
            );
            let built = crate::documents(&kustomize(&dir));
            prop_assert_eq!(
                built.len(),
                rendered.resources.len(),
                "{}: kustomize built every resource",
                step.name(canary)
            );
            manifests.extend(rendered.resources.iter().map(|f| dir.join(f)));
        }
        if let Err(e) = crate::schema::validate(&manifests) {
            return Err(TestCaseError::fail(format!("{e}\nspec:\n{text}")));
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
