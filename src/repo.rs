//! The Git repository: reading specs and committed overlays from a commit's tree, building a
//! commit whose tree is its parent's with one overlay folder replaced, moving a branch by
//! compare-and-swap, and bringing the work tree and index up to date for that folder alone.
//! The only user of git2.
//!
//! Commits are built in the object database, never through the index, so unrelated staged or
//! unstaged work never enters them. New objects are invisible until a branch points at them, so
//! a run that stops before moving the branch leaves nothing behind that anyone sees.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::Busy;
use crate::transport::{Credentials, GitProgram, Pushed};
use anyhow::{Context, Result, anyhow, bail};
use git2::{ErrorCode, IndexEntry, IndexTime, ObjectType, Oid, Repository, Signature, Status, StatusOptions};

const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
use crate::index::SKIP_WORKTREE;
/// Files kanari reads from commits (specs, overlays, templates) are small; a larger blob is refused
/// before it is loaded.
const MAX_BLOB_BYTES: usize = 8 << 20;
/// How often, and how far apart, a Git lock file is tried again before it is taken for stale.
const LOCK_RETRIES: u32 = 20;
const LOCK_PAUSE: Duration = Duration::from_millis(50);
/// The index's lock is waited for longer: a `git status` in an editor holds it for a moment.
const INDEX_LOCK_RETRIES: u32 = 60;

/// A repository and where kanari's project root sits in its work tree.
pub struct Repo {
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

/// One folder's sync: what the work tree and the index get.
struct FolderSync {
    /// The folder, project-relative.
    dir: PathBuf,
    /// Its files in the old and the new commit, by path relative to it.
    old: BTreeMap<PathBuf, Vec<u8>>,
    new: BTreeMap<PathBuf, Vec<u8>>,
    /// Files of the old commit that the new one no longer has.
    gone: Vec<PathBuf>,
    /// Whether the work tree now holds the new files.
    written: bool,
    /// Outside a sparse checkout's cone: never written, staged `skip-worktree`.
    sparse: bool,
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
pub struct RepoPlace {
    git_dir: PathBuf,
    folders: Arc<Folders>,
    workdir: PathBuf,
    prefix: PathBuf,
}

impl RepoPlace {
    pub fn open(&self) -> Result<Repo> {
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

/// A folder's entries: name → (object, kind).
type Listing = Arc<HashMap<String, (Oid, Option<ObjectType>, i32)>>;

/// The folders (tree objects) read so far in this run, and each commit's root tree, shared by
/// every repository handle of the run. libgit2 caches no tree larger than 4 KiB, and every
/// handle has a cache of its own: without this, each release in a folder of thousands read
/// (inflated and hashed) that folder's tree again.
#[derive(Debug, Default)]
struct Folders {
    trees: Mutex<HashMap<Oid, Listing>>,
    roots: Mutex<HashMap<Oid, Oid>>,
    reads: std::sync::atomic::AtomicUsize,
}

impl Folders {
    fn root(&self, git: &Repository, commit: Oid) -> Result<Oid> {
        let mut roots = self.roots.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(tree) = roots.get(&commit) {
            return Ok(*tree);
        }
        let tree = git.find_commit(commit)?.tree_id();
        roots.insert(commit, tree);
        Ok(tree)
    }

    /// The entries of `tree`, read at most once per run: the lock is held while reading, so
    /// that threads asking for the same folder at once wait for one read.
    fn list(&self, git: &Repository, tree: Oid) -> Result<Listing> {
        let mut trees = self.trees.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(listing) = trees.get(&tree) {
            return Ok(listing.clone());
        }
        let object = git.find_tree(tree)?;
        self.reads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let listing: Listing = Arc::new(
            object
                .iter()
                .filter_map(|e| Some((e.name().ok()?.to_string(), (e.id(), e.kind(), e.filemode()))))
                .collect(),
        );
        trees.insert(tree, listing.clone());
        Ok(listing)
    }
}

/// Who a commit is by, and when.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub name: String,
    pub email: String,
}

/// Where commits go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Branch {
    /// Short name: `main`.
    pub name: String,
    /// The commit the branch points at, if it exists.
    pub tip: Option<Oid>,
}

impl Repo {
    /// Opens the repository around `root` (the project root).
    pub fn open(root: &Path) -> Result<Repo> {
        quick_reads();
        let git = Repository::discover(root)
            .with_context(|| format!("`{}` is not inside a Git repository", root.display()))?;
        let workdir = git.workdir().ok_or_else(|| anyhow!("the repository at `{}` is bare", root.display()))?;
        let workdir = workdir.canonicalize().with_context(|| format!("failed to resolve `{}`", workdir.display()))?;
        let root = root.canonicalize().with_context(|| format!("failed to resolve `{}`", root.display()))?;
        let prefix = root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();
        Ok(Repo { git, folders: Arc::default(), workdir, prefix, looked: Default::default() })
    }

    /// Where this repository is, to open more handles on it from other threads (a handle is
    /// not shared across threads).
    pub fn place(&self) -> RepoPlace {
        RepoPlace {
            git_dir: self.git.path().to_path_buf(),
            folders: self.folders.clone(),
            workdir: self.workdir.clone(),
            prefix: self.prefix.clone(),
        }
    }

    /// The `.git` folder.
    pub fn git_dir(&self) -> &Path {
        self.git.path()
    }

    /// A project-relative path as a path in the repository's trees.
    pub fn in_tree(&self, path: &Path) -> PathBuf {
        self.prefix.join(path)
    }

    /// The commit a revision names.
    pub fn resolve(&self, rev: &str) -> Result<Oid> {
        let object = self.git.revparse_single(rev).with_context(|| format!("no revision `{rev}` in the repository"))?;
        let commit = object.peel_to_commit().with_context(|| format!("`{rev}` does not name a commit"))?;
        Ok(commit.id())
    }

    /// The commit HEAD points at, if any.
    pub fn head_commit(&self) -> Result<Option<Oid>> {
        match self.git.head() {
            Ok(head) => Ok(Some(head.peel_to_commit().context("HEAD does not point at a commit")?.id())),
            Err(e) if matches!(e.code(), ErrorCode::UnbornBranch | ErrorCode::NotFound) => Ok(None),
            Err(e) => Err(e).context("failed to read HEAD"),
        }
    }

    /// The branch commits go to: `wanted`, else the branch HEAD is on, else (detached HEAD, as
    /// in CI) the branch the remote's HEAD names.
    pub fn branch(&self, wanted: Option<&str>, remote: &str) -> Result<Branch> {
        let name = match wanted {
            Some(name) => name.to_string(),
            None => self.current_branch(remote)?,
        };
        let refname = format!("refs/heads/{name}");
        git2::Reference::is_valid_name(&refname)
            .then_some(())
            .ok_or_else(|| anyhow!("`{name}` is not a valid branch name"))?;
        let tip = match self.git.find_reference(&refname) {
            Ok(r) => Some(r.peel_to_commit().with_context(|| format!("`{refname}` does not point at a commit"))?.id()),
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

    /// The files below `dir` (project-relative) in `commit`, by path relative to `dir`;
    /// `None` when there is no such folder. Symlinks and submodules are refused.
    pub fn files(&self, commit: Oid, dir: &Path) -> Result<Option<BTreeMap<PathBuf, Vec<u8>>>> {
        let path = self.in_tree(dir);
        let sub = match self.folder(commit, &path)? {
            Some(tree) => self.git.find_tree(tree)?,
            None => return Ok(None),
        };
        let mut files = BTreeMap::new();
        let mut failure = None;
        let walked = sub.walk(git2::TreeWalkMode::PreOrder, |parent, entry| {
            let name = entry.name().unwrap_or("?");
            let rel = PathBuf::from(parent).join(name);
            match (entry.kind(), entry.filemode()) {
                (Some(ObjectType::Tree), _) => git2::TreeWalkResult::Ok,
                (Some(ObjectType::Blob), 0o120000) => {
                    failure = Some(anyhow!("`{}` is a symlink in commit {}", path.join(&rel).display(), short(commit)));
                    git2::TreeWalkResult::Abort
                }
                (Some(ObjectType::Blob), _) if self.blob_size(entry.id()) > MAX_BLOB_BYTES => {
                    failure = Some(anyhow!(
                        "`{}` in commit {} is larger than {} MiB: kanari reads no such file",
                        path.join(&rel).display(),
                        short(commit),
                        MAX_BLOB_BYTES >> 20
                    ));
                    git2::TreeWalkResult::Abort
                }
                (Some(ObjectType::Blob), _) => match self.git.find_blob(entry.id()) {
                    Ok(blob) => {
                        files.insert(rel, blob.content().to_vec());
                        git2::TreeWalkResult::Ok
                    }
                    Err(e) => {
                        failure = Some(e.into());
                        git2::TreeWalkResult::Abort
                    }
                },
                _ => {
                    failure =
                        Some(anyhow!("`{}` is a submodule in commit {}", path.join(&rel).display(), short(commit)));
                    git2::TreeWalkResult::Abort
                }
            }
        });
        // An aborted walk is an error from git2 too; the reason is ours.
        match failure {
            Some(e) => Err(e),
            None => walked.map(|()| Some(files)).map_err(Into::into),
        }
    }

    /// The tree at `path` (repository-relative) in `commit`, if it is a folder there. The
    /// folders on the way are read through the shared [`Folders`] listing, so a folder that
    /// holds thousands of overlays is read once per run, not once per release.
    fn folder(&self, commit: Oid, path: &Path) -> Result<Option<Oid>> {
        let mut tree = self.folders.root(&self.git, commit)?;
        for part in path.components() {
            let Component::Normal(name) = part else { bail!("`{}` is not a plain relative path", path.display()) };
            let listing = self.folders.list(&self.git, tree)?;
            match listing.get(name.to_string_lossy().as_ref()) {
                Some((id, Some(ObjectType::Tree), _)) => tree = *id,
                Some(_) => bail!("`{}` in commit {} is not a folder", path.display(), short(commit)),
                None => return Ok(None),
            }
        }
        Ok(Some(tree))
    }

    /// How many tree objects this run has read to find folders, over every handle opened from
    /// the same place: each tree once.
    pub fn trees_read(&self) -> usize {
        self.folders.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn blob_size(&self, id: Oid) -> usize {
        self.git.odb().and_then(|odb| odb.read_header(id)).map_or(0, |(size, _)| size)
    }

    /// Paths below `paths` (project-relative) whose work tree or index differs from HEAD,
    /// untracked files included.
    ///
    /// Each path is first checked by [`Repo::certainly_clean`], which reads the index as bytes;
    /// only a path that may have changes goes to libgit2's status, which reads and hashes the
    /// whole index (a quarter of a second in a repository of 100,000 files) and applies
    /// content filters, and decides.
    pub fn uncommitted(&self, paths: &[&Path]) -> Result<Vec<PathBuf>> {
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
        head: Option<Oid>,
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
                None => Some(self.folders.root(&self.git, head)?),
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

    /// Refuses a sparse index (`index.sparse`), which libgit2 cannot read, with what to do.
    fn refuse_sparse_index(&self) -> Result<()> {
        let sparse = self.git.config().ok().and_then(|c| c.get_bool("index.sparse").ok()).unwrap_or(false);
        if sparse {
            bail!(
                "the index is a sparse index (`index.sparse` is true), which kanari cannot read; turn it off with `git sparse-checkout reapply --no-sparse-index` (the sparse checkout itself stays), then run kanari again"
            );
        }
        Ok(())
    }

    /// Whether a sparse checkout keeps the files of `dir` (project-relative) out of the work
    /// tree: the index marks its files `skip-worktree` already, or (for a folder the index does
    /// not have yet) the cone-mode patterns leave it out ([`crate::sparse`]).
    fn outside_sparse_cone(&self, index: &StagedIndex, dir: &Path) -> bool {
        let config = self.git.config().ok();
        let flag = |key: &str| config.as_ref().and_then(|c| c.get_bool(key).ok()).unwrap_or(false);
        if !flag("core.sparseCheckout") {
            return false;
        }
        let in_tree = self.in_tree(dir);
        let flags = index.flags_below(&in_tree.to_string_lossy());
        if !flags.is_empty() {
            return flags.iter().all(|f| f & SKIP_WORKTREE != 0);
        }
        // Cone mode is git's default for `git sparse-checkout`.
        let cone = config.as_ref().and_then(|c| c.get_bool("core.sparseCheckoutCone").ok()).unwrap_or(true);
        let patterns = std::fs::read_to_string(self.git.path().join("info/sparse-checkout")).unwrap_or_default();
        cone && !crate::sparse::Cone::parse(&patterns).keeps_files_of(&in_tree.to_string_lossy())
    }

    /// Writes a commit whose tree is `parent`'s with the folder `dir` (project-relative) holding
    /// exactly `files`. Returns `None` when that tree is `parent`'s own: there is nothing to commit.
    pub fn build_commit(
        &self,
        parent: Option<Oid>,
        dir: &Path,
        files: &BTreeMap<String, Vec<u8>>,
        message: &str,
        author: &Signature,
        committer: &Signature,
    ) -> Result<Option<Oid>> {
        let parent_commit = parent.map(|p| self.git.find_commit(p)).transpose()?;
        let base = parent_commit.as_ref().map(|c| c.tree()).transpose()?;
        let mut leaf = self.git.treebuilder(None)?;
        for (name, bytes) in files {
            let blob = self.git.blob(bytes)?;
            leaf.insert(name, blob, MODE_BLOB)?;
        }
        let leaf = leaf.write()?;
        let path = self.in_tree(dir);
        let parts: Vec<&OsStr> = path
            .components()
            .map(|c| match c {
                Component::Normal(part) => Ok(part),
                _ => Err(anyhow!("`{}` is not a plain relative path", path.display())),
            })
            .collect::<Result<_>>()?;
        let tree = self.replace_subtree(base.as_ref(), &parts, leaf)?;
        if base.as_ref().map(|t| t.id()) == Some(tree) {
            return Ok(None);
        }
        let tree = self.git.find_tree(tree)?;
        let parents: Vec<&git2::Commit> = parent_commit.iter().collect();
        let config = self.git.config().context("failed to read the Git configuration")?;
        let Some(signing) = crate::sign::Signing::from_config(&config)? else {
            let oid = self
                .git
                .commit(None, author, committer, message, &tree, &parents)
                .context("failed to write the commit")?;
            return Ok(Some(oid));
        };
        // As `git commit` with `commit.gpgsign`: the commit's bytes are signed, and the signature
        // goes into its `gpgsig` header; a commit that cannot be signed is not written.
        let buffer = self.git.commit_create_buffer(author, committer, message, &tree, &parents)?;
        let buffer = buffer.as_str().map_err(|_| anyhow!("the commit to sign is not UTF-8"))?;
        let who = format!("{} <{}>", committer.name().unwrap_or_default(), committer.email().unwrap_or_default());
        let signature = signing.sign(buffer.as_bytes(), &who, &self.workdir)?;
        let oid = self.git.commit_signed(buffer, &signature, Some("gpgsig")).context("failed to write the commit")?;
        Ok(Some(oid))
    }

    fn replace_subtree(&self, base: Option<&git2::Tree>, parts: &[&OsStr], leaf: Oid) -> Result<Oid> {
        let (first, rest) = parts.split_first().ok_or_else(|| anyhow!("the output folder is the repository root"))?;
        let name = first.to_str().ok_or_else(|| anyhow!("the output path is not UTF-8"))?;
        let mut builder = self.git.treebuilder(base)?;
        let id = if rest.is_empty() {
            leaf
        } else {
            let child = match base.and_then(|t| t.get_name(name)) {
                Some(entry) if entry.kind() == Some(ObjectType::Tree) => Some(self.git.find_tree(entry.id())?),
                Some(_) => bail!("`{name}` is a file in the committed tree, where the output folder goes"),
                None => None,
            };
            self.replace_subtree(child.as_ref(), rest, leaf)?
        };
        builder.insert(name, id, MODE_TREE)?;
        Ok(builder.write()?)
    }

    /// Refuses to move `branch` when another work tree of this repository has it checked out,
    /// as `git branch -f` does: that work tree's index and files would be left behind, and its
    /// next commit would revert the move.
    pub fn refuse_checked_out_elsewhere(&self, branch: &str) -> Result<()> {
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

    /// Decides, before `branch` moves from `old`, what the local clone will follow, and takes
    /// the index's lock when HEAD follows: every lock is held before the branch moves, so a
    /// moved branch never meets an index that cannot be written (which the next `git commit`
    /// would turn into a revert). A lock another process keeps is [`Busy`], and nothing moved.
    pub fn prepare_move(&self, branch: &str, old: Option<Oid>) -> Result<LocalMove> {
        self.refuse_checked_out_elsewhere(branch)?;
        self.refuse_sparse_index()?;
        let head = self.git.find_reference("HEAD").context("failed to read HEAD")?;
        let follows = if head.symbolic_target().ok().flatten() == Some(format!("refs/heads/{branch}").as_str()) {
            Follows::Branch
        } else if head.target().is_some() && head.target() == old {
            Follows::Detached
        } else {
            Follows::Nothing
        };
        let index = match follows {
            Follows::Nothing => None,
            _ => Some(IndexLock::take(self.git.path())?),
        };
        Ok(LocalMove { follows, index })
    }

    /// Moves `refs/heads/<branch>` from `old` (None: the branch must not exist) to `new`.
    /// Returns false when the branch was no longer at `old`: someone else moved it first.
    pub fn move_branch(&self, branch: &str, old: Option<Oid>, new: Oid, log: &str) -> Result<bool> {
        let refname = format!("refs/heads/{branch}");
        let attempt = || match old {
            Some(old) => self.git.reference_matching(&refname, new, true, old, log).map(|_| ()),
            None => self.git.reference(&refname, new, false, log).map(|_| ()),
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

    /// After the branch of `local` moved from `old` to `new`: brings HEAD, the index and the
    /// work tree up to date for `dirs` alone, when HEAD follows the branch. Returns false when
    /// HEAD is elsewhere and the work tree was left alone.
    pub fn sync_worktree(&self, local: LocalMove, old: Option<Oid>, new: Oid, dirs: &[&Path]) -> Result<bool> {
        let index_lock = match (local.follows, &local.index) {
            (Follows::Nothing, _) | (_, None) => return Ok(false),
            (_, Some(lock)) => lock,
        };
        if local.follows == Follows::Detached {
            self.git.set_head_detached(new).context("failed to move the detached HEAD")?;
        }
        // What the index must say for each folder is read from the commits first, so that the
        // index matches HEAD for all of them even when writing one folder fails.
        let mut changes = dirs.iter().map(|dir| self.dir_change(old, new, dir)).collect::<Result<Vec<_>>>()?;
        // Read under the index's lock, so that no other writer's change is lost.
        let index = self.staged_index()?;
        for change in &mut changes {
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
        let staged = match index {
            StagedIndex::Bytes(index) => self.update_index(&index, &changes, index_lock),
            StagedIndex::Libgit2(_) => self.update_index_libgit2(&changes, index_lock),
        };
        match (failure, staged) {
            (None, staged) => staged.map(|()| true),
            (Some(e), Ok(())) => Err(e),
            (Some(e), Err(also)) => Err(e.context(format!("and the index could not be updated: {also:#}"))),
        }
    }

    /// What syncing `dir` from `old` to `new` writes, removes and stages.
    fn dir_change(&self, old: Option<Oid>, new: Oid, dir: &Path) -> Result<FolderSync> {
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
    fn write_dir(&self, change: &FolderSync) -> Result<()> {
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
        for rel in &change.gone {
            folder.remove(&rel.to_string_lossy())?;
        }
        folder.sync();
        Ok(())
    }

    /// Takes kanari's lock on the repository, an OS file lock (`flock`) on `kanari.lock` in the
    /// repository's common folder (shared by its linked work trees), held until the run ends.
    /// The kernel releases it when the holder dies, whatever PID namespace either process is
    /// in, so a live holder is never robbed and a dead one never blocks. A holder is waited for
    /// up to `wait`; then the run stops with [`Busy`].
    pub fn lock(&self, wait: Duration, quiet: bool) -> Result<Lock> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = self.git.commondir().join("kanari.lock");
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(0o644)
            .open(&path)
            .with_context(|| format!("failed to open `{}`", path.display()))?;
        let start = std::time::Instant::now();
        let mut told = false;
        loop {
            match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {
                    // For a person who looks: who holds it. Never read to decide anything.
                    let _ = file.set_len(0);
                    let _ = (&file).write_all(format!("{}\n", std::process::id()).as_bytes());
                    return Ok(Lock { _file: file });
                }
                Err(e) if e == rustix::io::Errno::WOULDBLOCK || e == rustix::io::Errno::INTR => {}
                Err(e) => {
                    return Err(std::io::Error::from(e))
                        .with_context(|| format!("failed to lock `{}`", path.display()));
                }
            }
            if start.elapsed() >= wait {
                let holder = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse::<u32>().ok());
                return Err(Busy(format!(
                    "`{}` is still locked by another kanari{} after {}s; nothing was committed",
                    path.display(),
                    holder.map(|p| format!(" (process {p})")).unwrap_or_default(),
                    wait.as_secs()
                ))
                .into());
            }
            if !told && !quiet {
                eprintln!("waiting for `{}`, held by another kanari", path.display());
                told = true;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
    }

    /// The index file and its stat data, read for a look (no checksum); `None` when there is
    /// none or kanari does not read its form.
    fn read_index_to_look(&self) -> Option<(crate::index::Stat, crate::index::Index)> {
        use std::io::Read;
        let mut file = std::fs::File::open(self.git.path().join("index")).ok()?;
        // The stat data of the file read, not of a path that may be renamed over meanwhile.
        let stat = crate::index::Stat::of(&file.metadata().ok()?);
        let mut bytes = Vec::with_capacity(stat.size as usize);
        file.read_to_end(&mut bytes).ok()?;
        Some((stat, crate::index::Index::parse_to_look(bytes).ok()?))
    }

    /// The index, read for staging under its lock: as bytes ([`crate::index`]) when their form
    /// is one kanari writes itself, else (version 4) through libgit2. The index read by
    /// [`Repo::uncommitted`] is taken when the file is still the one it read. Its checksum is
    /// not verified, as git does not when it reads the index to update it (`git fsck` does);
    /// the form is checked entry by entry either way, and the index written gets a new one.
    fn staged_index(&self) -> Result<StagedIndex> {
        let path = self.git.path().join("index");
        let looked = self.looked.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((stat, index)) = looked
            && std::fs::symlink_metadata(&path).is_ok_and(|m| crate::index::Stat::of(&m) == stat)
        {
            return Ok(StagedIndex::Bytes(index));
        }
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => crate::index::empty(),
            Err(e) => return Err(e).with_context(|| format!("failed to read the index `{}`", path.display())),
        };
        match crate::index::Index::parse_to_look(bytes) {
            Ok(index) => Ok(StagedIndex::Bytes(index)),
            Err(crate::index::Unreadable::Unsupported(what)) if what.contains("version 4") => {
                Ok(StagedIndex::Libgit2(self.git.index().context("failed to read the index")?))
            }
            Err(e) => Err(e).with_context(|| format!("failed to read the index `{}`", path.display())),
        }
    }

    /// Stages and unstages `changes`: the index file with each folder's run of entries
    /// replaced, written into the held `index.lock` and renamed over the index, as git's lock
    /// file protocol does. One read and one write, whatever the size of the repository.
    fn update_index(&self, index: &crate::index::Index, changes: &[FolderSync], held: &IndexLock) -> Result<()> {
        use crate::index::{Entry, Stat};
        let mut folders = Vec::new();
        for change in changes {
            let base = self.in_tree(&change.dir);
            let mut entries = Vec::new();
            for (rel, bytes) in &change.new {
                let path = base.join(rel);
                let oid = Oid::hash_object(ObjectType::Blob, bytes)?;
                // Written: the work tree's stat data, so git knows the file unchanged without
                // reading it. Not written (outside a sparse cone, or a failed write): no stat
                // data, so the work tree's difference shows as unstaged, never as a staged revert.
                let stat = match change.written {
                    true => std::fs::symlink_metadata(self.workdir.join(&path))
                        .map(|m| Stat::of(&m))
                        .with_context(|| format!("failed to stage `{}`", path.display()))?,
                    false => Stat { size: bytes.len() as u32, ..Stat::default() },
                };
                let mut id = [0; 20];
                id.copy_from_slice(oid.as_bytes());
                entries.push(Entry {
                    path: path.to_string_lossy().into_owned(),
                    oid: id,
                    mode: MODE_BLOB as u32,
                    stat,
                    flags_extended: if change.sparse { SKIP_WORKTREE } else { 0 },
                    stage: 0,
                });
            }
            folders.push((base.to_string_lossy().into_owned(), entries));
        }
        held.commit(&index.with_folders(&folders), &self.git.path().join("index"))
    }

    /// [`Repo::update_index`] through libgit2, for an index form kanari does not write itself
    /// (version 4). `.git/index.lock` is ours already, so libgit2 cannot take it to write: the
    /// index is read from a copy, changed, written to that copy, and the copy renamed over the
    /// index while the lock is still held.
    fn update_index_libgit2(&self, changes: &[FolderSync], _held: &IndexLock) -> Result<()> {
        let index_path = self.git.path().join("index");
        let copy = self.git.path().join(format!("index.kanari-{}", std::process::id()));
        let result = (|| -> Result<()> {
            match std::fs::copy(&index_path, &copy) {
                Ok(_) => {}
                // A repository that has never had an index starts from an empty one.
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("failed to read the index `{}`", index_path.display()));
                }
            }
            let mut index = git2::Index::open(&copy).context("failed to read the index")?;
            // Owned by the repository, so that paths are staged with the work tree's stat data.
            self.git.set_index(&mut index)?;
            for change in changes {
                let base = self.in_tree(&change.dir);
                for rel in &change.gone {
                    index.remove_path(&base.join(rel))?;
                }
                for (rel, bytes) in &change.new {
                    let path = base.join(rel);
                    if change.written {
                        // The work tree holds the commit's bytes: stage them with their stat data.
                        index.add_path(&path).with_context(|| format!("failed to stage `{}`", path.display()))?;
                    } else {
                        // Not written: the index still says what the commit holds, and the work
                        // tree's difference shows as an unstaged change, never as a staged revert.
                        index.add(&IndexEntry {
                            ctime: IndexTime::new(0, 0),
                            mtime: IndexTime::new(0, 0),
                            dev: 0,
                            ino: 0,
                            mode: MODE_BLOB as u32,
                            uid: 0,
                            gid: 0,
                            file_size: bytes.len() as u32,
                            id: Oid::hash_object(ObjectType::Blob, bytes)?,
                            flags: 0,
                            flags_extended: if change.sparse { SKIP_WORKTREE } else { 0 },
                            path: path.to_string_lossy().into_owned().into_bytes(),
                        })?;
                    }
                }
            }
            index.write().context("failed to write the index")?;
            std::fs::rename(&copy, &index_path)
                .with_context(|| format!("failed to replace the index `{}`", index_path.display()))?;
            // The repository's index is the real one again for whatever this run reads next.
            self.git.set_index(&mut git2::Index::open(&index_path)?)?;
            Ok(())
        })();
        if result.is_err() {
            let _ = std::fs::remove_file(&copy);
        }
        result
    }

    /// The commit's subject line.
    pub fn subject(&self, commit: Oid) -> Result<String> {
        Ok(self.git.find_commit(commit)?.summary()?.unwrap_or_default().to_string())
    }

    /// Author and committer: `--author`, else `GIT_AUTHOR_*`/`GIT_COMMITTER_*`, else `user.name`
    /// and `user.email` from Git's configuration. `when` is the commit time.
    pub fn signatures(
        &self,
        author: Option<&str>,
        when: jiff::Timestamp,
    ) -> Result<(Signature<'static>, Signature<'static>)> {
        let time = git2::Time::new(when.as_second(), 0);
        let env = |key: &str| std::env::var(key).ok().filter(|v| !v.trim().is_empty());
        let config = self.git.config().ok();
        let from_config =
            |key: &str| config.as_ref().and_then(|c| c.get_string(key).ok()).filter(|v| !v.trim().is_empty());
        let given = author.map(parse_identity).transpose()?;
        let pick = |role: &str| -> Option<Identity> {
            if let Some(id) = &given {
                return Some(id.clone());
            }
            let upper = role.to_uppercase();
            match (env(&format!("GIT_{upper}_NAME")), env(&format!("GIT_{upper}_EMAIL"))) {
                (Some(name), Some(email)) => Some(Identity { name, email }),
                _ => match (from_config("user.name"), from_config("user.email")) {
                    (Some(name), Some(email)) => Some(Identity { name, email }),
                    _ => None,
                },
            }
        };
        let author = pick("author").or_else(|| pick("committer")).ok_or_else(|| {
            anyhow!(
                "no identity to commit as: pass --author \"Name <email>\", set GIT_AUTHOR_NAME and GIT_AUTHOR_EMAIL, or run `git config user.name NAME` and `git config user.email EMAIL`"
            )
        })?;
        let committer = pick("committer").unwrap_or_else(|| author.clone());
        let sign = |id: &Identity| Signature::new(&id.name, &id.email, &time).context("invalid identity for a commit");
        Ok((sign(&author)?, sign(&committer)?))
    }
}

impl Repo {
    /// The `git` program on this repository, for fetch and push ([`crate::transport`]).
    fn program(&self, remote: &str, creds: &Credentials) -> Result<GitProgram> {
        // git would say "does not appear to be a git repository"; name the remote instead.
        self.git.find_remote(remote).with_context(|| format!("no remote `{remote}` in the repository"))?;
        Ok(GitProgram::new(self.git.path(), creds.clone()))
    }

    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>` and returns its tip
    /// (None when the remote has no such branch).
    pub fn fetch(&self, remote: &str, branch: &str, creds: &Credentials) -> Result<Option<Oid>> {
        if !self.program(remote, creds)?.fetch(remote, branch)? {
            return Ok(None);
        }
        let tracking = format!("refs/remotes/{remote}/{branch}");
        match self.git.find_reference(&tracking) {
            Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
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
        commit: Oid,
        old: Option<Oid>,
        creds: &Credentials,
    ) -> Result<Pushed> {
        let old = old.map(|o| o.to_string());
        self.program(remote, creds)?.push(remote, branch, &commit.to_string(), old.as_deref())
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: Oid, descendant: Oid) -> Result<bool> {
        Ok(ancestor == descendant || self.git.graph_descendant_of(descendant, ancestor)?)
    }
}

/// kanari's lock on a repository: an OS file lock, released when dropped (or when the process
/// dies). The file stays: removing it would let a third process lock a new file while a second
/// still waits on the old one.
pub struct Lock {
    _file: std::fs::File,
}

/// The error for a Git lock file that stayed: it names the file and what to do.
fn busy_git_lock(path: &Path) -> anyhow::Error {
    Busy(format!(
        "`{}` exists: another git process is writing, or one was killed; nothing was committed; if no git runs on this clone, remove the file",
        path.display()
    ))
    .into()
}

/// Git's own lock on the index, `index.lock`, taken the way git takes it (create, exclusive)
/// and removed when dropped.
pub struct IndexLock {
    path: PathBuf,
    renamed: std::cell::Cell<bool>,
}

impl IndexLock {
    /// Writes `bytes` as the new index: into the lock file, then renamed over
    /// `index`. The lock is then gone (the rename took it), and nothing is left to remove.
    fn commit(&self, bytes: &[u8], index: &Path) -> Result<()> {
        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
            .with_context(|| format!("failed to write `{}`", self.path.display()))?;
        // Not fsynced, as git's own index writes are not by default (`core.fsync`).
        file.write_all(bytes).with_context(|| format!("failed to write `{}`", self.path.display()))?;
        std::fs::rename(&self.path, index)
            .with_context(|| format!("failed to replace the index `{}`", index.display()))?;
        self.renamed.set(true);
        Ok(())
    }

    fn take(git_dir: &Path) -> Result<IndexLock> {
        let path = git_dir.join("index.lock");
        for attempt in 0..=INDEX_LOCK_RETRIES {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(_) => return Ok(IndexLock { path, renamed: std::cell::Cell::new(false) }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists && attempt < INDEX_LOCK_RETRIES => {
                    std::thread::sleep(LOCK_PAUSE)
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => break,
                Err(e) => return Err(e).with_context(|| format!("failed to create `{}`", path.display())),
            }
        }
        Err(busy_git_lock(&path))
    }
}

impl Drop for IndexLock {
    fn drop(&mut self) {
        // Once renamed into the index, the path may be another process's lock by now.
        if !self.renamed.get() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The index as read for staging.
enum StagedIndex {
    Bytes(crate::index::Index),
    Libgit2(git2::Index),
}

impl StagedIndex {
    /// The extended flags of the entries below `dir/`.
    fn flags_below(&self, dir: &str) -> Vec<u16> {
        let prefix = format!("{dir}/");
        match self {
            StagedIndex::Bytes(index) => index
                .entries_under(dir)
                .iter()
                .filter(|e| e.path.starts_with(&prefix))
                .map(|e| e.flags_extended)
                .collect(),
            StagedIndex::Libgit2(index) => {
                index.iter().filter(|e| e.path.starts_with(prefix.as_bytes())).map(|e| e.flags_extended).collect()
            }
        }
    }
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

/// A branch move, prepared: what follows it locally, with the index's lock held when needed.
pub struct LocalMove {
    follows: Follows,
    index: Option<IndexLock>,
}

/// `Name <email>`.
pub fn parse_identity(text: &str) -> Result<Identity> {
    let text = text.trim();
    let (name, rest) = text.split_once('<').ok_or_else(|| anyhow!("--author `{text}` is not `Name <email>`"))?;
    let email = rest.strip_suffix('>').ok_or_else(|| anyhow!("--author `{text}` is not `Name <email>`"))?;
    let (name, email) = (name.trim(), email.trim());
    if name.is_empty() || email.is_empty() || email.contains(['<', '>']) {
        bail!("--author `{text}` is not `Name <email>`");
    }
    Ok(Identity { name: name.to_string(), email: email.to_string() })
}

fn oid_bytes(oid: Oid) -> [u8; 20] {
    let mut bytes = [0; 20];
    bytes.copy_from_slice(oid.as_bytes());
    bytes
}

/// The first 12 hex digits of a commit id.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..12].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A repository whose one commit holds `n` overlays side by side in `deploy/team/`, the
    /// monorepo layout where looking each overlay up from the root once read the shared
    /// folder's tree (thousands of entries) again for every release.
    fn one_folder(n: usize) -> (tempfile::TempDir, Repo, Oid) {
        let dir = tempfile::tempdir().unwrap();
        let commit = write_one_folder(&Repository::init(dir.path()).unwrap(), n);
        let repo = Repo::open(dir.path()).unwrap();
        (dir, repo, commit)
    }

    fn write_one_folder(git: &Repository, n: usize) -> Oid {
        let mut team = git.treebuilder(None).unwrap();
        for i in 0..n {
            let mut leaf = git.treebuilder(None).unwrap();
            leaf.insert("kustomization.yaml", git.blob(format!("release {i}\n").as_bytes()).unwrap(), MODE_BLOB)
                .unwrap();
            team.insert(format!("r{i:04}"), leaf.write().unwrap(), MODE_TREE).unwrap();
        }
        let mut deploy = git.treebuilder(None).unwrap();
        deploy.insert("team", team.write().unwrap(), MODE_TREE).unwrap();
        let mut root = git.treebuilder(None).unwrap();
        root.insert("deploy", deploy.write().unwrap(), MODE_TREE).unwrap();
        let tree = git.find_tree(root.write().unwrap()).unwrap();
        let sig = Signature::new("t", "t@example.com", &git2::Time::new(0, 0)).unwrap();
        git.commit(None, &sig, &sig, "overlays", &tree, &[]).unwrap()
    }

    #[test]
    fn each_folder_tree_is_read_once_per_run_whatever_the_releases_handles_or_threads() {
        let n = 300;
        let (_dir, repo, commit) = one_folder(n);
        let place = repo.place();
        std::thread::scope(|s| {
            for t in 0..4 {
                let place = place.clone();
                s.spawn(move || {
                    let handle = place.open().unwrap();
                    for i in (t..n).step_by(4) {
                        let files = handle.files(commit, Path::new(&format!("deploy/team/r{i:04}"))).unwrap().unwrap();
                        assert_eq!(files[Path::new("kustomization.yaml")], format!("release {i}\n").into_bytes());
                    }
                });
            }
        });
        // The root, `deploy` and `deploy/team`: three reads for 300 releases over five handles.
        assert_eq!(repo.trees_read(), 3);
        assert!(repo.files(commit, Path::new("deploy/team/missing")).unwrap().is_none());
        assert_eq!(repo.trees_read(), 3);
        assert!(repo.files(commit, Path::new("deploy/team/r0001/kustomization.yaml")).is_err(), "a file is no folder");
    }
}
