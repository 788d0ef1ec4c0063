//! The Git repository: reading specs and committed overlays from a commit's tree, building a
//! commit whose tree is its parent's with one overlay folder replaced, moving a branch by
//! compare-and-swap, and bringing the work tree and index up to date for that folder alone.
//! The only user of git2.
//!
//! Commits are built in the object database, never through the index, so unrelated staged or
//! unstaged work never enters them. New objects are invisible until a branch points at them, so
//! a run that stops before moving the branch leaves nothing behind that anyone sees.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::path::{Component, Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, anyhow, bail};
use git2::{ErrorCode, IndexEntry, IndexTime, ObjectType, Oid, Repository, Signature, Status, StatusOptions};

const MODE_TREE: i32 = 0o040000;
const MODE_BLOB: i32 = 0o100644;
/// Files kanari reads from commits (specs, overlays, templates) are small; a larger blob is refused
/// before it is loaded.
const MAX_BLOB_BYTES: usize = 8 << 20;
/// How often, and how far apart, a Git lock file is tried again before it is taken for stale.
const LOCK_RETRIES: u32 = 20;
const LOCK_PAUSE: Duration = Duration::from_millis(50);

/// A repository and where kanari's project root sits in its work tree.
pub struct Repo {
    git: Repository,
    workdir: PathBuf,
    /// The project root relative to the work tree's top (empty when they are the same).
    prefix: PathBuf,
}

/// Spares a run that never talks to a remote libgit2's TLS set-up: libgit2 sets up OpenSSL
/// when it starts, whether a remote is used or not, and OpenSSL then parses every certificate
/// of the system's CA bundle (`SSL_CERT_FILE`): 30-40 ms, a third of a promote. An empty bundle
/// makes that set-up free; no connection is made by such a run, so no certificate is missed.
///
/// # Safety
///
/// It sets an environment variable: call it before any other thread starts.
pub unsafe fn skip_tls_setup() {
    // SAFETY: the caller guarantees that this process has one thread.
    unsafe { std::env::set_var("SSL_CERT_FILE", "/dev/null") };
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
}

/// Where a [`Repo`] is: what another thread needs to open its own handle on it.
#[derive(Clone, Debug)]
pub struct RepoPlace {
    git_dir: PathBuf,
    workdir: PathBuf,
    prefix: PathBuf,
}

impl RepoPlace {
    pub fn open(&self) -> Result<Repo> {
        let git = Repository::open(&self.git_dir)
            .with_context(|| format!("failed to open the repository at `{}`", self.git_dir.display()))?;
        Ok(Repo { git, workdir: self.workdir.clone(), prefix: self.prefix.clone() })
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
        let git = Repository::discover(root)
            .with_context(|| format!("`{}` is not inside a Git repository", root.display()))?;
        let workdir = git.workdir().ok_or_else(|| anyhow!("the repository at `{}` is bare", root.display()))?;
        let workdir = workdir.canonicalize().with_context(|| format!("failed to resolve `{}`", workdir.display()))?;
        let root = root.canonicalize().with_context(|| format!("failed to resolve `{}`", root.display()))?;
        let prefix = root.strip_prefix(&workdir).map(Path::to_path_buf).unwrap_or_default();
        Ok(Repo { git, workdir, prefix })
    }

    /// Where this repository is, to open more handles on it from other threads (a handle is
    /// not shared across threads).
    pub fn place(&self) -> RepoPlace {
        RepoPlace { git_dir: self.git.path().to_path_buf(), workdir: self.workdir.clone(), prefix: self.prefix.clone() }
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
        let tree = self.git.find_commit(commit)?.tree()?;
        let path = self.in_tree(dir);
        let sub = match tree.get_path(&path) {
            Ok(entry) if entry.kind() == Some(ObjectType::Tree) => self.git.find_tree(entry.id())?,
            Ok(_) => bail!("`{}` in commit {} is not a folder", path.display(), short(commit)),
            Err(e) if e.code() == ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(e).with_context(|| format!("failed to read `{}`", path.display())),
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

    fn blob_size(&self, id: Oid) -> usize {
        self.git.odb().and_then(|odb| odb.read_header(id)).map_or(0, |(size, _)| size)
    }

    /// Paths below `paths` (project-relative) whose work tree or index differs from HEAD,
    /// untracked files included.
    pub fn uncommitted(&self, paths: &[&Path]) -> Result<Vec<PathBuf>> {
        let mut out = Vec::new();
        // One status per path, each a literal pathspec: libgit2 then walks that file or folder
        // alone, where several unrelated pathspecs would make it walk the whole work tree.
        for path in paths {
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
                    .filter_map(|s| s.path().ok().map(PathBuf::from)),
            );
        }
        out.sort();
        out.dedup();
        Ok(out)
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
            Err(e) if e.code() == ErrorCode::Locked => Err(self.stale_lock(&format!("{refname}.lock"))),
            Err(e) => Err(e).with_context(|| format!("failed to move `{refname}`")),
        }
    }

    /// After `branch` moved from `old` to `new`: if HEAD is on that branch (or detached at `old`,
    /// as in CI), brings HEAD, the index and the work tree up to date for `dirs` alone. Returns
    /// false when HEAD is elsewhere and the work tree was left alone.
    pub fn sync_worktree(&self, branch: &str, old: Option<Oid>, new: Oid, dirs: &[&Path]) -> Result<bool> {
        let head = self.git.find_reference("HEAD").context("failed to read HEAD")?;
        let on_branch = head.symbolic_target().ok().flatten() == Some(format!("refs/heads/{branch}").as_str());
        if !on_branch {
            let detached_at_old = head.target().is_some() && head.target() == old;
            if !detached_at_old {
                return Ok(false);
            }
            self.git.set_head_detached(new).context("failed to move the detached HEAD")?;
        }
        // What the index must say for each folder is read from the commits first, so that the
        // index matches HEAD for all of them even when writing one folder fails.
        let mut changes = dirs.iter().map(|dir| self.dir_change(old, new, dir)).collect::<Result<Vec<_>>>()?;
        let mut failure = None;
        for change in &mut changes {
            match self.write_dir(change) {
                Ok(()) => change.written = true,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let staged = self.update_index(&changes);
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
        Ok(FolderSync { dir: dir.to_path_buf(), old: old_files, new: new_files, gone, written: false })
    }

    /// Writes the files of the folder that differ between the two commits into the work tree
    /// and removes those the new one no longer has.
    fn write_dir(&self, change: &FolderSync) -> Result<()> {
        let folder = crate::overlay::SafeDir::open(&self.workdir, &self.in_tree(&change.dir), true)?
            .expect("created when missing");
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

    /// Takes kanari's lock on the repository, `.git/kanari.lock`, so that two kanari processes
    /// on one clone take turns. A lock left by a process that no longer runs is taken over; a live
    /// holder is waited for up to `wait`, and then the error names the file.
    pub fn lock(&self, wait: Duration, quiet: bool) -> Result<Lock> {
        let path = self.git.path().join("kanari.lock");
        let start = std::time::Instant::now();
        let mut told = false;
        loop {
            match std::fs::OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(mut file) => {
                    use std::io::Write;
                    let _ = writeln!(file, "{}", std::process::id());
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = std::fs::read_to_string(&path).ok().and_then(|t| t.trim().parse::<u32>().ok());
                    if let Some(pid) = holder
                        && !Path::new(&format!("/proc/{pid}")).exists()
                        && Path::new("/proc/self").exists()
                    {
                        // The holder is gone (killed): its lock protects nothing.
                        let _ = std::fs::remove_file(&path);
                        continue;
                    }
                    if start.elapsed() >= wait {
                        return Err(crate::Exit {
                            code: crate::exit::CONFLICT,
                            message: format!(
                                "`{}` is still held{} after {}s; if no kanari runs on this clone, remove the file",
                                path.display(),
                                holder.map(|p| format!(" by process {p}")).unwrap_or_default(),
                                wait.as_secs()
                            ),
                        }
                        .into());
                    }
                    if !told && !quiet {
                        eprintln!("waiting for `{}`, held by another kanari", path.display());
                        told = true;
                    }
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(e).with_context(|| format!("failed to create `{}`", path.display())),
            }
        }
    }

    /// Stages and unstages `changes` with one read and one write of the index (a monorepo's
    /// index holds every file of the repository: reading and writing it is most of a commit).
    fn update_index(&self, changes: &[FolderSync]) -> Result<()> {
        // git's own index.lock may be held for a moment by another git process; wait a little.
        for attempt in 0..=LOCK_RETRIES {
            let mut index = self.git.index().context("failed to open the index")?;
            // Read again only when the file changed since this handle read it.
            index.read(false).context("failed to read the index")?;
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
                            flags_extended: 0,
                            path: path.to_string_lossy().into_owned().into_bytes(),
                        })?;
                    }
                }
            }
            match index.write() {
                Ok(()) => return Ok(()),
                Err(e) if e.code() == ErrorCode::Locked && attempt < LOCK_RETRIES => std::thread::sleep(LOCK_PAUSE),
                Err(e) if e.code() == ErrorCode::Locked => return Err(self.stale_lock("index.lock")),
                Err(e) => {
                    return Err(e).with_context(|| {
                        format!("failed to write the index `{}`", self.git.path().join("index").display())
                    });
                }
            }
        }
        unreachable!("the loop returns")
    }

    /// The error for a Git lock file that stayed: it names the file and what to do.
    fn stale_lock(&self, name: &str) -> anyhow::Error {
        let path = self.git.path().join(name);
        anyhow!(
            "`{}` exists: another git process is writing, or one was killed; if no git runs on this clone, remove the file",
            path.display()
        )
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

/// What a push came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// The remote branch now points at the commit.
    Accepted,
    /// The remote moved first (non-fast-forward, a lost ref lock): fetch and start again.
    Moved(String),
    /// The server refused the commit (a hook, branch protection): not retried.
    Refused(String),
}

/// Rejection messages that mean "the branch moved under you", as git and libgit2 word them.
const RETRYABLE: [&str; 7] = [
    "non-fast-forward",
    "fetch first",
    "cannot lock ref",
    "incorrect old value provided",
    "failed to lock",
    "failed to create locked file",
    "not present locally",
];

/// Credentials for remotes, from the environment. The token never appears in any output: every
/// message from the transport passes through [`Credentials::redact`].
#[derive(Clone, Default)]
pub struct Credentials {
    token: Option<String>,
    user: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials { .. }")
    }
}

impl Credentials {
    /// `KANARI_GIT_TOKEN`, else `GITHUB_TOKEN`, else `GITLAB_TOKEN`; `KANARI_GIT_USER` names the
    /// user (default `x-access-token`, or `oauth2` with a GitLab token).
    pub fn from_env() -> Self {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let (token, default_user) = match (var("KANARI_GIT_TOKEN"), var("GITHUB_TOKEN"), var("GITLAB_TOKEN")) {
            (Some(t), _, _) | (None, Some(t), _) => (Some(t), "x-access-token"),
            (None, None, Some(t)) => (Some(t), "oauth2"),
            _ => (None, "x-access-token"),
        };
        Credentials { token, user: var("KANARI_GIT_USER").unwrap_or_else(|| default_user.to_string()) }
    }

    /// `text` with the token replaced by `***`.
    pub fn redact(&self, text: &str) -> String {
        match &self.token {
            Some(token) => text.replace(token.as_str(), "***"),
            None => text.to_string(),
        }
    }

    fn callbacks(&self) -> git2::RemoteCallbacks<'static> {
        let mut callbacks = git2::RemoteCallbacks::new();
        let creds = self.clone();
        let mut calls = 0;
        callbacks.credentials(move |_url, username, allowed| {
            // libgit2 asks again after every refusal; a bad token must fail fast, not loop.
            calls += 1;
            if calls > 2 {
                return Err(git2::Error::from_str("the remote refused the credentials"));
            }
            if allowed.contains(git2::CredentialType::SSH_KEY) {
                return git2::Cred::ssh_key_from_agent(username.unwrap_or("git"));
            }
            if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT)
                && let Some(token) = &creds.token
            {
                return git2::Cred::userpass_plaintext(username.unwrap_or(&creds.user), token);
            }
            if allowed.contains(git2::CredentialType::DEFAULT) {
                return git2::Cred::default();
            }
            Err(git2::Error::from_str("the remote wants credentials: set KANARI_GIT_TOKEN (or use an SSH agent)"))
        });
        callbacks
    }
}

impl Repo {
    /// Fetches `branch` from `remote` into `refs/remotes/<remote>/<branch>` and returns its tip
    /// (None when the remote has no such branch).
    pub fn fetch(&self, remote: &str, branch: &str, creds: &Credentials) -> Result<Option<Oid>> {
        let mut handle =
            self.git.find_remote(remote).with_context(|| format!("no remote `{remote}` in the repository"))?;
        let tracking = format!("refs/remotes/{remote}/{branch}");
        let refspec = format!("+refs/heads/{branch}:{tracking}");
        let mut options = git2::FetchOptions::new();
        options.remote_callbacks(creds.callbacks());
        handle
            .fetch(&[&refspec], Some(&mut options), Some("kanari: fetch"))
            .map_err(|e| anyhow!("failed to fetch `{branch}` from `{remote}`: {}", creds.redact(e.message())))?;
        match self.git.find_reference(&tracking) {
            Ok(r) => Ok(Some(r.peel_to_commit()?.id())),
            Err(e) if e.code() == ErrorCode::NotFound => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Pushes `commit` to `refs/heads/<branch>` on `remote`, without force: the server takes it
    /// only as a fast-forward, which makes the push a compare-and-swap on the remote branch.
    /// A rejection is read from the per-reference status, since libgit2's push call returns Ok
    /// when the server refuses a reference.
    pub fn push(&self, remote: &str, branch: &str, commit: Oid, creds: &Credentials) -> Result<Pushed> {
        let mut handle =
            self.git.find_remote(remote).with_context(|| format!("no remote `{remote}` in the repository"))?;
        // A push names a reference as its source; a private one points at the commit meanwhile.
        let source = format!("refs/kanari/push-{}", std::process::id());
        self.git.reference(&source, commit, true, "kanari: push")?;
        let refspec = format!("{source}:refs/heads/{branch}");
        let rejection = std::rc::Rc::new(std::cell::RefCell::new(None::<String>));
        let mut callbacks = creds.callbacks();
        let seen = rejection.clone();
        callbacks.push_update_reference(move |_name, status| {
            if let Some(message) = status {
                *seen.borrow_mut() = Some(message.to_string());
            }
            Ok(())
        });
        // What the server's hooks print arrives on the sideband: it says why a push was refused.
        let said = std::rc::Rc::new(std::cell::RefCell::new(String::new()));
        let heard = said.clone();
        callbacks.sideband_progress(move |bytes| {
            let mut text = heard.borrow_mut();
            if text.len() < 4096 {
                text.push_str(&String::from_utf8_lossy(bytes));
            }
            true
        });
        let mut options = git2::PushOptions::new();
        options.remote_callbacks(callbacks);
        let result = handle.push(&[&refspec], Some(&mut options));
        if let Ok(mut r) = self.git.find_reference(&source) {
            let _ = r.delete();
        }
        let refused = rejection.borrow_mut().take();
        let message = match (result, refused) {
            (Ok(()), None) => return Ok(Pushed::Accepted),
            (_, Some(message)) => message,
            (Err(e), None) => {
                let text = creds.redact(e.message());
                if !RETRYABLE.iter().any(|r| text.contains(r)) {
                    bail!("failed to push to `{remote}`: {text}");
                }
                text
            }
        };
        let remote_said: Vec<String> =
            said.borrow().lines().map(str::trim).filter(|l| !l.is_empty()).map(|l| creds.redact(l)).collect();
        let message = match remote_said.is_empty() {
            true => creds.redact(&message),
            false => format!("{}; the remote said: {}", creds.redact(&message), remote_said.join(" / ")),
        };
        // git's receive-pack reports a lost ref race as "failed to update ref" with the reason
        // ("cannot lock ref ... expected ...") on the sideband, so both are read.
        Ok(if RETRYABLE.iter().any(|r| message.contains(r)) {
            Pushed::Moved(message)
        } else {
            Pushed::Refused(message)
        })
    }

    /// Whether `ancestor` is `descendant` or one of its ancestors.
    pub fn is_ancestor(&self, ancestor: Oid, descendant: Oid) -> Result<bool> {
        Ok(ancestor == descendant || self.git.graph_descendant_of(descendant, ancestor)?)
    }
}

/// kanari's lock on a repository; released when dropped.
pub struct Lock {
    path: PathBuf,
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
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

/// The first 12 hex digits of a commit id.
pub fn short(oid: Oid) -> String {
    oid.to_string()[..12].to_string()
}
