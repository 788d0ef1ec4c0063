//! The README's table of spec fields and `kanari schema` name the same fields: a field the loader
//! reads is documented, and a documented field exists. The schema's closed sets are enums, so
//! editors complete them. The help of the commands that read the clock names `KANARI_NOW`.

use std::collections::BTreeSet;

use serde_json::Value;

use crate::{kanari, project};

/// Types described once in the table, under a short prefix of their own, wherever they occur.
const SHARED: [(&str, &str); 1] = [("Match", "match[]")];
/// Types the table describes as one field (their inner shape is in that row's text).
const LEAVES: [&str; 2] = ["StringMatch", "PodTemplateSpec"];

fn schema() -> Value {
    let out = kanari(&project(), &["schema"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    serde_json::from_str(&out.stdout).unwrap()
}

fn def_name(reference: &str) -> &str {
    reference.rsplit('/').next().unwrap_or(reference)
}

/// Every field path of the schema: `spec.stages[].weight`; a list's items add `[]`.
fn walk(schema: &Value, node: &Value, path: &str, out: &mut BTreeSet<String>, seen: &mut BTreeSet<String>) {
    if let Some(reference) = node["$ref"].as_str() {
        let name = def_name(reference);
        if LEAVES.iter().any(|l| name.contains(l)) {
            return;
        }
        if let Some((_, prefix)) = SHARED.iter().find(|(n, _)| *n == name) {
            if seen.insert(name.to_string()) {
                walk(schema, &schema["$defs"][name], prefix, out, seen);
            }
            return;
        }
        walk(schema, &schema["$defs"][name], path, out, seen);
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        for choice in node[key].as_array().into_iter().flatten() {
            walk(schema, choice, path, out, seen);
        }
    }
    if !node["items"].is_null() {
        let items = if path.ends_with("[]") { path.to_string() } else { format!("{path}[]") };
        walk(schema, &node["items"], &items, out, seen);
    }
    for (field, value) in node["properties"].as_object().into_iter().flatten() {
        let at = if path.is_empty() { field.clone() } else { format!("{}.{field}", path.trim_end_matches("[]")) };
        let at = if path.ends_with("[]") { format!("{path}.{field}") } else { at };
        out.insert(at.clone());
        walk(schema, value, &at, out, seen);
    }
}

/// The fields the README's spec table names: the backticked paths in its first column.
fn documented(readme: &str) -> BTreeSet<String> {
    let start = readme.find("| field | meaning |").expect("the README has the table of spec fields");
    readme[start..]
        .lines()
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .flat_map(|l| {
            let cell = l.split('|').nth(1).unwrap_or_default();
            cell.split('`').skip(1).step_by(2).map(str::to_string).collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_readmes_table_of_spec_fields_names_every_field_kanari_schema_knows() {
    let schema = schema();
    let mut known = BTreeSet::new();
    walk(&schema, &schema, "", &mut known, &mut BTreeSet::new());
    assert!(known.contains("spec.analysis.metrics[].margin") && known.contains("match[].method"), "{known:#?}");
    let readme = std::fs::read_to_string(project().join("README.md")).unwrap();
    let table = documented(&readme);
    // Every field that holds a value of its own; an object's row (`spec.analysis`) is optional.
    let parent =
        |p: &String| known.iter().any(|k| k.starts_with(&format!("{p}.")) || k.starts_with(&format!("{p}[].")));
    let missing: Vec<&String> = known.iter().filter(|k| !parent(k) && !table.contains(*k)).collect();
    let unknown: Vec<&String> = table.difference(&known).collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "the README's table of spec fields and `kanari schema` differ:\nnot in the table: {missing:?}\nnot in the schema: {unknown:?}"
    );
}

#[test]
fn the_schemas_closed_sets_are_enums_editors_complete() {
    let schema = schema();
    let consts = |name: &str| -> Vec<String> {
        let def = &schema["$defs"][name];
        let choices = def["oneOf"].as_array().or(def["enum"].as_array()).unwrap_or_else(|| panic!("{name}: {def}"));
        choices.iter().map(|c| c["const"].as_str().or(c.as_str()).unwrap().to_string()).collect()
    };
    let builtins: Vec<String> = kanari::spec::BUILTINS.iter().map(|(name, _)| name.to_string()).collect();
    assert_eq!(consts("Builtin"), builtins);
    assert_eq!(consts("Router"), ["istio", "gateway-api"]);
    assert_eq!(consts("OnFailure"), ["abort", "hold"]);
    assert_eq!(consts("OnInconclusive"), ["hold", "pass", "abort"]);
    assert_eq!(consts("OtherRoutes"), ["stable", "follow"]);
    assert_eq!(consts("HttpMethod"), kanari::spec::HTTP_METHODS);
    let field = |pointer: &str| schema.pointer(pointer).unwrap_or_else(|| panic!("{pointer}")).to_string();
    assert!(field("/$defs/Spec/properties/router").contains("#/$defs/Router"));
    assert!(field("/$defs/Metric/properties/builtin").contains("#/$defs/Builtin"));
}

/// The commands whose answer depends on the time say how to set it: `KANARI_NOW`.
#[test]
fn promote_and_status_help_say_how_to_set_the_time() {
    for command in ["promote", "status"] {
        let out = kanari(&project(), &[command, "--help"]);
        assert_eq!(out.code, 0, "{}", out.stderr);
        assert!(
            out.stdout.contains("KANARI_NOW") && out.stdout.contains("RFC 3339"),
            "`kanari {command} --help` names KANARI_NOW:\n{}",
            out.stdout
        );
    }
}
