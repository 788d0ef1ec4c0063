//! Sparse checkouts: which folders of the repository a cone-mode sparse checkout
//! (`git sparse-checkout set DIR…`) keeps in the work tree. Pure: the patterns file's text comes
//! in as a value.
//!
//! An overlay outside the cone is committed all the same (commits are built in the object
//! database); the work tree simply does not get its files, and the index marks them
//! `skip-worktree`, as git would. A non-cone sparse checkout (gitignore-style patterns) is not
//! evaluated: there, an overlay is kept out of the work tree only when the index already marks
//! its files `skip-worktree`.
//!
//! Part of the git layer: [`crate::repo`] asks it where a synced folder goes. It imports nothing
//! of kanari's.

use std::collections::BTreeSet;

/// The folders a cone-mode `info/sparse-checkout` file names.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Cone {
    /// Folders kept whole, with everything below them (`/a/b/`).
    recursive: BTreeSet<String>,
    /// Folders whose own files are kept, but not their subfolders (`/a/` then `!/a/*/`).
    parents: BTreeSet<String>,
}

impl Cone {
    /// Reads the patterns git writes in cone mode: `/*`, `!/*/`, then `/DIR/` for each folder
    /// and `!/DIR/*/` after each folder that is only a parent of another.
    pub(crate) fn parse(text: &str) -> Cone {
        let mut listed = BTreeSet::new();
        let mut parents = BTreeSet::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') || line == "/*" || line == "!/*/" {
                continue;
            }
            if let Some(dir) = line.strip_prefix("!/").and_then(|l| l.strip_suffix("/*/")) {
                parents.insert(dir.to_string());
            } else if let Some(dir) = line.strip_prefix('/').and_then(|l| l.strip_suffix('/')) {
                listed.insert(dir.to_string());
            }
        }
        let recursive = listed.difference(&parents).cloned().collect();
        Cone { recursive, parents }
    }

    /// Whether the files directly inside `dir` (repository-relative, `/`-separated, no
    /// trailing `/`; empty for the top) are in the work tree.
    pub(crate) fn keeps_files_of(&self, dir: &str) -> bool {
        dir.is_empty()
            || self.parents.contains(dir)
            || self
                .recursive
                .iter()
                .any(|r| dir == r || dir.strip_prefix(r.as_str()).is_some_and(|rest| rest.starts_with('/')))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cone_patterns_keep_their_folders_and_the_top() {
        // `git sparse-checkout set canaries a/b`
        let cone = Cone::parse("/*\n!/*/\n/a/\n!/a/*/\n/a/b/\n/canaries/\n");
        assert!(cone.keeps_files_of(""));
        assert!(cone.keeps_files_of("canaries"));
        assert!(cone.keeps_files_of("canaries/deep/er"));
        assert!(cone.keeps_files_of("a"), "a parent's own files are kept");
        assert!(cone.keeps_files_of("a/b") && cone.keeps_files_of("a/b/c"));
        assert!(!cone.keeps_files_of("a/c"));
        assert!(!cone.keeps_files_of("overlays/reviews"));
        assert!(!cone.keeps_files_of("canariesx"), "a prefix is not a folder");
    }
}
