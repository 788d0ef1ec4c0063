//! The shape of the house, as ARCHITECTURE.md draws it: each module imports only the modules
//! before it in the pipeline (so no import circle can form), no source file is over 700 lines,
//! and the pure steps do no I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The modules in pipeline order, each with the layer it sits in: a module may import modules
/// of lower layers only (and its own submodules). Mirrors ARCHITECTURE.md's table.
const LAYERS: &[(&str, u8)] = &[
    // Leaves: one job each, nothing of kanari's.
    ("problem", 0),
    ("yaml", 0),
    ("re2", 0),
    ("kube_schema", 0),
    ("diff", 0),
    ("index", 0),
    ("sparse", 0),
    ("secret", 0),
    ("flock", 0),
    ("cli", 1),
    ("exit", 0),
    ("stats", 0),
    ("proptesting", 0),
    // The outside world (git, Prometheus): what is printed of it passes through `secret`.
    ("transport", 1),
    ("prometheus", 1),
    // The pure pipeline.
    ("spec", 1),
    ("plan", 2),
    ("scaffold", 2),
    ("release", 3),
    ("analysis", 3),
    ("render", 3),
    ("check", 4),
    ("review", 4),
    // The disk and git layers.
    ("overlay", 5),
    ("repo", 6),
    // The commands glue it all; the crate root lists the modules and maps errors to exit codes.
    ("commands", 7),
    ("lib", 8),
    ("main", 8),
];

/// Modules that do no I/O: no file, process, network or git access.
const PURE: &[&str] = &[
    "scaffold",
    "scaffold/text",
    "plan/gateway",
    "plan/observed",
    "plan/state",
    "plan/pods",
    "plan/warnings",
    "check/httproute",
    "spec/router",
    "release/transition",
    "release/leaving",
    "release/tests",
    "release/make_before_break",
    "spec/rules",
    "spec/raw",
    "spec/validate",
    "spec/template",
    "kube_schema",
    "stats",
    "re2",
    "plan",
    "release",
    "analysis",
    "analysis/ask",
    "analysis/verdict",
    "render",
    "check",
    "diff",
    "review",
    "review/changes",
    "yaml",
    "problem",
];

/// Names that mean I/O in a pure module.
const IO: &[&str] =
    &["std::fs", "std::process", "std::net", "git2", "walkdir", "rustix", "File::open", "read_to_string", "std::env"];

fn sources() -> BTreeMap<PathBuf, String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = BTreeMap::new();
    for entry in walkdir::WalkDir::new(&src).sort_by_file_name() {
        let entry = entry.unwrap();
        if entry.path().extension().is_some_and(|e| e == "rs") {
            let rel = entry.path().strip_prefix(&src).unwrap().to_path_buf();
            out.insert(rel, std::fs::read_to_string(entry.path()).unwrap());
        }
    }
    assert!(out.len() > 20, "the sources were not found");
    out
}

/// The top-level module a source file belongs to: `repo/tree.rs` is `repo`.
fn module_of(rel: &Path) -> String {
    let first = rel.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_string()
}

/// The code of a file without its comments (line comments and doc comments), strings left in.
fn code(text: &str) -> String {
    text.lines()
        .map(|line| match line.find("//") {
            // A `//` inside a string literal (a URL) is rare in the code; a comment is the rule.
            Some(at) if !line[..at].contains('"') => &line[..at],
            _ => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level names `crate::` paths in `code` reach: `crate::spec::Canary` is `spec`, and
/// `use crate::{plan, spec::Canary}` is `plan` and `spec`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group, up to its closing brace.
            let mut depth = 0;
            let mut item = String::new();
            let mut expect_name = true;
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        if !item.is_empty() {
                            names.push(std::mem::take(&mut item));
                        }
                        expect_name = true;
                    }
                    c if depth == 0 && expect_name && (c.is_alphanumeric() || c == '_') => item.push(c),
                    _ if depth == 0 && expect_name && !item.is_empty() => {
                        names.push(std::mem::take(&mut item));
                        expect_name = false;
                    }
                    _ => {}
                }
            }
            if !item.is_empty() {
                names.push(item);
            }
        } else {
            let name: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            names.push(name);
        }
    }
    names
}

#[test]
fn each_module_imports_only_the_modules_before_it_in_the_pipeline() {
    let layer: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let mut wrong = Vec::new();
    let mut unknown = Vec::new();
    for (rel, text) in sources() {
        let module = module_of(&rel);
        let Some(&mine) = layer.get(module.as_str()) else {
            unknown.push(format!("{} (module `{module}` has no layer in LAYERS)", rel.display()));
            continue;
        };
        for name in crate_paths(&code(&text)) {
            if name == module {
                continue;
            }
            // A name that is not a module is an item of the crate root (lib.rs).
            let theirs = layer.get(name.as_str()).copied().unwrap_or(layer["lib"]);
            if theirs >= mine {
                wrong.push(format!("{} (layer {mine}) imports `crate::{name}` (layer {theirs})", rel.display()));
            }
        }
    }
    assert!(unknown.is_empty(), "modules missing from the pipeline table:\n{}", unknown.join("\n"));
    assert!(wrong.is_empty(), "imports against the pipeline:\n{}", wrong.join("\n"));
}

#[test]
fn the_import_reader_sees_every_form_of_path() {
    let names = crate_paths(
        "use crate::spec::Canary;\nuse crate::{plan::{self, Plan}, render,\n  check};\nx(crate::repo::short(id));",
    );
    assert_eq!(names, ["spec", "plan", "render", "check", "repo"]);
    assert_eq!(
        code("let a = 1; // crate::repo\n/// [`crate::check`]\nlet u = \"http://x\";"),
        "let a = 1; \n\nlet u = \"http://x\";"
    );
}

/// Every `.rs` file of the crate, its tests and its examples, by path from the project's folder.
fn rust_files() -> BTreeMap<PathBuf, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = BTreeMap::new();
    for dir in ["src", "tests", "examples"] {
        let before = out.len();
        for entry in walkdir::WalkDir::new(root.join(dir)).sort_by_file_name() {
            let entry = entry.unwrap();
            if entry.path().extension().is_some_and(|e| e == "rs") {
                let rel = entry.path().strip_prefix(root).unwrap().to_path_buf();
                out.insert(rel, std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        assert!(out.len() > before, "no `.rs` file was found under `{dir}/`");
    }
    out
}

#[test]
fn no_source_file_is_over_700_lines() {
    let long: Vec<String> = rust_files()
        .iter()
        .map(|(rel, text)| (rel, text.lines().count()))
        .filter(|(_, n)| *n > 700)
        .map(|(rel, n)| format!("{} has {n} lines", rel.display()))
        .collect();
    assert!(long.is_empty(), "split these by job:\n{}", long.join("\n"));
}

#[test]
fn the_pure_steps_do_no_io() {
    let mut found = Vec::new();
    for (rel, text) in sources() {
        let name = rel.with_extension("").to_string_lossy().into_owned();
        let pure = PURE.iter().any(|p| name == *p || name == format!("{p}/mod"));
        if !pure {
            continue;
        }
        // Unit tests may use files.
        let code = code(&text);
        let code = code.split("#[cfg(test)]").next().unwrap();
        for io in IO {
            if code.contains(io) {
                found.push(format!("{} uses `{io}`", rel.display()));
            }
        }
    }
    assert!(found.is_empty(), "I/O in a pure step:\n{}", found.join("\n"));
}

#[test]
fn only_the_git_layer_names_git2() {
    let git_layer = |rel: &Path| rel.starts_with("repo") || ["index.rs", "transport.rs"].map(Path::new).contains(&rel);
    let outside: Vec<String> = sources()
        .iter()
        .filter(|(rel, text)| !git_layer(rel) && code(text).contains("git2"))
        .map(|(rel, _)| rel.display().to_string())
        .collect();
    assert!(
        outside.is_empty(),
        "git2 outside the git layer (hand out `repo::CommitId` instead):\n{}",
        outside.join("\n")
    );
}

/// ARCHITECTURE.md's layer table says what [`LAYERS`] says: every module once, at its layer.
#[test]
fn the_architecture_page_lists_every_module_at_its_layer() {
    let page = std::fs::read_to_string(crate::project().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md reads");
    let row = regex::Regex::new(r"^\| (\d) \| `([a-z_0-9]+)` \|").unwrap();
    let table: BTreeMap<String, u8> = page
        .lines()
        .filter_map(|l| row.captures(l))
        .map(|c| (c[2].to_string(), c[1].parse().expect("a layer is a digit")))
        .collect();
    let layers: BTreeMap<String, u8> =
        LAYERS.iter().filter(|(m, _)| !["lib", "main"].contains(m)).map(|(m, l)| (m.to_string(), *l)).collect();
    assert_eq!(table, layers, "ARCHITECTURE.md's table (left) and LAYERS (right) differ");
}
