//! Rendered vs committed: the [`Change`]s to one overlay's files, and their unified diffs.
//! The only user of similar. After check in the pipeline; it takes bytes and imports nothing of
//! kanari's (never render, overlay, repo or the commands), and does no I/O.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Serialize;
use similar::TextDiff;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Kind {
    Added,
    Removed,
    Modified,
}

/// One file that differs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct Change {
    /// Project-relative path of the file.
    pub path: PathBuf,
    pub kind: Kind,
    #[serde(skip)]
    pub old: String,
    #[serde(skip)]
    pub new: String,
}

impl Change {
    /// The change as a unified diff with `a/` and `b/` headers (`/dev/null` for a side that
    /// does not exist), three lines of context.
    pub(crate) fn unified(&self) -> String {
        let path = self.path.display();
        let a = if self.kind == Kind::Added { "/dev/null".to_string() } else { format!("a/{path}") };
        let b = if self.kind == Kind::Removed { "/dev/null".to_string() } else { format!("b/{path}") };
        TextDiff::from_lines(&self.old, &self.new).unified_diff().context_radius(3).header(&a, &b).to_string()
    }

    /// Lines added and removed.
    pub(crate) fn stat(&self) -> (usize, usize) {
        let diff = TextDiff::from_lines(&self.old, &self.new);
        let mut stat = (0, 0);
        for op in diff.ops() {
            for change in diff.iter_changes(op) {
                match change.tag() {
                    similar::ChangeTag::Insert => stat.0 += 1,
                    similar::ChangeTag::Delete => stat.1 += 1,
                    similar::ChangeTag::Equal => {}
                }
            }
        }
        stat
    }
}

/// The changes that turn `committed` (path relative to `dir` → bytes) into `rendered`, sorted
/// by path.
pub(crate) fn changes(
    dir: &Path,
    committed: &BTreeMap<PathBuf, Vec<u8>>,
    rendered: &BTreeMap<String, Vec<u8>>,
) -> Vec<Change> {
    let names: BTreeSet<PathBuf> = committed.keys().cloned().chain(rendered.keys().map(PathBuf::from)).collect();
    let text = |bytes: Option<&Vec<u8>>| bytes.map(|b| String::from_utf8_lossy(b).into_owned());
    names
        .into_iter()
        .filter_map(|name| {
            let old = text(committed.get(&name));
            let new = text(rendered.get(name.to_string_lossy().as_ref()));
            let kind = match (&old, &new) {
                (None, Some(_)) => Kind::Added,
                (Some(_), None) => Kind::Removed,
                (Some(a), Some(b)) if a != b => Kind::Modified,
                _ => return None,
            };
            Some(Change { path: dir.join(&name), kind, old: old.unwrap_or_default(), new: new.unwrap_or_default() })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_removed_and_modified_files() {
        let committed: BTreeMap<PathBuf, Vec<u8>> =
            [("a.yaml".into(), b"x: 1\ny: 2\n".to_vec()), ("gone.yaml".into(), b"z\n".to_vec())].into();
        let rendered: BTreeMap<String, Vec<u8>> =
            [("a.yaml".into(), b"x: 1\ny: 3\n".to_vec()), ("new.yaml".into(), b"n\n".to_vec())].into();
        let c = changes(Path::new("o"), &committed, &rendered);
        let kinds: Vec<(String, Kind)> = c.iter().map(|c| (c.path.display().to_string(), c.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("o/a.yaml".into(), Kind::Modified),
                ("o/gone.yaml".into(), Kind::Removed),
                ("o/new.yaml".into(), Kind::Added)
            ]
        );
        assert_eq!(c[0].unified(), "--- a/o/a.yaml\n+++ b/o/a.yaml\n@@ -1,2 +1,2 @@\n x: 1\n-y: 2\n+y: 3\n");
        assert!(c[1].unified().starts_with("--- a/o/gone.yaml\n+++ /dev/null\n"));
        assert_eq!(c[0].stat(), (1, 1));
        assert!(
            changes(
                Path::new("o"),
                &committed,
                &committed.iter().map(|(k, v)| (k.display().to_string(), v.clone())).collect()
            )
            .is_empty()
        );
    }
}
