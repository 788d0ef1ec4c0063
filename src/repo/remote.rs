//! Fetch and push on a [`Repo`], through the `git` program ([`crate::transport`]).

use anyhow::{Context, Result};
use git2::ErrorCode;

use super::{CommitId, Repo};
use crate::transport::{Credentials, GitProgram, Pushed};

impl Repo {
    /// The `git` program on this repository, for fetch and push ([`crate::transport`]).
    fn program(&self, remote: &str, creds: &Credentials) -> Result<GitProgram> {
        // git would say "does not appear to be a git repository"; name the remote instead.
        self.git.find_remote(remote).with_context(|| format!("no remote `{remote}` in the repository"))?;
        Ok(GitProgram::new(self.git.path(), creds.clone()))
    }

    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>` and returns its tip
    /// (None when the remote has no such branch).
    pub fn fetch(&self, remote: &str, branch: &str, creds: &Credentials) -> Result<Option<CommitId>> {
        if !self.program(remote, creds)?.fetch(remote, branch)? {
            return Ok(None);
        }
        let tracking = format!("refs/remotes/{remote}/{branch}");
        match self.git.find_reference(&tracking) {
            Ok(r) => Ok(Some(CommitId(r.peel_to_commit()?.id()))),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pushes `commit` to `refs/heads/<branch>` on `remote` if the remote branch is still at
    /// `old` (None: it must not exist yet): a compare-and-swap on the remote ref.
    pub fn push(
        &self,
        remote: &str,
        branch: &str,
        commit: CommitId,
        old: Option<CommitId>,
        creds: &Credentials,
    ) -> Result<Pushed> {
        let old = old.map(|o| o.to_string());
        self.program(remote, creds)?.push(remote, branch, &commit.to_string(), old.as_deref())
    }
}
