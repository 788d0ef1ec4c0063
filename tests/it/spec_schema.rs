//! `kanari schema`, the JSON Schema of a Canary spec for editors: the committed
//! `schemas/canary.schema.json` is its output byte for byte, every fixture spec passes it, and a
//! misspelled field fails it (in the pod template, in a stage, under `spec`), as checked by
//! PyPI's `check-jsonschema` (`.ci/run` installs it), a validator independent of kanari.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::{kanari, project};

fn check_jsonschema(files: &[PathBuf]) -> Output {
    let schema = project().join("schemas/canary.schema.json");
    let mut cmd = Command::new(crate::tool("check-jsonschema"));
    cmd.arg("--schemafile").arg(schema).args(files);
    cmd.output().unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"))
}

fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Every `fixtures/*/canaries/*.yaml`, sorted.
fn fixture_specs() -> Vec<PathBuf> {
    let mut specs: Vec<PathBuf> = std::fs::read_dir(project().join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path().join("canaries"))
        .filter(|dir| dir.is_dir())
        .flat_map(|dir| std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()))
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    specs.sort();
    specs
}

/// The files to validate for `spec`: itself when it holds one document, else each document
/// written as JSON into `dir` (check-jsonschema reads a YAML file as one document).
fn documents_of(spec: &Path, dir: &Path) -> Vec<PathBuf> {
    let docs = crate::documents(&std::fs::read_to_string(spec).unwrap());
    if docs.len() == 1 {
        return vec![spec.to_path_buf()];
    }
    let stem = spec.strip_prefix(project()).unwrap().to_string_lossy().replace('/', "_");
    docs.iter()
        .enumerate()
        .map(|(i, doc)| {
            let path = dir.join(format!("{stem}.{i}.json"));
            std::fs::write(&path, serde_json::to_vec(doc).unwrap()).unwrap();
            path
        })
        .collect()
}

#[test]
fn the_committed_schema_is_what_kanari_schema_prints() {
    // No repository needed: run in an empty folder.
    let dir = tempfile::tempdir().unwrap();
    let run = kanari(dir.path(), &["schema"]);
    assert_eq!(run.code, 0, "kanari schema: {}", run.stderr);
    let committed = std::fs::read_to_string(project().join("schemas/canary.schema.json")).unwrap();
    assert!(
        run.stdout == committed,
        "schemas/canary.schema.json differs from `kanari schema`; regenerate it with `cargo run -- schema > schemas/canary.schema.json`"
    );
    assert!(run.stdout.ends_with("}\n"), "the output ends in one newline");
    let schema: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema");
    assert_eq!(schema["properties"]["apiVersion"]["const"], "kanari.dev/v1alpha1");
    assert_eq!(schema["properties"]["kind"]["const"], "Canary");
}

#[test]
fn every_fixture_spec_passes_the_schema() {
    let dir = tempfile::tempdir().unwrap();
    let specs = fixture_specs();
    assert!(specs.len() >= 6, "the fixtures' specs: {specs:?}");
    let files: Vec<PathBuf> = specs.iter().flat_map(|s| documents_of(s, dir.path())).collect();
    let out = check_jsonschema(&files);
    assert!(out.status.success(), "{files:?}:\n{}", text(&out));
}

#[test]
fn a_misspelled_field_fails_the_schema() {
    let source = std::fs::read_to_string(project().join("fixtures/bookinfo/canaries/reviews.yaml")).unwrap();
    let probe = "          imagePullPolicy: IfNotPresent\n";
    let with_probe = |key: &str| {
        source.replace(probe, &format!("{probe}          {key}: {{httpGet: {{path: /health, port: 9080}}}}\n"))
    };
    let cases = [
        ("readinesProbe in the pod template's container", with_probe("readinesProbe")),
        ("wieght in a stage", source.replace("      weight: 10\n", "      wieght: 10\n")),
        ("stabel under spec", source.replace("\n  stable:\n", "\n  stabel:\n")),
    ];
    let dir = tempfile::tempdir().unwrap();
    // The same edit spelled right passes: what fails is the name.
    let right = dir.path().join("right.yaml");
    std::fs::write(&right, with_probe("readinessProbe")).unwrap();
    let out = check_jsonschema(std::slice::from_ref(&right));
    assert!(out.status.success(), "readinessProbe spelled right: {}", text(&out));
    for (i, (name, text_of_spec)) in cases.iter().enumerate() {
        assert_ne!(text_of_spec, &source, "{name}: the edit changed nothing");
        let path = dir.path().join(format!("{i}.yaml"));
        std::fs::write(&path, text_of_spec).unwrap();
        let out = check_jsonschema(std::slice::from_ref(&path));
        assert_eq!(out.status.code(), Some(1), "{name} passed the schema: {}", text(&out));
    }
}
