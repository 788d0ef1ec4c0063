//! kanari writes Git's index itself (`kanari::index`): for any index git makes and any folder
//! kanari replaces, the result must be the index git itself makes for the same change. Checked
//! with the real `git` on generated trees: the entries (`git ls-files -s`), and the tree `git
//! write-tree` builds from it, which uses the cache tree wherever it is still marked valid, so a
//! folder left valid by mistake shows as a different tree.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use kanari::index::{Entry, Index, Stat};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// `git` in `repo` with `GIT_INDEX_FILE=index`, feeding `input`; its stdout.
fn git_with_index(repo: &Path, index: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new("git")
        .args(args)
        .current_dir(repo)
        .env("GIT_INDEX_FILE", index)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git");
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// Paths of a small tree whose names sort around each other (`r`, `r-x`, `r0`), and a folder.
fn case() -> impl Strategy<Value = (Vec<String>, String, Vec<&'static str>, bool)> {
    let part = prop::sample::select(vec!["a", "a-b", "a0", "o", "r", "r-x", "r0", "z"]);
    let file = prop::sample::select(vec!["f", "g.yaml", "kustomization.yaml"]);
    let path = (prop::collection::vec(part.clone(), 0..3), file.clone()).prop_map(|(dirs, f)| {
        let mut p = dirs.join("/");
        if !p.is_empty() {
            p.push('/');
        }
        p + f
    });
    let dir = prop::collection::vec(part, 1..3).prop_map(|d| d.join("/"));
    (prop::collection::vec(path, 0..30), dir, prop::collection::vec(file, 0..4), any::<bool>())
}

#[test]
fn replacing_a_folder_gives_the_index_git_gives() {
    let mut runner = TestRunner::new(Config { cases: 24, failure_persistence: None, ..Config::default() });
    runner
        .run(&case(), |(paths, dir, names, cache_tree)| {
            let repo = tempfile::tempdir().unwrap();
            let r = repo.path();
            git_with_index(r, &r.join(".git/index"), &["init", "-q"], "");
            // Keep the tree valid: no path may be both a file and a folder.
            let mut files: Vec<String> = Vec::new();
            for p in paths {
                let clash = files.iter().any(|f| p.starts_with(&format!("{f}/")) || f.starts_with(&format!("{p}/")));
                if !clash && !files.contains(&p) {
                    files.push(p);
                }
            }
            let dir_clash = files.iter().any(|f| dir == *f || dir.starts_with(&format!("{f}/")));
            prop_assume!(!dir_clash);
            let blob = |text: &str| {
                git_with_index(r, &r.join(".git/index"), &["hash-object", "-w", "--stdin"], text).trim().to_string()
            };
            let ours = r.join(".git/ours");
            let theirs = r.join(".git/theirs");
            git_with_index(r, &theirs, &["read-tree", "--empty"], "");
            let info: String = files.iter().map(|f| format!("100644 {}\t{f}\n", blob(f))).collect();
            git_with_index(r, &theirs, &["update-index", "--index-info"], &info);
            if cache_tree {
                git_with_index(r, &theirs, &["write-tree"], "");
            }
            std::fs::copy(&theirs, &ours).unwrap();

            // The new folder: `names` below `dir`, each with content of its own.
            let mut new: Vec<Entry> = Vec::new();
            let mut new_info = String::new();
            for name in names.iter().collect::<std::collections::BTreeSet<_>>() {
                let path = format!("{dir}/{name}");
                let id = blob(&format!("new {path}"));
                let mut oid = [0; 20];
                for (i, byte) in oid.iter_mut().enumerate() {
                    *byte = u8::from_str_radix(&id[2 * i..2 * i + 2], 16).unwrap();
                }
                new.push(Entry {
                    path: path.clone(),
                    oid,
                    mode: 0o100644,
                    stat: Stat::default(),
                    flags_extended: 0,
                    stage: 0,
                });
                new_info.push_str(&format!("100644 {id}\t{path}\n"));
            }
            let index = Index::parse(std::fs::read(&ours).unwrap()).unwrap();
            std::fs::write(&ours, index.with_folder(&dir, &new)).unwrap();
            git_with_index(r, &theirs, &["rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", &dir], "");
            git_with_index(r, &theirs, &["update-index", "--index-info"], &new_info);

            let listed = |index: &Path| git_with_index(r, index, &["ls-files", "-s"], "");
            prop_assert_eq!(listed(&ours), listed(&theirs), "entries differ after replacing `{}`", dir);
            let tree = |index: &Path| git_with_index(r, index, &["write-tree"], "");
            prop_assert_eq!(tree(&ours), tree(&theirs), "write-tree differs: a stale cache tree for `{}`", dir);
            Ok(())
        })
        .unwrap();
}
