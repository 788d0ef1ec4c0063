//! Where a pushing run starts, and how the local branch follows it: the remote's tip, fetched
//! before anything is read, decides; unless the local branch is ahead of it with kanari's own
//! commits alone (a `promote` committed locally, then `promote --push`): those are what the user
//! asks kanari to publish, so the run builds on the local tip and pushes them with its own.
//!
//! A release that another kanari moved on the remote since the local branch (a promote or an
//! abort the local clone has not seen) is not moved again by this run: someone else moved it
//! first, as when a race is lost, so that jobs started together move a release once. What else
//! the remote has (an approval, a spec change) is decided on the remote's state.
//!
//! A local branch behind the remote follows the push when what it lacks is kanari's commits
//! (their folders are synced as a run's own are); a local branch with commits of its own that
//! kanari does not push (someone's work, or a history that diverged) cannot follow, and the run
//! says so: exit 6, `git pull --rebase`.

use std::path::Path;

use anyhow::{Result, bail};

use crate::commands::commits::Commits;
use crate::exit::{Exit, Kind};
use crate::repo::{CommitId, Logged};
use crate::transport::Credentials;

/// The trailer every kanari commit carries ([`crate::commands::moves`]' message).
const KANARI_TRAILER: &str = "Kanari-Canary";

/// The local branch against the remote's tip, as one attempt of a pushing run finds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Upstream {
    /// The remote's tip, freshly fetched (None: the remote has no such branch); the push is a
    /// compare-and-swap on it.
    pub remote: Option<CommitId>,
    /// Where the run reads its intents and builds: the local tip when it is ahead of the remote
    /// with kanari's commits alone, or when the remote has no such branch; else the remote's tip.
    pub base: Option<CommitId>,
    /// kanari's commits the local branch has and the remote lacks, oldest first: pushed with the
    /// run's own.
    pub ahead: Vec<Logged>,
    /// How many commits the local branch has that the remote lacks, when they are not kanari's
    /// alone or the two diverged: they stay local, and the local branch cannot follow a push.
    pub stranded: usize,
    /// The releases another kanari moved (promoted or aborted) on the remote since the local
    /// branch, with the first line of that commit: "someone else moved it first", as for a race
    /// lost. An approval, a spec change or anyone's other work is no move: the run decides on the
    /// remote's state for those.
    pub moved: Vec<(String, String)>,
}

impl Upstream {
    /// Fetches `branch` from `remote`, by the run's deadline, and compares it with the local
    /// `branch`.
    pub(super) fn fetch(git: &Commits, branch: &str, remote: &str, creds: &Credentials) -> Result<Upstream> {
        let remote_tip = git.repo.fetch(remote, branch, creds, git.ws.remotes)?;
        let local = git.repo.branch(Some(branch), remote)?.tip;
        let (Some(local), Some(remote_tip)) = (local, remote_tip) else {
            let base = local.or(remote_tip);
            return Ok(Upstream { remote: remote_tip, base, ahead: vec![], stranded: 0, moved: vec![] });
        };
        let moved = match local != remote_tip && git.repo.is_ancestor(local, remote_tip)? {
            true => git.repo.commits_between(local, remote_tip)?.iter().filter_map(move_of).collect(),
            false => vec![],
        };
        let mine = match local == remote_tip {
            true => vec![],
            false => git.repo.commits_between(remote_tip, local)?,
        };
        let ahead_alone = !mine.is_empty() && git.repo.is_ancestor(remote_tip, local)?;
        Ok(match ahead_alone && mine.iter().all(is_kanari) {
            true => Upstream { remote: Some(remote_tip), base: Some(local), ahead: mine, stranded: 0, moved },
            false => Upstream {
                remote: Some(remote_tip),
                base: Some(remote_tip),
                ahead: vec![],
                stranded: mine.len(),
                moved,
            },
        })
    }

    /// After a push, an error when the local branch keeps commits of its own, so it could not
    /// follow (exit 6).
    pub(super) fn refuse_stranded(&self, branch: &str, remote: &str, pushed: CommitId) -> Result<()> {
        if self.stranded == 0 {
            return Ok(());
        }
        Err(Exit {
            kind: Kind::Partial,
            message: format!(
                "`{branch}` on `{remote}` is at {} (pushed), but the local `{branch}` could not follow: it has {} that `{remote}` does not, which kanari does not push; run `git pull --rebase`",
                pushed.short(),
                commits(self.stranded)
            ),
        }
        .into())
    }

    /// For a run that pushed nothing while the local branch keeps commits of its own, a note:
    /// the run decided on the remote's tip, not on them.
    pub(super) fn note_stranded(&self, branch: &str, remote: &str) {
        if self.stranded > 0 {
            eprintln!(
                "note: the local `{branch}` has {} that `{remote}` does not, which kanari does not push; it decided on `{remote}`'s tip; run `git pull --rebase`",
                commits(self.stranded)
            );
        }
    }
}

/// The release a commit of kanari's moved, and its first line: a promote or an abort (the verb
/// after `name: ` in the subject kanari writes), not an approval.
fn move_of(commit: &Logged) -> Option<(String, String)> {
    let release = commit.trailer(KANARI_TRAILER)?;
    let (_, rest) = commit.subject.split_once(": ")?;
    (rest.starts_with("promote ") || rest.starts_with("abort ")).then(|| (release.to_string(), commit.subject.clone()))
}

/// Whether kanari made the commit: its message carries the `Kanari-Canary` trailer.
fn is_kanari(commit: &Logged) -> bool {
    commit.trailer(KANARI_TRAILER).is_some()
}

fn commits(n: usize) -> String {
    match n {
        1 => "1 commit".into(),
        n => format!("{n} commits"),
    }
}

/// After a push built on `built_on`, for a local branch at `local`, elsewhere (or at `pushed`
/// already: nothing to do): when `local` is
/// behind `built_on` by kanari's commits alone, the branch (and HEAD, the index and the work
/// tree for the folders those commits and the push changed) moves to `pushed`. A local branch
/// with commits of its own is left alone (the run reports it); one behind by commits that are
/// not kanari's is left alone with a note, since kanari syncs its own folders only.
pub(super) fn catch_up(
    git: &Commits,
    branch: &str,
    local: CommitId,
    built_on: CommitId,
    pushed: CommitId,
) -> Result<()> {
    if local == pushed || !git.repo.is_ancestor(local, built_on)? {
        return Ok(());
    }
    let missed = git.repo.commits_between(local, built_on)?;
    let folders = match missed.iter().all(is_kanari) {
        true => git.repo.changed_folders(local, pushed)?,
        false => None,
    };
    let Some(folders) = folders else {
        eprintln!(
            "note: the local `{branch}` is behind the remote's tip by commits that are not kanari's; update it with `git pull`"
        );
        return Ok(());
    };
    let dirs: Vec<&Path> = folders.iter().map(|f| f.as_path()).collect();
    let dirty = git.repo.uncommitted(&dirs)?;
    if !dirty.is_empty() {
        let list: Vec<String> = dirty.iter().map(|p| format!("`{}`", p.display())).collect();
        bail!("the local `{branch}` was behind, and has uncommitted changes in {}", list.join(", "));
    }
    if git.repo.move_local(branch, Some(local), pushed, &dirs, "kanari: follow the push", true)?
        == crate::repo::Moved::Lost
    {
        eprintln!("note: the local `{branch}` moved meanwhile; update it with `git pull`");
    }
    Ok(())
}
