//! The CI examples and the README use real commands and flags: every `kanari ...` line in them
//! parses with kanari's own command line.

use clap::Parser;

use crate::project;

/// Splits a shell line into words, honouring double and single quotes; stops at `|`, `>`, `;`.
fn words(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut quote = None;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ' ') => {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
            }
            (None, '|' | '>' | ';' | '#') => break,
            _ => word.push(c),
        }
    }
    if !word.is_empty() {
        out.push(word);
    }
    out
}

#[test]
fn every_kanari_command_in_the_examples_and_readme_parses() {
    let mut files: Vec<std::path::PathBuf> = walkdir::WalkDir::new(project().join("examples"))
        .into_iter()
        .map(|e| e.unwrap().into_path())
        .filter(|p| p.is_file())
        .collect();
    files.push(project().join("README.md"));
    let mut checked = 0;
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let markdown = file.extension().is_some_and(|e| e == "md");
        let mut in_code = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if markdown && !in_code {
                continue;
            }
            let line = line.trim().trim_start_matches("- ").trim_start_matches("run: ");
            if !line.starts_with("kanari ") {
                continue;
            }
            let argv = words(line);
            if let Err(e) = kanari::cli::Cli::try_parse_from(&argv) {
                panic!("{}: `{line}` does not parse:\n{e}", file.display());
            }
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} commands found");
}

#[test]
fn the_readme_shows_the_real_plan_of_bookinfo() {
    let readme = std::fs::read_to_string(project().join("README.md")).unwrap();
    let start = readme.find("`kanari -C fixtures/bookinfo plan` shows").expect("the README shows the plan");
    let block = &readme[start..];
    let open = block.find("```\n").unwrap() + 4;
    let shown = &block[open..open + block[open..].find("```\n").unwrap()];
    let run = crate::kanari_ok(&project(), &["-C", "fixtures/bookinfo", "plan"]);
    assert_eq!(shown, run.stdout, "the README's plan table is stale; paste `kanari -C fixtures/bookinfo plan`");
}
