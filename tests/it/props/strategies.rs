//! The strategies: generated specs that look valid (with or without one deliberate mistake),
//! and the awkward text they are made of.

use std::collections::BTreeSet;

use kanari::spec;
use proptest::prelude::*;
use serde_json::{Value, json};

use super::{Gen, GenMatch, GenStage, MISTAKES, Mistake, Sizing, Sm};

/// Strings YAML readers like to take for something else, and other awkward text.
pub(super) fn tricky() -> impl Strategy<Value = String> {
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
pub(super) fn gen_spec(mistakes: bool) -> impl Strategy<Value = Gen> {
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
pub(super) fn make_valid(g: &mut Gen) {
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
