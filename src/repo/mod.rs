//! The Git repository: reading specs and committed overlays from a commit's tree, building a
//! commit whose tree is its parent's with one overlay folder replaced, moving a branch by
//! compare-and-swap, and bringing the work tree and index up to date for that folder alone.
//!
//! The git layer, the last step of the pipeline beside [`crate::overlay`]: this module with
//! [`crate::index`] (the index file's bytes), [`crate::sparse`] (sparse-checkout cones) and
//! [`crate::transport`] (the `git` program, for fetch, push and signed commits) is the only user of git2 and of git. It owns the repository's objects, refs, index, its
//! work tree's files below the folders it syncs, and kanari's lock on the repository. It returns
//! values and errors, typed where a caller matches ([`LockHeld`],
//! [`crate::transport::RemoteFailed`]); it never picks an exit code and never prints, but for
//! the one line that says it waits for [`Repo::lock`].
//!
//! It never imports spec, plan, render, check, diff or commands. It does import
//! [`crate::overlay`], the layer just below it: [`crate::overlay::SafeDir`] to write the
//! synced folder's files as renders do (no symlink followed, temp + fsync + rename),
//! [`crate::overlay::is_temporary`] to know a render's file in flight, and
//! [`crate::overlay::lock_writes`] so that no render writes into a folder while it is synced.
//!
//! The handle ([`Repo`], [`RepoPlace`]), opening, revisions and branches are here; the rest by
//! job: `tree` reads committed files, `history` walks back from a tip and compares the local
//! branch with the remote's, `commit` builds commits, `worktree` checks and follows the local
//! clone around a branch move, `staging` writes the index, `lock` holds locks, `remote` fetches
//! and pushes.
//!
//! Commits are named by [`CommitId`], this module's own type, so that git2 stays behind the git
//! layer: the commands hold, compare and print commit ids without naming git2.
//!
//! Commits are built in the object database, never through the index, so unrelated staged or
//! unstaged work never enters them. New objects are invisible until a branch points at them, so
//! a run that stops before moving the branch leaves nothing behind that anyone sees.
mod commit;
mod history;
mod journal;
mod lock;
mod remote;
mod staging;
mod tree;
mod worktree;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, anyhow, bail};
use git2::{ErrorCode, Oid, Repository};

pub(crate) use history::Logged;
pub(crate) use journal::pending_move;
pub(crate) use worktree::{MoveStopped, Moved};

use tree::Folders;

/// The mode of a folder in a tree.
const MODE_TREE: i32 = 0o040000;
/// The mode of a plain (not executable) file in a tree.
const MODE_BLOB: i32 = 0o100644;

/// A commit, by its id: what the git layer hands out and takes back. Printed in full (40 hex
/// digits); [`CommitId::short`] for messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct CommitId(Oid);

impl CommitId {
    /// The first 12 hex digits of the commit id.
    pub(crate) fn short(self) -> String {
        self.0.to_string()[..12].to_string()
    }
}

impl std::fmt::Display for CommitId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// A repository and where kanari's project root sits in its work tree.
pub(crate) struct Repo {
    git: Repository,
    /// Folder listings, shared with every handle opened from this one's [`RepoPlace`].
    folders: Arc<Folders>,
    workdir: PathBuf,
    /// The project root relative to the work tree's top (empty when they are the same).
    prefix: PathBuf,
    /// The index as [`Repo::uncommitted`] last read it, with the stat data of the file it was
    /// read from: staging under the index's lock takes it instead of reading 10 MB again when
    /// the file is still that one (git replaces the index by renaming a new file over it, so a
    /// changed index is another inode with other times).
    looked: std::sync::Mutex<Option<(crate::index::Stat, crate::index::Index)>>,
}

/// Objects are read as git reads them: libgit2 hashes every object it loads again to compare
/// with its id unless told not to, which git does only in `git fsck`; that hashing was two
/// fifths of reading a commit's overlays. zlib's own checksum and the pack's checks stay.
fn quick_reads() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| git2::opts::strict_hash_verification(false));
}

/// Where a [`Repo`] is: what another thread needs to open its own handle on it.
#[derive(Clone, Debug)]
pub(crate) struct RepoPlace {
    git_dir: PathBuf,
    folders: Arc<Folders>,
    workdir: PathBuf,
    prefix: PathBuf,
}

impl RepoPlace {
    pub(crate) fn open(&self) -> Result<Repo> {
        let git = Repository::open(&self.git_dir)
            .with_context(|| format!("failed to open the repository at `{}`", self.git_dir.display()))?;
        Ok(Repo {
            git,
            folders: self.folders.clone(),
            workdir: self.workdir.clone(),
            prefix: self.prefix.clone(),
            looked: Default::default(),
        })
    }
}

/// Where commits go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Branch {
    /// Short name: `main`.
    pub name: String,
    /// The commit the branch points at, if it exists.
    pub tip: Option<CommitId>,
}

impl Repo {
    /// The short names of the local branches, remote-tracking branches and tags, sorted, for a
    /// shell's completion of `--base`.
    pub(crate) fn ref_names(&self) -> Vec<String> {
        let Ok(references) = self.git.references() else { return Vec::new() };
        let mut names: Vec<String> =
            references.flatten().filter_map(|r| r.shorthand().ok().map(str::to_string)).collect();
        names.retain(|n| !n.ends_with("/HEAD"));
        names.sort();
        names.dedup();
        names
    }

    /// Opens the repository around `root` (the project root).
    pub(crate) fn open(root: &Path) -> Result<Repo> {
        quick_reads();
        let git = match Repository::discover(root) {
            Ok(git) => git,
            // libgit2's own words add nothing to this one.
            Err(e) if e.code() == ErrorCode::NotFound => bail!("`{}` is not inside a Git repository", root.display()),
            Err(e) => {
                return Err(e).with_context(|| format!("failed to open the repository around `{}`", root.display()));
            }
        };
        let workdir = git.workdir().ok_or_else(|| anyhow!("the repository at `{}` is bare", root.display()))?;
        let workdir = workdir.canonicalize().with_context(|| format!("failed to resolve `{}`", workdir.display()))?;
        let root = root.canonicalize().with_context(|| format!("failed to resolve `{}`", root.display()))?;
        let prefix = root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();
        Ok(Repo { git, folders: Arc::default(), workdir, prefix, looked: Default::default() })
    }

    /// Where this repository is, to open more handles on it from other threads (a handle is
    /// not shared across threads).
    pub(crate) fn place(&self) -> RepoPlace {
        RepoPlace {
            git_dir: self.git.path().to_path_buf(),
            folders: self.folders.clone(),
            workdir: self.workdir.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// A project-relative path as a path in the repository's trees.
    pub(crate) fn in_tree(&self, path: &Path) -> PathBuf {
        self.prefix.join(path)
    }

    /// The commit a revision names.
    pub(crate) fn resolve(&self, rev: &str) -> Result<CommitId> {
        let object = self.git.revparse_single(rev).with_context(|| format!("no revision `{rev}` in the repository"))?;
        let commit = object.peel_to_commit().with_context(|| format!("`{rev}` does not name a commit"))?;
        Ok(CommitId(commit.id()))
    }

    /// The commit HEAD points at, if any.
    pub(crate) fn head_commit(&self) -> Result<Option<CommitId>> {
        match self.git.head() {
            Ok(head) => Ok(Some(CommitId(head.peel_to_commit().context("HEAD does not point at a commit")?.id()))),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e).context("failed to read HEAD"),
        }
    }

    /// The branch commits go to: `wanted`, else the branch HEAD is on, else (detached HEAD, as
    /// in CI) the branch the remote's HEAD names.
    pub(crate) fn branch(&self, wanted: Option<&str>, remote: &str) -> Result<Branch> {
        let name = match wanted {
            Some(name) => name.to_string(),
            None => self.current_branch(remote)?,
        };
        let refname = format!("refs/heads/{name}");
        git2::Reference::is_valid_name(&refname)
            .then_some(())
            .ok_or_else(|| anyhow!("`{name}` is not a valid branch name"))?;
        let tip = match self.git.find_reference(&refname) {
            Ok(r) => Some(CommitId(
                r.peel_to_commit().with_context(|| format!("`{refname}` does not point at a commit"))?.id(),
            )),
            Err(e) if e.code() == ErrorCode::NotFound => None,
            Err(e) => return Err(e).with_context(|| format!("failed to read `{refname}`")),
        };
        Ok(Branch { name, tip })
    }

    fn current_branch(&self, remote: &str) -> Result<String> {
        match self.git.head() {
            Ok(head) if head.is_branch() => Ok(head.shorthand().unwrap_or_default().to_string()),
            Err(e) if e.code() == ErrorCode::UnbornBranch => {
                let head = self.git.find_reference("HEAD").context("failed to read HEAD")?;
                let target = head.symbolic_target().ok().flatten().unwrap_or("refs/heads/main");
                Ok(target.trim_start_matches("refs/heads/").to_string())
            }
            _ => {
                let symref = format!("refs/remotes/{remote}/HEAD");
                let target = self
                    .git
                    .find_reference(&symref)
                    .ok()
                    .and_then(|r| r.symbolic_target().ok().flatten().map(str::to_string))
                    .ok_or_else(|| {
                        anyhow!("HEAD is detached and `{symref}` names no branch; say which branch to commit to with --branch")
                    })?;
                Ok(target.trim_start_matches(&format!("refs/remotes/{remote}/")).to_string())
            }
        }
    }
}

/// An error of the git layer as the user reads it: libgit2's message without the class and code
/// it appends (`; class=Repository (6); code=NotFound (-3)`). None for any other error. The one
/// place that noise is taken out: [`crate::describe`] reads every cause through it.
pub(crate) fn plain_cause(e: &(dyn std::error::Error + 'static)) -> Option<String> {
    e.downcast_ref::<git2::Error>().map(|g| g.message().to_string())
}

/// Whether `e` is libgit2 saying that the operating system refused a read or a write (a full
/// disk, a read-only file system): an I/O failure, never bad input.
pub(crate) fn is_os_failure(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<git2::Error>().is_some_and(|g| g.class() == git2::ErrorClass::Os)
}

fn oid_bytes(oid: Oid) -> [u8; 20] {
    let mut bytes = [0; 20];
    bytes.copy_from_slice(oid.as_bytes());
    bytes
}
