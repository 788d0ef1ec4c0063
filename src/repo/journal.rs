//! Crash safety for a local branch move: a journal under the git folder, so that a kanari killed
//! at any instruction (SIGKILL, OOM, a cancelled CI job) or stopped by a full disk leaves the
//! repository at the state before or after its move, and the next kanari command puts the rest
//! right before it does anything else.
//!
//! The protocol of [`Repo::move_local`], in the order of its writes:
//!
//! 1. The commits are built in the object database (invisible until a ref names them).
//! 2. The journal `kanari-move` is written in the work tree's git folder (a temporary file,
//!    fsynced, renamed into place): the branch, its old and new commit, the folders that change,
//!    whether HEAD is detached.
//! 3. Git's `index.lock` is taken, the way git takes it.
//! 4. The folders' files are written in the work tree (each a temporary file renamed into place).
//! 5. The index, with the folders' entries of the new commit, is written into `index.lock` and
//!    renamed over `index`: from here the index stages the move against the old branch (never a
//!    revert of it).
//! 6. The branch moves by compare-and-swap from the old commit to the new one (a detached HEAD
//!    follows it).
//! 7. The journal is removed.
//!
//! What a plain `git status` or `git commit` sees at each instant: before 5, unstaged changes of
//! the move at most; between 5 and 6, the move staged; after 6, nothing. Never a revert.
//!
//! Recovery ([`Repo::recover`], run by every kanari command, under kanari's lock, when a journal
//! is there): the folders are made to match the branch as it is now, in the work tree and the
//! index. If the branch reached the new commit, that finishes the move; if it is still at the
//! old one, that undoes it (nothing was committed: the next promote decides again); if someone
//! moved it since, the folders follow them. (The folders are matched with HEAD, which is what
//! `git status` compares the index with, on the branch or detached.) Lock files the killed run
//! held (`index.lock`, `HEAD.lock`, the branch's `.lock`) are removed when they were made after
//! the journal and stay through git's usual wait: kanari's lock is held, so their owner is gone;
//! an older one belongs to a git that was running before (a `git commit` in its editor) and is
//! left alone. The journal names its folders from the repository's root, and recovery opens the
//! repository there, whatever folder either run was started in. The journal goes last, so a
//! recovery that is itself interrupted is run again by the next command.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow};
use git2::Oid;
use serde::{Deserialize, Serialize};

use super::lock::{LOCK_PAUSE, LOCK_RETRIES};
use super::staging::{IndexLock, StagedIndex};
use super::worktree::FolderSync;
use super::{CommitId, Repo};

/// The journal's file name in the work tree's git folder.
const JOURNAL: &str = "kanari-move";

/// A move under way, as the journal records it.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct Record {
    pub(super) branch: String,
    /// The branch's commit before the move (None: the branch did not exist).
    pub(super) old: Option<String>,
    pub(super) new: String,
    /// The folders that change, as the repository's tree names them (from its root, whatever
    /// folder the run was started in).
    pub(super) dirs: Vec<PathBuf>,
    /// HEAD was detached at the old commit, and follows the move.
    pub(super) detached: bool,
    /// Whether the move sets the branch (else only a detached HEAD follows).
    pub(super) sets_branch: bool,
}

impl Record {
    fn new_commit(&self) -> Result<CommitId> {
        Oid::from_str(&self.new).map(CommitId).map_err(|e| anyhow!("the journal names no commit `{}`: {e}", self.new))
    }

    fn old_commit(&self) -> Option<CommitId> {
        self.old.as_deref().and_then(|o| Oid::from_str(o).ok()).map(CommitId)
    }
}

/// The work tree around `root` when its git folder holds a journal: a few `stat`s, so that every
/// command can look before it opens the repository. Recovery opens the repository there, at its
/// root, where the journal's folders are named.
pub(crate) fn pending_move(root: &Path) -> Option<PathBuf> {
    let root = root.canonicalize().ok()?;
    for dir in root.ancestors() {
        let dot_git = dir.join(".git");
        let Ok(meta) = std::fs::symlink_metadata(&dot_git) else { continue };
        let git_dir = if meta.is_dir() {
            dot_git
        } else {
            // A linked work tree or a submodule: `gitdir: PATH`.
            let text = std::fs::read_to_string(&dot_git).ok()?;
            let named = PathBuf::from(text.trim().strip_prefix("gitdir:")?.trim());
            if named.is_absolute() { named } else { dir.join(named) }
        };
        return git_dir.join(JOURNAL).exists().then(|| dir.to_path_buf());
    }
    None
}

impl Repo {
    fn journal_path(&self) -> PathBuf {
        self.git.path().join(JOURNAL)
    }

    /// Writes the journal: a temporary file, fsynced, renamed into place, and the folder fsynced,
    /// so that it is there, whole, before anything it describes is written.
    pub(super) fn write_journal(&self, record: &Record) -> Result<()> {
        let path = self.journal_path();
        let temporary = self.git.path().join(format!("{JOURNAL}.{}", std::process::id()));
        let bytes = serde_json::to_vec_pretty(record).expect("a record serializes");
        let written = (|| -> std::io::Result<()> {
            let mut file = std::fs::File::create(&temporary)?;
            file.write_all(&bytes)?;
            file.sync_all()?;
            std::fs::rename(&temporary, &path)?;
            std::fs::File::open(self.git.path())?.sync_all()
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&temporary);
        }
        written.with_context(|| format!("failed to write the journal `{}`", path.display()))
    }

    pub(super) fn remove_journal(&self) -> Result<()> {
        let path = self.journal_path();
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e).with_context(|| format!("failed to remove the journal `{}`", path.display())),
        }
    }

    /// Finishes or undoes a move a killed (or failed) kanari left half done, as the module doc
    /// says; the caller holds kanari's lock. Returns what was done, for the user; None when no
    /// journal is there.
    pub(crate) fn recover(&self) -> Result<Option<String>> {
        let path = self.journal_path();
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("failed to read the journal `{}`", path.display())),
        };
        let record: Record = serde_json::from_slice(&bytes)
            .with_context(|| format!("the journal `{}` cannot be read; remove it", path.display()))?;
        // The killed run's lock files: made after its journal, and still there after git's usual
        // wait. An older one is a git that was already running (a `git commit` in its editor):
        // left alone, and the heal below says it is busy.
        let written = std::fs::metadata(&path).and_then(|m| m.modified()).ok();
        let branch_lock = self.git.commondir().join(format!("refs/heads/{}.lock", record.branch));
        for lock in [self.git.path().join("index.lock"), self.git.path().join("HEAD.lock"), branch_lock] {
            remove_if_it_stays(&lock, written)?;
        }
        let target = self.heal(&record)?;
        self.remove_journal()?;
        let dirs = record.dirs.iter().map(|d| format!("`{}`", d.display())).collect::<Vec<_>>().join(", ");
        let new = record.new_commit()?;
        Ok(Some(match target {
            Some(t) if t == new => format!(
                "an interrupted kanari had moved `{}` to {}: the index and work tree of {dirs} now follow it",
                record.branch,
                t.short()
            ),
            Some(t) if Some(t) == record.old_commit() => format!(
                "an interrupted kanari had not moved `{}` (still at {}; nothing was committed): {dirs} put back as it has them",
                record.branch,
                t.short()
            ),
            Some(t) => format!(
                "an interrupted kanari left `{}` at {}, moved since: {dirs} now match it",
                record.branch,
                t.short()
            ),
            None => format!("an interrupted kanari's move of `{}` was undone: {dirs} put back", record.branch),
        }))
    }

    /// Makes the record's folders in the work tree and the index match the commit the branch
    /// (or, for a move that does not set the branch, HEAD) is at now; a detached HEAD that was
    /// to follow a branch that reached the new commit is moved there first. Returns that commit.
    pub(super) fn heal(&self, record: &Record) -> Result<Option<CommitId>> {
        let new = record.new_commit()?;
        if record.sets_branch && record.detached && self.head_commit()? == record.old_commit() {
            let branch = self.branch(Some(&record.branch), "origin")?.tip;
            if branch == Some(new) {
                self.git.set_head_detached(new.0).context("failed to move the detached HEAD")?;
            }
        }
        // What `git status` compares the index with: HEAD, on the branch or detached (or on
        // whatever the user checked out since).
        let tip = self.head_commit()?;
        let lock = IndexLock::take(self.git.path())?;
        let mut changes = Vec::new();
        for tree_dir in &record.dirs {
            let dir = &tree_dir.strip_prefix(&self.prefix).unwrap_or(tree_dir).to_path_buf();
            let target = match tip {
                Some(tip) => self.files(tip, dir)?.unwrap_or_default(),
                None => Default::default(),
            };
            // Whatever the killed run wrote: the files of either side that the target lacks go.
            let mut gone: Vec<PathBuf> = Vec::new();
            for side in [record.old_commit(), Some(new)].into_iter().flatten() {
                for rel in self.files(side, dir)?.unwrap_or_default().into_keys() {
                    if !target.contains_key(&rel) && !gone.contains(&rel) {
                        gone.push(rel);
                    }
                }
            }
            changes.push(FolderSync {
                dir: dir.clone(),
                old: Default::default(),
                new: target,
                gone,
                written: false,
                sparse: false,
            });
        }
        self.sync_folders(&mut changes, lock)?;
        Ok(tip)
    }

    /// Writes `changes` into the work tree (their folders under the overlay write lock) and then
    /// the index, under `lock`.
    pub(super) fn sync_folders(&self, changes: &mut [FolderSync], lock: IndexLock) -> Result<()> {
        let index = self.staged_index()?;
        for change in changes.iter_mut() {
            change.sparse = self.outside_sparse_cone(&index, &change.dir);
        }
        // No render writes into the same folders meanwhile.
        let _writing = crate::overlay::lock_writes(&self.workdir.join(&self.prefix), true)?;
        let mut failure = None;
        for change in changes.iter_mut().filter(|c| !c.sparse) {
            match self.write_dir(change) {
                Ok(()) => change.written = true,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // A folder not written keeps the index as it was: never a staged change the work tree
        // does not have.
        if let Some(e) = failure {
            return Err(e);
        }
        match index {
            StagedIndex::Bytes(index) => self.update_index(&index, changes, &lock),
            StagedIndex::Libgit2(_) => self.update_index_libgit2(changes, &lock),
        }
    }
}

/// Removes the lock file `path` when it was made no earlier than the journal (`written`) and is
/// still there after git's usual wait.
fn remove_if_it_stays(path: &Path, written: Option<std::time::SystemTime>) -> Result<()> {
    for _ in 0..LOCK_RETRIES {
        if !path.exists() {
            return Ok(());
        }
        std::thread::sleep(LOCK_PAUSE);
    }
    let made = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if let (Some(made), Some(written)) = (made, written)
        && made < written
    {
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => {
            Err(e).with_context(|| format!("failed to remove `{}`, left by an interrupted kanari", path.display()))
        }
    }
}
