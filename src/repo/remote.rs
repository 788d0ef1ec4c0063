//! Fetch and push on a [`Repo`], through the `git` program ([`crate::transport`]), each bounded
//! by the run's deadline.

use anyhow::{Context, Result};
use git2::ErrorCode;

use super::{CommitId, Repo};
use crate::secret::without_userinfo;
use crate::transport::{Credentials, Deadline, GitProgram, Pushed, Remote};

impl Repo {
    /// The `git` program on this repository, for fetch and push on `remote` until `deadline`
    /// ([`crate::transport`]).
    fn program(&self, remote: &str, creds: &Credentials, deadline: Deadline, push: bool) -> Result<GitProgram> {
        // git would say "does not appear to be a git repository"; name the remote instead.
        let found = self.git.find_remote(remote).with_context(|| format!("no remote `{remote}` in the repository"))?;
        let url = match push {
            true => found.pushurl().ok().flatten().or(found.url().ok()),
            false => found.url().ok(),
        };
        let config = self.git.config()?;
        let set = |key: &str| {
            config.get_entry(key).is_ok()
                || (0..env_count())
                    .any(|i| std::env::var(format!("GIT_CONFIG_KEY_{i}")).is_ok_and(|k| k.eq_ignore_ascii_case(key)))
        };
        let remote = Remote {
            name: remote.to_string(),
            url: without_userinfo(url.unwrap_or_default()),
            deadline,
            ssh_config: config.get_string("core.sshCommand").ok(),
            low_speed_configured: set("http.lowSpeedLimit") || set("http.lowSpeedTime"),
        };
        Ok(GitProgram::new(self.git.path(), creds.clone(), remote))
    }

    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>` and returns its tip
    /// (None when the remote has no such branch); a remote that has not answered by `deadline`
    /// is a [`crate::transport::RemoteFailed`].
    pub(crate) fn fetch(
        &self,
        remote: &str,
        branch: &str,
        creds: &Credentials,
        deadline: Deadline,
    ) -> Result<Option<CommitId>> {
        if !self.program(remote, creds, deadline, false)?.fetch(branch)? {
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
    /// `old` (None: it must not exist yet): a compare-and-swap on the remote ref; a remote that
    /// has not answered by `deadline` is a [`crate::transport::RemoteFailed`].
    pub(crate) fn push(
        &self,
        remote: &str,
        branch: &str,
        commit: CommitId,
        old: Option<CommitId>,
        creds: &Credentials,
        deadline: Deadline,
    ) -> Result<Pushed> {
        let old = old.map(|o| o.to_string());
        self.program(remote, creds, deadline, true)?.push(branch, &commit.to_string(), old.as_deref())
    }
}

/// How many `GIT_CONFIG_KEY_<n>` the environment gives git.
fn env_count() -> usize {
    std::env::var("GIT_CONFIG_COUNT").ok().and_then(|c| c.parse().ok()).unwrap_or(0)
}
