//! Reading committed files: a commit's folders through a listing memo shared by every handle of
//! the run, and the files below one folder.

use std::collections::{BTreeMap, HashMap};
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Result, anyhow, bail};
use git2::{ObjectType, Oid, Repository};

use super::{CommitId, Repo};

/// Files kanari reads from commits (specs, overlays, templates) are small; a larger blob is refused
/// before it is loaded.
const MAX_BLOB_BYTES: usize = 8 << 20;

/// A folder's entries: name → (object, kind).
pub(super) type Listing = Arc<HashMap<String, (Oid, Option<ObjectType>, i32)>>;

/// The folders (tree objects) read so far in this run, and each commit's root tree, shared by
/// every repository handle of the run. libgit2 caches no tree larger than 4 KiB, and every
/// handle has a cache of its own: without this, each release in a folder of thousands read
/// (inflated and hashed) that folder's tree again.
#[derive(Debug, Default)]
pub(super) struct Folders {
    trees: Mutex<HashMap<Oid, Listing>>,
    roots: Mutex<HashMap<Oid, Oid>>,
    reads: std::sync::atomic::AtomicUsize,
}

impl Folders {
    pub(super) fn root(&self, git: &Repository, commit: Oid) -> Result<Oid> {
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
    pub(super) fn list(&self, git: &Repository, tree: Oid) -> Result<Listing> {
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

impl Repo {
    /// The files below `dir` (project-relative) in `commit`, by path relative to `dir`;
    /// `None` when there is no such folder. Symlinks and submodules are refused.
    pub(crate) fn files(&self, commit: CommitId, dir: &Path) -> Result<Option<BTreeMap<PathBuf, Vec<u8>>>> {
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
                    failure =
                        Some(anyhow!("`{}` is a symlink in commit {}", path.join(&rel).display(), commit.short()));
                    git2::TreeWalkResult::Abort
                }
                (Some(ObjectType::Blob), _) if self.blob_size(entry.id()) > MAX_BLOB_BYTES => {
                    failure = Some(anyhow!(
                        "`{}` in commit {} is larger than {} MiB: kanari reads no such file",
                        path.join(&rel).display(),
                        commit.short(),
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
                        Some(anyhow!("`{}` is a submodule in commit {}", path.join(&rel).display(), commit.short()));
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

    /// The bytes of the file at `path` (project-relative) in `commit`; `None` when there is no
    /// such file. A symlink, a submodule, a folder or a file over the size limit is an error.
    pub(crate) fn file(&self, commit: CommitId, path: &Path) -> Result<Option<Vec<u8>>> {
        let path = self.in_tree(path);
        let (Some(parent), Some(name)) = (path.parent(), path.file_name()) else {
            bail!("`{}` names no file", path.display())
        };
        let Some(folder) = self.folder(commit, parent)? else { return Ok(None) };
        let listing = self.folders.list(&self.git, folder)?;
        match listing.get(name.to_string_lossy().as_ref()) {
            None => Ok(None),
            Some((_, Some(ObjectType::Blob), 0o120000)) => {
                bail!("`{}` is a symlink in commit {}", path.display(), commit.short())
            }
            Some((id, Some(ObjectType::Blob), _)) if self.blob_size(*id) > MAX_BLOB_BYTES => bail!(
                "`{}` in commit {} is larger than {} MiB: kanari reads no such file",
                path.display(),
                commit.short(),
                MAX_BLOB_BYTES >> 20
            ),
            Some((id, Some(ObjectType::Blob), _)) => Ok(Some(self.git.find_blob(*id)?.content().to_vec())),
            Some((_, Some(ObjectType::Tree), _)) => {
                bail!("`{}` is a folder in commit {}", path.display(), commit.short())
            }
            Some(_) => bail!("`{}` is a submodule in commit {}", path.display(), commit.short()),
        }
    }

    /// The tree at `path` (repository-relative) in `commit`, if it is a folder there. The
    /// folders on the way are read through the shared [`Folders`] listing, so a folder that
    /// holds thousands of overlays is read once per run, not once per release.
    pub(super) fn folder(&self, commit: CommitId, path: &Path) -> Result<Option<Oid>> {
        let mut tree = self.folders.root(&self.git, commit.0)?;
        for part in path.components() {
            let Component::Normal(name) = part else { bail!("`{}` is not a plain relative path", path.display()) };
            let listing = self.folders.list(&self.git, tree)?;
            match listing.get(name.to_string_lossy().as_ref()) {
                Some((id, Some(ObjectType::Tree), _)) => tree = *id,
                Some((_, _, 0o120000)) => {
                    bail!("`{}` in commit {} is a symlink, not a folder", path.display(), commit.short())
                }
                Some(_) => bail!("`{}` in commit {} is not a folder", path.display(), commit.short()),
                None => return Ok(None),
            }
        }
        Ok(Some(tree))
    }

    /// How many tree objects this run has read to find folders, over every handle opened from
    /// the same place: each tree once.
    #[cfg(test)]
    fn trees_read(&self) -> usize {
        self.folders.reads.load(std::sync::atomic::Ordering::Relaxed)
    }

    fn blob_size(&self, id: Oid) -> usize {
        self.git.odb().and_then(|odb| odb.read_header(id)).map_or(0, |(size, _)| size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::{MODE_BLOB, MODE_TREE};
    use git2::Signature;

    /// A repository whose one commit holds `n` overlays side by side in `deploy/team/`, the
    /// monorepo layout where looking each overlay up from the root once read the shared
    /// folder's tree (thousands of entries) again for every release.
    fn one_folder(n: usize) -> (tempfile::TempDir, Repo, CommitId) {
        let dir = tempfile::tempdir().unwrap();
        let commit = write_one_folder(&Repository::init(dir.path()).unwrap(), n);
        let repo = Repo::open(dir.path()).unwrap();
        (dir, repo, CommitId(commit))
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
