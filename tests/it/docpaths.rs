//! Every path the documentation names exists: the README, ARCHITECTURE.md, BENCHMARKS.md, the
//! pages under `docs/` and `schemas/`, and the module docs (`//!`) of the sources. A renamed or
//! removed file shows up here, not in a reader's failed `cat`.
//!
//! What counts as a path: a `code span`, a Markdown link's target or a word of a code block that
//! starts with one of the project's own top-level folders (`src/`, `tests/`, `docs/`, ...), or
//! that names a source file (`moves.rs`, `repo/journal.rs`). Module docs and ARCHITECTURE.md
//! name sources from `src/` (`commands/promote.rs`), so a path is looked up from the project's
//! root, then from `src/` and `tests/it/`; a bare file name must exist somewhere under `src/` or
//! `tests/`. Placeholders (`<name>`, `*`, `{...}`) and a trailing `:line` are left out.

use std::path::{Path, PathBuf};

use regex::Regex;

use crate::project;

/// The top-level folders and files of the project that a doc's path may start with.
const ROOTS: &[&str] =
    &["src/", "tests/", "docs/", "fixtures/", "examples/", "bench/", "schemas/", "action/", ".ci/", "benches/"];

/// The documents whose paths are checked, besides every `.md` under `docs/` and the module docs.
const DOCS: &[&str] = &["README.md", "ARCHITECTURE.md", "BENCHMARKS.md", "schemas/README.md"];

fn documents() -> Vec<PathBuf> {
    let root = project();
    let mut docs: Vec<PathBuf> = DOCS.iter().map(|d| root.join(d)).collect();
    let mut pages: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|e| e.expect("docs/ reads").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    pages.sort();
    docs.extend(pages);
    docs
}

fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> =
        std::fs::read_dir(dir).expect("a source folder reads").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The candidate paths of one document's text (Markdown, or the `//!` lines of a source).
fn candidates(text: &str) -> Vec<(usize, String)> {
    let span = Regex::new(r"`([^`\s]+)`").unwrap();
    let link = Regex::new(r"\]\(([^)\s#]+)(#[^)]*)?\)").unwrap();
    let mut found = Vec::new();
    let mut fenced = false;
    for (n, line) in text.lines().enumerate() {
        let trimmed = line.trim_start().trim_start_matches("//!").trim_start();
        if trimmed.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            for word in trimmed.split_whitespace() {
                let word = word.trim_matches(|c: char| "\"'(),;`".contains(c));
                if ROOTS.iter().any(|r| word.starts_with(r)) {
                    found.push((n + 1, word.to_string()));
                }
            }
            continue;
        }
        for caps in span.captures_iter(trimmed) {
            found.push((n + 1, caps[1].to_string()));
        }
        for caps in link.captures_iter(trimmed) {
            if !caps[1].contains("://") && !caps[1].starts_with("mailto:") {
                found.push((n + 1, caps[1].to_string()));
            }
        }
    }
    found.into_iter().filter_map(|(n, word)| Some((n, as_path(&word)?))).collect()
}

/// The path a word names, if it names one of the project's files: a word under one of [`ROOTS`],
/// a root-level Markdown file, or a Rust source, with a `:line` suffix and a trailing `/` or `.`
/// left out.
fn as_path(word: &str) -> Option<String> {
    let word = word.trim_end_matches(['.', ',', ':']);
    let word = match word.rsplit_once(':') {
        Some((path, line)) if line.chars().all(|c| c.is_ascii_digit() || c == '-') => path,
        _ => word,
    };
    if word.contains(['<', '>', '*', '{', '}', '$', '[', '?', '=']) || word.starts_with('/') || word.contains("://") {
        return None;
    }
    let under_root = ROOTS.iter().any(|r| word.starts_with(r));
    let source = word.ends_with(".rs") && word.chars().all(|c| c.is_ascii_alphanumeric() || "_/.-".contains(c));
    let page = !word.contains('/') && word.ends_with(".md") && word.chars().next().is_some_and(char::is_uppercase);
    (under_root || source || page).then(|| word.trim_end_matches('/').to_string())
}

/// Whether `path`, named in `doc`, exists: from the document's folder, the project's root,
/// `src/` or `tests/it/`, or (a bare file name) anywhere under `src/` and `tests/`.
fn exists(doc: &Path, path: &str, all: &[PathBuf]) -> bool {
    let root = project();
    let bases = [doc.parent().unwrap_or(&root).to_path_buf(), root.clone(), root.join("src"), root.join("tests/it")];
    if bases.iter().any(|b| b.join(path).exists()) {
        return true;
    }
    !path.contains('/') && all.iter().any(|p| p.file_name().is_some_and(|f| f == path))
}

#[test]
fn every_path_a_doc_names_exists() {
    let root = project();
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("tests"), &mut files);
    let mut texts: Vec<(PathBuf, String)> = documents()
        .into_iter()
        .map(|d| {
            let text = std::fs::read_to_string(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
            (d, text)
        })
        .collect();
    for source in files.iter().filter(|p| p.starts_with(root.join("src"))) {
        let text = std::fs::read_to_string(source).expect("a source reads");
        let docs: String = text.lines().filter(|l| l.starts_with("//!")).map(|l| format!("{l}\n")).collect();
        texts.push((source.clone(), docs));
    }
    let mut missing = Vec::new();
    let mut checked = 0;
    for (doc, text) in &texts {
        for (line, path) in candidates(text) {
            checked += 1;
            if !exists(doc, &path, &files) {
                missing.push(format!("{}:{line}: `{path}`", doc.strip_prefix(&root).unwrap_or(doc).display()));
            }
        }
    }
    assert!(checked > 100, "only {checked} paths found in the docs: the reader of paths is broken");
    assert!(missing.is_empty(), "paths the docs name that do not exist:\n{}", missing.join("\n"));
}

#[test]
fn the_reader_of_paths_finds_spans_links_and_code_blocks() {
    let text = "See `src/exit.rs:12`, [the page](docs/init.md#top) and `moves.rs`.\n\
                Not `kanari.dev/stage`, `apps/v1` or `deployment-<name>.yaml`.\n\
                ```sh\nbash bench/run.sh --sizes \"10 100\"\n```\n";
    let found: Vec<String> = candidates(text).into_iter().map(|(_, p)| p).collect();
    assert_eq!(found, ["src/exit.rs", "moves.rs", "docs/init.md", "bench/run.sh"]);
}
