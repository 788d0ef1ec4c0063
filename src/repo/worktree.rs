//! The local clone around a branch move: whether paths have uncommitted changes, moving the
//! branch by compare-and-swap, and bringing the work tree and index up to date for the moved
//! folders alone (sparse checkouts included).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use git2::{ErrorCode, ObjectType, Oid, Repository, Status, StatusOptions};

use super::journal::Record;
use super::lock::{LOCK_PAUSE, LOCK_RETRIES, busy_git_lock};
use super::staging::{IndexLock, StagedIndex};
use super::{CommitId, MODE_BLOB, Repo, oid_bytes};
use crate::index::SKIP_WORKTREE;

/// One folder's sync: what the work tree and the index get.
pub(super) struct FolderSync {
    /// The folder, project-relative.
    pub(super) dir: PathBuf,
    /// Its files in the old and the new commit, by path relative to it.
    pub(super) old: BTreeMap<PathBuf, Vec<u8>>,
    pub(super) new: BTreeMap<PathBuf, Vec<u8>>,
    /// Files of the old commit that the new one no longer has.
    pub(super) gone: Vec<PathBuf>,
    /// Whether the work tree now holds the new files.
    pub(super) written: bool,
    /// Outside a sparse checkout's cone: never written, staged `skip-worktree`.
    pub(super) sparse: bool,
}

/// What the local clone follows when a branch moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Follows {
    /// HEAD is on the branch.
    Branch,
    /// HEAD is detached at the branch's old tip (as in CI).
    Detached,
    /// HEAD is elsewhere: the work tree is left alone.
    Nothing,
}

/// How a local move ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Moved {
    Done,
    /// The branch was no longer at the old commit: someone else moved it first. Nothing was
    /// committed, and the folders are as the branch has them.
    Lost,
}

/// A local move that stopped part way (a full disk, a read-only folder, a lock): whether the
/// commit landed (the branch moved), and whether the folders' files and index entries were put
/// right (else the journal is left for the next kanari command, which does it).
#[derive(Debug)]
pub(crate) struct MoveStopped {
    pub landed: bool,
    pub healed: bool,
    pub dirs: Vec<PathBuf>,
    pub cause: anyhow::Error,
}

impl std::fmt::Display for MoveStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:#}", self.cause)
    }
}

impl std::error::Error for MoveStopped {}

impl Repo {
    /// Paths below `paths` (project-relative) whose work tree or index differs from HEAD,
    /// untracked files included.
    ///
    /// Each path is first checked by [`Repo::certainly_clean`], which reads the index as bytes;
    /// only a path that may have changes goes to libgit2's status, which reads and hashes the
    /// whole index (a quarter of a second in a repository of 100,000 files) and applies
    /// content filters, and decides.
    pub(crate) fn uncommitted(&self, paths: &[&Path]) -> Result<Vec<PathBuf>> {
        self.refuse_sparse_index()?;
        let mut looked = self.looked.lock().unwrap_or_else(|e| e.into_inner());
        *looked = self.read_index_to_look();
        let head = self.head_commit()?;
        let mut paths = paths.to_vec();
        paths.sort();
        paths.dedup();
        let mut maybe = Vec::new();
        for path in paths {
            match &*looked {
                Some((stat, index)) if self.certainly_clean(index, stat.mtime, head, path)? => {}
                _ => maybe.push(path),
            }
        }
        drop(looked);
        if maybe.is_empty() {
            return Ok(Vec::new());
        }
        // Files a sparse checkout keeps out of the work tree are not deleted, whatever
        // libgit2's status says of them: git itself shows them clean.
        let index = self.git.index().context("failed to read the index")?;
        let skipped = |path: &Path| index.get_path(path, 0).is_some_and(|e| e.flags_extended & SKIP_WORKTREE != 0);
        let mut out = Vec::new();
        // One status per path, each a literal pathspec: libgit2 then walks that file or folder
        // alone, where several unrelated pathspecs would make it walk the whole work tree.
        for path in maybe {
            let mut opts = StatusOptions::new();
            opts.include_untracked(true)
                .recurse_untracked_dirs(true)
                .include_ignored(false)
                .disable_pathspec_match(true)
                .pathspec(self.in_tree(path));
            let statuses = self.git.statuses(Some(&mut opts)).context("failed to read the work tree's status")?;
            out.extend(
                statuses
                    .iter()
                    .filter(|s| s.status() != Status::CURRENT && !s.status().contains(Status::IGNORED))
                    .filter(|s| !(s.status() == Status::WT_DELETED && s.path().is_ok_and(|p| skipped(Path::new(p)))))
                    .filter_map(|s| s.path().ok().map(PathBuf::from))
                    // Another kanari's file in flight, renamed into place in a moment.
                    .filter(|p| !p.file_name().is_some_and(|n| crate::overlay::is_temporary(&n.to_string_lossy()))),
            );
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Whether `path` (project-relative, a file or a folder) certainly has no uncommitted
    /// change: its index entries are HEAD's files, each file in the work tree matches its entry
    /// (by stat data, as git tells, or else by content), and the work tree has no file there
    /// that the index lacks and that is not ignored. `false` means "maybe": the caller asks
    /// libgit2's status, which knows content filters and the rest.
    fn certainly_clean(
        &self,
        index: &crate::index::Index,
        index_mtime: (u32, u32),
        head: Option<CommitId>,
        path: &Path,
    ) -> Result<bool> {
        let tree_path = self.in_tree(path);
        let name = tree_path.to_string_lossy().into_owned();
        let entries = index.entries_under(&name);
        if entries.iter().any(|e| e.stage != 0) {
            return Ok(false);
        }
        // HEAD's files at the path: (path, id, mode).
        let mut committed: Vec<(String, [u8; 20], u32)> = Vec::new();
        if let Some(head) = head {
            // Through the shared folder listings: thousands of releases in one folder read it once.
            let parent = match tree_path.parent() {
                Some(parent) => self.folder(head, parent)?,
                None => Some(self.folders.root(&self.git, head.0)?),
            };
            let found = match (parent, tree_path.file_name()) {
                (Some(parent), Some(leaf)) => {
                    self.folders.list(&self.git, parent)?.get(leaf.to_string_lossy().as_ref()).copied()
                }
                _ => None,
            };
            match found {
                Some((id, Some(ObjectType::Blob), mode)) => committed.push((name.clone(), oid_bytes(id), mode as u32)),
                Some((id, Some(ObjectType::Tree), _)) => {
                    let tree = self.git.find_tree(id)?;
                    let mut odd = false;
                    tree.walk(git2::TreeWalkMode::PreOrder, |parent, e| {
                        match e.kind() {
                            Some(ObjectType::Blob) => committed.push((
                                format!("{name}/{parent}{}", e.name().unwrap_or_default()),
                                oid_bytes(e.id()),
                                e.filemode() as u32,
                            )),
                            Some(ObjectType::Tree) => {}
                            _ => odd = true,
                        }
                        git2::TreeWalkResult::Ok
                    })?;
                    if odd {
                        return Ok(false);
                    }
                }
                Some(_) => return Ok(false),
                None => {}
            }
        }
        committed.sort();
        let mut staged: Vec<(String, [u8; 20], u32)> =
            entries.iter().map(|e| (e.path.clone(), e.oid, e.mode)).collect();
        staged.sort();
        if staged != committed {
            return Ok(false);
        }
        for entry in entries.iter().filter(|e| e.flags_extended & SKIP_WORKTREE == 0) {
            let file = self.workdir.join(&entry.path);
            let Ok(meta) = std::fs::symlink_metadata(&file) else { return Ok(false) };
            if !meta.is_file() || entry.mode != MODE_BLOB as u32 || meta.permissions().mode() & 0o111 != 0 {
                return Ok(false);
            }
            let stat = crate::index::Stat::of(&meta);
            let same = |a: &crate::index::Stat, b: &crate::index::Stat| {
                (a.mtime, a.ctime, a.ino, a.size, a.uid, a.gid) == (b.mtime, b.ctime, b.ino, b.size, b.uid, b.gid)
            };
            // Racily clean (written in the index's own moment): only the content can tell.
            if same(&stat, &entry.stat) && entry.stat.mtime < index_mtime {
                continue;
            }
            let bytes = std::fs::read(&file)?;
            if oid_bytes(Oid::hash_object(ObjectType::Blob, &bytes)?) != entry.oid {
                return Ok(false);
            }
        }
        // Files the index lacks.
        let known: std::collections::HashSet<&str> = entries.iter().map(|e| e.path.as_str()).collect();
        let top = self.workdir.join(&tree_path);
        let top_meta = std::fs::symlink_metadata(&top);
        if top_meta.as_ref().is_ok_and(|m| !m.is_dir()) && !known.contains(name.as_str()) {
            // A file the index lacks (an untracked spec), unless ignored.
            return Ok(self.git.status_should_ignore(&tree_path).unwrap_or(false));
        }
        if top_meta.is_ok_and(|m| m.is_dir()) {
            for found in walkdir::WalkDir::new(&top).follow_links(false).min_depth(1) {
                let found = found?;
                if found.file_type().is_dir() {
                    continue;
                }
                let rel = found.path().strip_prefix(&self.workdir).unwrap_or(found.path());
                let rel_text = rel.to_string_lossy();
                if known.contains(rel_text.as_ref())
                    || crate::overlay::is_temporary(&found.file_name().to_string_lossy())
                {
                    continue;
                }
                if !self.git.status_should_ignore(rel).unwrap_or(false) {
                    return Ok(false);
                }
            }
        }
        Ok(true)
    }

    /// The boolean `key` of Git's configuration; `default` when it is unset or unreadable.
    fn config_flag(&self, key: &str, default: bool) -> bool {
        self.git.config().ok().and_then(|c| c.get_bool(key).ok()).unwrap_or(default)
    }

    /// Refuses a sparse index (`index.sparse`), which libgit2 cannot read, with what to do.
    fn refuse_sparse_index(&self) -> Result<()> {
        if self.config_flag("index.sparse", false) {
            bail!(
                "the index is a sparse index (`index.sparse` is true), which kanari cannot read; turn it off with `git sparse-checkout reapply --no-sparse-index` (the sparse checkout itself stays), then run kanari again"
            );
        }
        Ok(())
    }

    /// Whether a sparse checkout keeps the files of `dir` (project-relative) out of the work
    /// tree: the index marks its files `skip-worktree` already, or (for a folder the index does
    /// not have yet) the cone-mode patterns leave it out ([`crate::sparse`]).
    pub(super) fn outside_sparse_cone(&self, index: &StagedIndex, dir: &Path) -> bool {
        if !self.config_flag("core.sparseCheckout", false) {
            return false;
        }
        let in_tree = self.in_tree(dir);
        let flags = index.flags_below(&in_tree.to_string_lossy());
        if !flags.is_empty() {
            return flags.iter().all(|f| f & SKIP_WORKTREE != 0);
        }
        // Cone mode is git's default for `git sparse-checkout`.
        let cone = self.config_flag("core.sparseCheckoutCone", true);
        let patterns = std::fs::read_to_string(self.git.path().join("info/sparse-checkout")).unwrap_or_default();
        cone && !crate::sparse::Cone::parse(&patterns).keeps_files_of(&in_tree.to_string_lossy())
    }

    /// Refuses to move `branch` when another work tree of this repository has it checked out,
    /// as `git branch -f` does: that work tree's index and files would be left behind, and its
    /// next commit would revert the move.
    pub(crate) fn refuse_checked_out_elsewhere(&self, branch: &str) -> Result<()> {
        let want = format!("ref: refs/heads/{branch}");
        let common = self.git.commondir().to_path_buf();
        let own = self.git.path().canonicalize().unwrap_or_else(|_| self.git.path().to_path_buf());
        // (that work tree's git folder, its files' folder)
        let mut others: Vec<(PathBuf, PathBuf)> = Vec::new();
        if let Ok(main) = Repository::open(&common)
            && let Some(workdir) = main.workdir()
        {
            others.push((common.clone(), workdir.to_path_buf()));
        }
        if let Ok(entries) = std::fs::read_dir(common.join("worktrees")) {
            for entry in entries.flatten() {
                let gitdir = entry.path();
                let files = std::fs::read_to_string(gitdir.join("gitdir"))
                    .map(|t| PathBuf::from(t.trim()))
                    .map(|p| p.parent().map(Path::to_path_buf).unwrap_or(p))
                    .unwrap_or_else(|_| gitdir.clone());
                others.push((gitdir, files));
            }
        }
        for (gitdir, files) in others {
            if gitdir.canonicalize().is_ok_and(|g| g == own) {
                continue;
            }
            let head = std::fs::read_to_string(gitdir.join("HEAD")).unwrap_or_default();
            if head.trim() == want {
                bail!(
                    "`{branch}` is checked out in the work tree `{}`; kanari does not move a branch from under another work tree (nor does `git branch -f`): run it there, or name another branch with --branch",
                    files.display()
                );
            }
        }
        Ok(())
    }

    /// What the local clone follows when `branch` moves from `old`.
    fn follows(&self, branch: &str, old: Option<CommitId>) -> Result<Follows> {
        let head = self.git.find_reference("HEAD").context("failed to read HEAD")?;
        Ok(if head.symbolic_target().ok().flatten() == Some(format!("refs/heads/{branch}").as_str()) {
            Follows::Branch
        } else if head.target().is_some() && head.target() == old.map(|o| o.0) {
            Follows::Detached
        } else {
            Follows::Nothing
        })
    }

    /// Moves `branch` from `old` to `new` (with `sets_branch`; else only a detached HEAD at
    /// `old` follows), and brings the index and the work tree of `dirs` along, by the protocol
    /// of [`super::journal`]: journal, work tree, index, branch, journal gone. `Moved::Lost`
    /// when the branch was no longer at `old` (someone else moved it first: the folders are as
    /// the branch has them, nothing committed). A failure part way is a [`MoveStopped`] that
    /// says whether the commit landed and whether the folders were put right.
    pub(crate) fn move_local(
        &self,
        branch: &str,
        old: Option<CommitId>,
        new: CommitId,
        dirs: &[&Path],
        log: &str,
        sets_branch: bool,
    ) -> Result<Moved> {
        if sets_branch {
            self.refuse_checked_out_elsewhere(branch)?;
        }
        self.refuse_sparse_index()?;
        let follows = self.follows(branch, old)?;
        if follows == Follows::Nothing {
            return Ok(match !sets_branch || self.move_branch(branch, old, new, log)? {
                true => Moved::Done,
                false => Moved::Lost,
            });
        }
        let record = Record {
            branch: branch.to_string(),
            old: old.map(|o| o.0.to_string()),
            new: new.0.to_string(),
            dirs: dirs.iter().map(|d| self.in_tree(d)).collect(),
            detached: follows == Follows::Detached,
            sets_branch,
        };
        let stopped = |landed: bool, healed: bool, cause: anyhow::Error| -> anyhow::Error {
            MoveStopped { landed, healed, dirs: record.dirs.clone(), cause }.into()
        };
        self.write_journal(&record).map_err(|e| stopped(false, true, e))?;
        let lock = match IndexLock::take(self.git.path()) {
            Ok(lock) => lock,
            // Nothing but the journal was written.
            Err(e) => {
                return Err(match self.remove_journal() {
                    Ok(()) => e,
                    Err(also) => stopped(false, false, e.context(format!("{also:#}"))),
                });
            }
        };
        let applied = (|| -> std::result::Result<bool, (bool, anyhow::Error)> {
            let mut changes = dirs
                .iter()
                .map(|dir| self.dir_change(old, new, dir))
                .collect::<Result<Vec<_>>>()
                .map_err(|e| (false, e))?;
            self.sync_folders(&mut changes, lock).map_err(|e| (false, e))?;
            if sets_branch && !self.move_branch(branch, old, new, log).map_err(|e| (false, e))? {
                return Ok(false);
            }
            if follows == Follows::Detached {
                self.git
                    .set_head_detached(new.0)
                    .context("failed to move the detached HEAD")
                    .map_err(|e| (sets_branch, e))?;
            }
            Ok(true)
        })();
        match applied {
            Ok(true) => {
                self.remove_journal().map_err(|e| stopped(true, true, e))?;
                Ok(Moved::Done)
            }
            Ok(false) => {
                // The folders back as the branch has them.
                self.heal(&record).and_then(|_| self.remove_journal()).map_err(|e| stopped(false, false, e))?;
                Ok(Moved::Lost)
            }
            Err((landed, cause)) => {
                let healed = self.heal(&record).and_then(|_| self.remove_journal()).is_ok();
                Err(stopped(landed, healed, cause))
            }
        }
    }

    /// Moves `refs/heads/<branch>` from `old` (None: the branch must not exist) to `new`.
    /// Returns false when the branch was no longer at `old`: someone else moved it first.
    pub(crate) fn move_branch(&self, branch: &str, old: Option<CommitId>, new: CommitId, log: &str) -> Result<bool> {
        let refname = format!("refs/heads/{branch}");
        let attempt = || match old {
            Some(old) => self.git.reference_matching(&refname, new.0, true, old.0, log).map(|_| ()),
            None => self.git.reference(&refname, new.0, false, log).map(|_| ()),
        };
        // A ref lock held by a running git goes away in a moment; one left by a crash does not.
        let mut result = attempt();
        for _ in 0..LOCK_RETRIES {
            match &result {
                Err(e) if e.code() == ErrorCode::Locked => {
                    std::thread::sleep(LOCK_PAUSE);
                    result = attempt();
                }
                _ => break,
            }
        }
        match result {
            Ok(()) => Ok(true),
            Err(e) if matches!(e.code(), ErrorCode::Modified | ErrorCode::Exists) => Ok(false),
            Err(e) if e.code() == ErrorCode::Locked => {
                Err(busy_git_lock(&self.git.commondir().join(format!("{refname}.lock"))))
            }
            Err(e) => Err(e).with_context(|| format!("failed to move `{refname}`")),
        }
    }

    /// What syncing `dir` from `old` to `new` writes, removes and stages.
    pub(super) fn dir_change(&self, old: Option<CommitId>, new: CommitId, dir: &Path) -> Result<FolderSync> {
        let old_files = match old {
            Some(old) => self.files(old, dir)?.unwrap_or_default(),
            None => BTreeMap::new(),
        };
        let new_files = self.files(new, dir)?.unwrap_or_default();
        let gone = old_files.keys().filter(|rel| !new_files.contains_key(*rel)).cloned().collect();
        Ok(FolderSync { dir: dir.to_path_buf(), old: old_files, new: new_files, gone, written: false, sparse: false })
    }

    /// Writes the files of the folder that differ between the two commits into the work tree
    /// and removes those the new one no longer has.
    pub(super) fn write_dir(&self, change: &FolderSync) -> Result<()> {
        let folder = crate::overlay::SafeDir::open(&self.workdir, &self.in_tree(&change.dir), true)?
            .expect("created when missing");
        // Under the write lock, a temporary file is a killed run's leftover.
        for name in folder.names()? {
            if crate::overlay::is_temporary(&name) && folder.kind(&name)? == Some(crate::overlay::Kind::File) {
                folder.remove(&name)?;
            }
        }
        for (rel, bytes) in &change.new {
            let name = rel.to_string_lossy();
            if change.old.get(rel) != Some(bytes) || folder.kind(name.as_ref())?.is_none() {
                folder.write(&name, bytes)?;
            }
        }
        // Only files: what kanari wrote. A folder of the user's in the way is left alone.
        for rel in &change.gone {
            let name = rel.to_string_lossy();
            if folder.kind(name.as_ref())? == Some(crate::overlay::Kind::File) {
                folder.remove(&name)?;
            }
        }
        folder.sync();
        Ok(())
    }
}
