//! Loading never panics: random bytes, random YAML, edited and mistaken specs.

use std::cell::Cell;
use std::path::Path;

use kanari::commands::Renderer;
use kanari::plan::{self, State, Step};
use kanari::spec::{self, Canary};
use proptest::prelude::*;

use super::strategies::{gen_spec, make_valid, tricky};
use super::{FILE, Mistake, check};

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
            "mirror",
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
