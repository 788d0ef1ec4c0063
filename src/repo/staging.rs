//! Staging into the index under git's own lock (`index.lock`): read as bytes and rewritten
//! folder by folder ([`crate::index`]), or through libgit2 for an index form kanari does not
//! write itself.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use git2::{IndexEntry, IndexTime, ObjectType, Oid};

use super::lock::{LOCK_PAUSE, busy_git_lock};
use super::worktree::FolderSync;
use super::{MODE_BLOB, Repo, oid_bytes};
use crate::index::SKIP_WORKTREE;

/// The index's lock is waited for longer than a ref's: a `git status` in an editor holds it for
/// a moment.
const INDEX_LOCK_RETRIES: u32 = 60;

/// Git's own lock on the index, `index.lock`, taken the way git takes it (create, exclusive)
/// and removed when dropped.
pub(crate) struct IndexLock {
    path: PathBuf,
    renamed: std::cell::Cell<bool>,
}

impl IndexLock {
    /// Writes `bytes` as the new index: into the lock file, then renamed over
    /// `index`. The lock is then gone (the rename took it), and nothing is left to remove.
    pub(super) fn commit(&self, bytes: &[u8], index: &Path) -> Result<()> {
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

    pub(super) fn take(git_dir: &Path) -> Result<IndexLock> {
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
pub(super) enum StagedIndex {
    Bytes(crate::index::Index),
    Libgit2(git2::Index),
}

impl StagedIndex {
    /// The extended flags of the entries below `dir/`.
    pub(super) fn flags_below(&self, dir: &str) -> Vec<u16> {
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

impl Repo {
    /// The index file and its stat data, read for a look (no checksum); `None` when there is
    /// none or kanari does not read its form.
    pub(super) fn read_index_to_look(&self) -> Option<(crate::index::Stat, crate::index::Index)> {
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
    pub(super) fn staged_index(&self) -> Result<StagedIndex> {
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
    pub(super) fn update_index(
        &self,
        index: &crate::index::Index,
        changes: &[FolderSync],
        held: &IndexLock,
    ) -> Result<()> {
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
                entries.push(Entry {
                    path: path.to_string_lossy().into_owned(),
                    oid: oid_bytes(oid),
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
    pub(super) fn update_index_libgit2(&self, changes: &[FolderSync], _held: &IndexLock) -> Result<()> {
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
}
