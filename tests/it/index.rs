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
use proptest::test_runner::TestRunner;

/// `git` in `repo` with `GIT_INDEX_FILE=index`, feeding `input`; its stdout.
fn git_with_index(repo: &Path, index: &Path, args: &[&str], input: &str) -> String {
    let mut child = Command::new(crate::tool("git"))
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
/// Files of the tree, the folders to replace (each with its new files' names), and whether the
/// index has a cache tree.
type Case = (Vec<String>, Vec<(String, Vec<&'static str>)>, bool);

fn case() -> impl Strategy<Value = Case> {
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
    let folder = (dir, prop::collection::vec(file, 0..4));
    (prop::collection::vec(path, 0..30), prop::collection::vec(folder, 1..4), any::<bool>())
}

#[test]
fn replacing_a_folder_gives_the_index_git_gives() {
    let mut runner = TestRunner::new(crate::proptesting::config(24));
    runner
        .run(&case(), |(paths, folders, cache_tree)| {
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
            // Folders as releases have them: distinct, none inside another or on a file.
            let mut dirs: Vec<(String, Vec<&str>)> = Vec::new();
            for (dir, names) in folders {
                let nested =
                    |a: &str, b: &str| a == b || a.starts_with(&format!("{b}/")) || b.starts_with(&format!("{a}/"));
                if !dirs.iter().any(|(d, _)| nested(d, &dir)) && !files.iter().any(|f| nested(f, &dir)) {
                    dirs.push((dir, names));
                }
            }
            prop_assume!(!dirs.is_empty());
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

            // The new folders: `names` below each, each file with content of its own.
            let mut replaced: Vec<(String, Vec<Entry>)> = Vec::new();
            let mut new_info = String::new();
            for (dir, names) in &dirs {
                let mut new = Vec::new();
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
                replaced.push((dir.clone(), new));
                git_with_index(r, &theirs, &["rm", "-r", "-q", "--cached", "--ignore-unmatch", "--", dir], "");
            }
            let index = Index::parse_to_look(std::fs::read(&ours).unwrap()).unwrap();
            std::fs::write(&ours, index.with_folders(&replaced)).unwrap();
            git_with_index(r, &theirs, &["update-index", "--index-info"], &new_info);
            let dir = dirs.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>().join(", ");

            let listed = |index: &Path| git_with_index(r, index, &["ls-files", "-s"], "");
            prop_assert_eq!(listed(&ours), listed(&theirs), "entries differ after replacing `{}`", dir);
            let tree = |index: &Path| git_with_index(r, index, &["write-tree"], "");
            prop_assert_eq!(tree(&ours), tree(&theirs), "write-tree differs: a stale cache tree for `{}`", dir);
            Ok(())
        })
        .unwrap();
}
