//! History: two tips of one branch against each other (the local branch and the remote's:
//! whether one is an ancestor of the other, the commits one has that the other lacks, the
//! folders the changes between them touch), and walking back from a tip on its first-parent
//! line with a cheap key for a folder's contents at a commit, so that a walk reads each version
//! of a folder once.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{Oid, Sort};

use super::{CommitId, Repo};

/// The contents of a folder at some commit: equal keys, equal files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct FolderKey(Oid);

/// A commit as a history reads it: its id, the first line of its message and its trailers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Logged {
    pub id: CommitId,
    pub subject: String,
    /// `(key, value)` in order, as `git interpret-trailers` reads the message's last paragraph.
    pub trailers: Vec<(String, String)>,
}

impl Logged {
    /// The value of the trailer `key`, if the commit carries it.
    pub(crate) fn trailer(&self, key: &str) -> Option<&str> {
        self.trailers.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v.as_str())
    }
}

impl Repo {
    /// Whether `ancestor` is `commit` or one of its ancestors.
    pub(crate) fn is_ancestor(&self, ancestor: CommitId, commit: CommitId) -> Result<bool> {
        if ancestor == commit {
            return Ok(true);
        }
        self.git
            .graph_descendant_of(commit.0, ancestor.0)
            .with_context(|| format!("failed to compare commits {} and {}", ancestor.short(), commit.short()))
    }

    /// The commits `to` has and `from` lacks (reachable from `to`, not from `from`), oldest
    /// first.
    pub(crate) fn commits_between(&self, from: CommitId, to: CommitId) -> Result<Vec<Logged>> {
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
    pub(crate) fn changed_folders(&self, old: CommitId, new: CommitId) -> Result<Option<Vec<PathBuf>>> {
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

    /// `from` and the commits before it on its first-parent line, newest first, at most
    /// `limit` of them. The walk stops early at a root commit or a shallow clone's boundary.
    pub(crate) fn first_parents(&self, from: CommitId, limit: usize) -> Result<Vec<CommitId>> {
        let mut found = Vec::new();
        let mut at = Some(self.git.find_commit(from.0).with_context(|| format!("failed to read commit {from}"))?);
        while let Some(commit) = at {
            if found.len() == limit {
                break;
            }
            found.push(CommitId(commit.id()));
            at = commit.parents().next();
        }
        Ok(found)
    }

    /// The key of the folder `dir` (project-relative) in `commit`; `None` when there is no such
    /// folder.
    pub(crate) fn folder_key(&self, commit: CommitId, dir: &Path) -> Result<Option<FolderKey>> {
        Ok(self.folder(commit, &self.in_tree(dir))?.map(FolderKey))
    }
}
