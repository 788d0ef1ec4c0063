//! Two tips of one branch against each other (the local branch and the remote's): whether one is
//! an ancestor of the other, the commits one has that the other lacks, and the folders the
//! changes between them touch.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result};
use git2::Sort;

use super::{CommitId, Repo};

/// A commit as a history reads it: its id, the first line of its message and its trailers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    pub id: CommitId,
    pub subject: String,
    /// `(key, value)` in order, as `git interpret-trailers` reads the message's last paragraph.
    pub trailers: Vec<(String, String)>,
}

impl Logged {
    /// The value of the trailer `key`, if the commit carries it.
    pub fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

impl Repo {
    /// Whether `ancestor` is `commit` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: CommitId, commit: CommitId) -> Result<bool> {
        if ancestor == commit {
            return Ok(true);
        }
        self.git
            .graph_descendant_of(commit.0, ancestor.0)
            .with_context(|| format!("failed to compare commits {} and {}", ancestor.short(), commit.short()))
    }

    /// The commits `to` has and `from` lacks (reachable from `to`, not from `from`), oldest
    /// first.
    pub fn commits_between(&self, from: CommitId, to: CommitId) -> Result<Vec<Logged>> {
        let mut walk = self.git.revwalk()?;
        walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE)?;
        walk.push(to.0)?;
        walk.hide(from.0)?;
        let mut out = Vec::new();
        for id in walk {
            let id = id.with_context(|| format!("failed to walk the history from {}", to.short()))?;
            let commit = self.git.find_commit(id)?;
            let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
            let trailers = git2::message_trailers_strs(&message)
                .map(|t| t.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
                .unwrap_or_default();
            let subject = message.lines().next().unwrap_or_default().to_string();
            out.push(Logged { id: CommitId(id), subject, trailers });
        }
        Ok(out)
    }

    /// The folders (project-relative) holding the files that differ between `old` and `new`,
    /// sorted; `None` when a change lies outside the project root.
    pub fn changed_folders(&self, old: CommitId, new: CommitId) -> Result<Option<Vec<PathBuf>>> {
        let (old_tree, new_tree) = (self.git.find_commit(old.0)?.tree()?, self.git.find_commit(new.0)?.tree()?);
        let diff = self.git.diff_tree_to_tree(Some(&old_tree), Some(&new_tree), None)?;
        let mut folders = BTreeSet::new();
        for delta in diff.deltas() {
            for file in [delta.old_file(), delta.new_file()] {
                let Some(path) = file.path() else { continue };
                let folder = path.parent().unwrap_or(path.as_ref());
                match folder.strip_prefix(&self.prefix) {
                    Ok(rel) if !rel.as_os_str().is_empty() => folders.insert(rel.to_path_buf()),
                    _ => return Ok(None),
                };
            }
        }
        Ok(Some(folders.into_iter().collect()))
    }
}
