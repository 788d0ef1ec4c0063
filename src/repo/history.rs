//! Walking history: the commits before a tip on its first-parent line, and a cheap key for a
//! folder's contents at a commit, so that a walk reads each version of a folder once.

use std::path::Path;

use anyhow::{Context, Result};
use git2::Oid;

use super::{CommitId, Repo};

/// The contents of a folder at some commit: equal keys, equal files.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FolderKey(Oid);

impl Repo {
    /// `from` and the commits before it on its first-parent line, newest first, at most
    /// `limit` of them. The walk stops early at a root commit or a shallow clone's boundary.
    pub fn first_parents(&self, from: CommitId, limit: usize) -> Result<Vec<CommitId>> {
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
    pub fn folder_key(&self, commit: CommitId, dir: &Path) -> Result<Option<FolderKey>> {
        Ok(self.folder(commit, &self.in_tree(dir))?.map(FolderKey))
    }
}
