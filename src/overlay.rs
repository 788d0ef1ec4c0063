//! The end of the pipeline on disk: reading the state an overlay records, and replacing an
//! overlay's files. Every file kanari writes in the work tree goes through here ([`SafeDir`]):
//! a render's overlays, `kanari init`'s new files, and the folders `repo` syncs after a commit;
//! `repo` itself writes only inside `.git` (its journal, the index, refs, its lock).
//!
//! kanari owns its output directory: the files its `kustomization.yaml` lists, that file itself,
//! and its own temporary files. Anything else there is an error that names the file; nothing is
//! deleted that kanari did not write. Every write is planned and checked first ([`plan_write`]),
//! for every release, before the first byte is written ([`apply`]).
//!
//! The output folder is reached component by component from the repository root through opened
//! folders ([`SafeDir`]): a symlink, a `.git` folder (in any case) or a nested repository or
//! submodule on the way is refused, and every file is then read, written, renamed and removed
//! through the opened folder, never through a path that is resolved again. Each file is written to
//! a temporary file in the same folder and renamed over the old one, so a reader (or a crash)
//! sees the old file or the new one, never half of one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use serde::Deserialize;

use crate::flock::{LockHeld, Waited};
use crate::plan::Recorded;
use crate::render::{KUSTOMIZATION, Overrides, Rendered, is_plain_file_name};

/// Prefix and suffix of kanari's temporary files; a leftover one (a killed run) is kanari's own.
const TMP_PREFIX: &str = ".kanari-";
const TMP_SUFFIX: &str = ".tmp";

/// Whether a file name is one of kanari's temporary files (written, then renamed into place).
pub(crate) fn is_temporary(name: &str) -> bool {
    name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX)
}

/// What an existing overlay says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Existing {
    pub recorded: Option<Recorded>,
    /// The files kanari wrote there: the listed resources and `kustomization.yaml`.
    pub owned: BTreeSet<String>,
}

#[derive(Deserialize)]
struct Kustomization {
    #[serde(default)]
    metadata: KustomizationMetadata,
    #[serde(default)]
    resources: Vec<String>,
}

#[derive(Deserialize, Default)]
struct KustomizationMetadata {
    #[serde(default)]
    annotations: BTreeMap<String, String>,
}

/// What kind of entry a folder holds, without following symlinks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    File,
    Folder,
    Symlink,
    Other,
}

/// A folder opened from a base folder one component at a time, never through a symlink; files
/// are handled through it.
pub(crate) struct SafeDir {
    fd: OwnedFd,
    /// The folder's path, for messages only.
    pub path: PathBuf,
}

impl SafeDir {
    /// Opens `base/rel`, creating missing folders when `create` is set; `None` when a folder on
    /// the way does not exist and `create` is not set. `base` itself is opened as given.
    pub(crate) fn open(base: &Path, rel: &Path, create: bool) -> Result<Option<SafeDir>> {
        let open_flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(rustix::fs::CWD, base, open_flags, Mode::empty())
            .with_context(|| format!("failed to open the folder `{}`", base.display()))?;
        let mut dir = SafeDir { fd, path: base.to_path_buf() };
        for component in rel.components() {
            let name = match component {
                Component::Normal(name) => name,
                Component::CurDir => continue,
                _ => bail!("`{}` must be a plain relative path", rel.display()),
            };
            let path = dir.path.join(name);
            if name.to_str().is_some_and(|n| n.eq_ignore_ascii_case(".git")) {
                bail!("`{}` is inside `.git`: kanari never writes there", path.display());
            }
            let child = match rustix::fs::openat(&dir.fd, name, open_flags | OFlags::NOFOLLOW, Mode::empty()) {
                Ok(fd) => fd,
                Err(Errno::NOENT) if create => {
                    match rustix::fs::mkdirat(&dir.fd, name, Mode::from_raw_mode(0o755)) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(e).with_context(|| format!("failed to create `{}`", path.display())),
                    }
                    rustix::fs::openat(&dir.fd, name, open_flags | OFlags::NOFOLLOW, Mode::empty())
                        .map_err(|e| dir.explain(name, &path, e))?
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(e) => return Err(dir.explain(name, &path, e)),
            };
            let child = SafeDir { fd: child, path };
            // A folder with its own `.git` is another repository (a submodule): not ours.
            if rustix::fs::statat(&child.fd, ".git", AtFlags::SYMLINK_NOFOLLOW).is_ok() {
                bail!(
                    "`{}` is a submodule or another repository: kanari writes overlays only into its own",
                    child.path.display()
                );
            }
            dir = child;
        }
        Ok(Some(dir))
    }

    fn explain(&self, name: &std::ffi::OsStr, path: &Path, e: Errno) -> anyhow::Error {
        match self.kind(name) {
            Ok(Some(Kind::Symlink)) => {
                anyhow::anyhow!("`{}` is a symlink: kanari writes overlays only into real folders", path.display())
            }
            Ok(Some(Kind::File | Kind::Other)) => {
                anyhow::anyhow!("`{}` is in the way of the overlay: it is not a folder", path.display())
            }
            _ => anyhow::Error::from(e).context(format!("failed to open `{}`", path.display())),
        }
    }

    /// The kind of `name` in this folder, without following symlinks; `None` if it is missing.
    pub(crate) fn kind(&self, name: impl AsRef<std::ffi::OsStr>) -> Result<Option<Kind>> {
        let name = name.as_ref();
        match rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(stat) => Ok(Some(match FileType::from_raw_mode(stat.st_mode) {
                FileType::RegularFile => Kind::File,
                FileType::Directory => Kind::Folder,
                FileType::Symlink => Kind::Symlink,
                _ => Kind::Other,
            })),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("failed to inspect `{}`", self.path.join(name).display())),
        }
    }

    /// The names in this folder, sorted.
    pub(crate) fn names(&self) -> Result<Vec<String>> {
        let mut dir = rustix::fs::Dir::read_from(&self.fd)
            .with_context(|| format!("failed to read `{}`", self.path.display()))?;
        let mut names = Vec::new();
        while let Some(entry) = dir.read() {
            let entry = entry.with_context(|| format!("failed to read `{}`", self.path.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name != "." && name != ".." {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    /// The bytes of the regular file `name` (a symlink is refused), at most `limit` of them.
    pub(crate) fn read(&self, name: &str, limit: u64) -> Result<Vec<u8>> {
        let path = self.path.join(name);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK;
        let fd = rustix::fs::openat(&self.fd, name, flags, Mode::empty()).map_err(|e| match e {
            Errno::LOOP => anyhow::anyhow!("`{}` is a symlink: kanari will not follow it", path.display()),
            e => anyhow::Error::from(e).context(format!("failed to read `{}`", path.display())),
        })?;
        if !File::from(fd.try_clone()?).metadata()?.is_file() {
            bail!("`{}` is not a regular file", path.display());
        }
        let mut bytes = Vec::new();
        File::from(fd)
            .take(limit + 1)
            .read_to_end(&mut bytes)
            .with_context(|| format!("failed to read `{}`", path.display()))?;
        if bytes.len() as u64 > limit {
            bail!("`{}` is larger than {} KiB: it is not a file kanari wrote", path.display(), limit / 1024);
        }
        Ok(bytes)
    }

    /// Writes `name` through a temporary file in this folder and a rename: readers see the old
    /// file or the new one, never half of one.
    pub(crate) fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        self.through_temporary(name, bytes, false)
            .with_context(|| format!("failed to write `{}`", self.path.join(name).display()))
    }

    /// Writes the new file `name` as [`SafeDir::write`] does, but never over an existing one:
    /// the rename refuses to replace (`RENAME_NOREPLACE`), so a file made meanwhile is kept and
    /// the write fails with [`std::io::ErrorKind::AlreadyExists`].
    pub(crate) fn write_new(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let path = self.path.join(name);
        match self.through_temporary(name, bytes, true) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                bail!("`{}` exists: kanari writes it only when it is new", path.display())
            }
            Err(e) => Err(e).with_context(|| format!("failed to write `{}`", path.display())),
            Ok(()) => {
                self.sync();
                Ok(())
            }
        }
    }

    /// `bytes` into a temporary file of this folder, fsynced, then renamed to `name` (refusing to
    /// replace a file with `no_replace`); the temporary file is removed when a step fails.
    fn through_temporary(&self, name: &str, bytes: &[u8], no_replace: bool) -> std::io::Result<()> {
        let tmp = format!("{TMP_PREFIX}{}-{name}{TMP_SUFFIX}", std::process::id());
        let result = (|| -> std::io::Result<()> {
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let fd = rustix::fs::openat(&self.fd, tmp.as_str(), flags, Mode::from_raw_mode(0o644))?;
            let mut file = File::from(fd);
            file.write_all(bytes)?;
            file.sync_all()?;
            match no_replace {
                true => {
                    let flags = rustix::fs::RenameFlags::NOREPLACE;
                    rustix::fs::renameat_with(&self.fd, tmp.as_str(), &self.fd, name, flags)?
                }
                false => rustix::fs::renameat(&self.fd, tmp.as_str(), &self.fd, name)?,
            }
            Ok(())
        })();
        if result.is_err() {
            let _ = rustix::fs::unlinkat(&self.fd, tmp.as_str(), AtFlags::empty());
        }
        result
    }

    /// Removes the file `name`; a missing one is fine.
    pub(crate) fn remove(&self, name: &str) -> Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(Errno::NOENT) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("failed to remove `{}`", self.path.join(name).display())),
        }
    }

    /// Makes the folder's renames and removals durable.
    pub(crate) fn sync(&self) {
        let _ = rustix::fs::fsync(&self.fd);
    }
}

/// Reads the overlay at `base/rel`: `None` when there is no overlay yet.
pub(crate) fn read(base: &Path, rel: &Path) -> Result<Option<Existing>> {
    let Some(dir) = SafeDir::open(base, rel, false)? else { return Ok(None) };
    read_in(&dir)
}

/// The files of an overlay in the work tree among `names` that exist as regular files.
pub(crate) fn read_named(base: &Path, rel: &Path, names: &[String]) -> Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let Some(dir) = SafeDir::open(base, rel, false)? else { return Ok(out) };
    for name in names {
        if dir.kind(name)? == Some(Kind::File) {
            out.insert(PathBuf::from(name), dir.read(name, crate::spec::MAX_FILE_BYTES)?);
        }
    }
    Ok(out)
}

fn read_in(dir: &SafeDir) -> Result<Option<Existing>> {
    match dir.kind(KUSTOMIZATION)? {
        None => return Ok(None),
        Some(Kind::File) => {}
        Some(_) => bail!(
            "`{}` is not a regular file (a symlink or a folder): kanari will not follow it",
            dir.path.join(KUSTOMIZATION).display()
        ),
    }
    let bytes = dir.read(KUSTOMIZATION, crate::spec::MAX_FILE_BYTES)?;
    let path = dir.path.join(KUSTOMIZATION);
    parse(&String::from_utf8_lossy(&bytes))
        .with_context(|| format!("failed to read the overlay state in `{}`", path.display()))
        .map(Some)
}

/// Parses a `kustomization.yaml` kanari wrote.
pub(crate) fn parse(text: &str) -> Result<Existing> {
    let options =
        serde_saphyr::options! { with_snippet: false, budget: serde_saphyr::budget! { max_aliases: 0, max_depth: 16 } };
    let k: Kustomization = serde_saphyr::from_str_with_options(text, options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let Some(recorded) = Recorded::read(&k.metadata.annotations).map_err(anyhow::Error::msg)? else {
        bail!("it has no `kanari.dev/stage` annotation, so kanari did not write it; move it out of the way");
    };
    let mut owned: BTreeSet<String> = BTreeSet::new();
    for r in &k.resources {
        if !is_plain_file_name(r) {
            bail!("it lists the resource `{r}`, which is not a file in the overlay's own folder");
        }
        owned.insert(r.clone());
    }
    owned.insert(KUSTOMIZATION.to_string());
    Ok(Existing { recorded: Some(recorded), owned })
}

/// A checked plan to replace one overlay's files.
#[derive(Debug)]
pub(crate) struct OverlayWrite {
    /// The overlay folder, for messages.
    pub dir: PathBuf,
    base: PathBuf,
    rel: PathBuf,
    /// The files whose contents change or that are new (name → new contents),
    /// `kustomization.yaml` last when applied. Unchanged files are not touched.
    files: BTreeMap<String, Vec<u8>>,
    /// kanari's files that the new overlay no longer has.
    remove: Vec<String>,
    /// Whether any file changes at all.
    pub changed: bool,
}

/// Where an overlay goes: the folder checks start from (the repository root, or `--out`), and
/// the overlay folder relative to it.
pub(crate) struct Target<'a> {
    pub base: &'a Path,
    pub dir: &'a Path,
}

/// Checks that `rendered` can replace what is at `target`, and plans how.
///
/// Refuses: a symlink, `.git` or submodule on the way down from `base`; anything in the overlay
/// that is not a regular file kanari wrote.
pub(crate) fn plan_write(target: &Target, rendered: &Rendered) -> Result<OverlayWrite> {
    let dir_path = target.base.join(target.dir);
    let mut current: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut leftovers = false;
    // The line every file of this release starts with (see render::header).
    let marker =
        rendered.files.get(KUSTOMIZATION).and_then(|k| k.split_inclusive(|b| *b == b'\n').next()).unwrap_or(b"");
    if let Some(dir) = SafeDir::open(target.base, target.dir, false)? {
        let existing = read_in(&dir)?.unwrap_or_default();
        let mut strangers = Vec::new();
        for name in dir.names()? {
            let kind = dir.kind(&name)?;
            if is_temporary(&name) && kind == Some(Kind::File) {
                leftovers = true; // left by a killed run; cleared when writing
                continue;
            }
            let listed = existing.owned.contains(&name);
            // Written by a run killed before kustomization.yaml listed it (or after it stopped
            // listing it): kanari's own, by its first line.
            let marked = !listed
                && !marker.is_empty()
                && kind == Some(Kind::File)
                && dir.read(&name, 64 * 1024 * 1024)?.starts_with(marker);
            if !listed && !marked {
                strangers.push(name);
                continue;
            }
            if kind != Some(Kind::File) {
                bail!(
                    "`{}` is not a regular file (a symlink or a folder): kanari will not write through it",
                    dir.path.join(&name).display()
                );
            }
            current.insert(name.clone(), dir.read(&name, 64 * 1024 * 1024)?);
        }
        if !strangers.is_empty() {
            let list: Vec<String> = strangers.iter().map(|s| format!("`{}`", dir.path.join(s).display())).collect();
            bail!(
                "the overlay folder `{}` holds files kanari did not write: {}. kanari owns this folder; move them elsewhere or choose another output",
                dir.path.display(),
                list.join(", ")
            );
        }
    }
    let remove: Vec<String> = current.keys().filter(|name| !rendered.files.contains_key(*name)).cloned().collect();
    let files: BTreeMap<String, Vec<u8>> = rendered
        .files
        .iter()
        .filter(|(name, bytes)| current.get(*name) != Some(*bytes))
        .map(|(name, bytes)| (name.clone(), bytes.clone()))
        .collect();
    let changed = leftovers || !remove.is_empty() || !files.is_empty();
    Ok(OverlayWrite {
        dir: dir_path,
        base: target.base.to_path_buf(),
        rel: target.dir.to_path_buf(),
        files,
        remove,
        changed,
    })
}

/// How long a run waits for another one writing overlays under the same folder.
const WRITE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Writers of overlays under one folder take turns: an OS file lock (`flock`) on the folder
/// itself, held until dropped. Two renders into one output, or a render and a promote's work
/// tree update, would otherwise interleave their files (a kustomization of one state listing the
/// files of another) or remove each other's temporary files.
pub(crate) struct WriteLock {
    _dir: OwnedFd,
}

/// Takes the write lock of `base` (the repository root, or `--out`'s folder), waiting at most a
/// minute for another kanari; then [`LockHeld`]. A file system without locks (some network
/// file systems) is written without one.
pub(crate) fn lock_writes(base: &Path, quiet: bool) -> Result<WriteLock> {
    let fd =
        rustix::fs::openat(rustix::fs::CWD, base, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .with_context(|| format!("failed to open the folder `{}`", base.display()))?;
    let waiting = || {
        if !quiet {
            eprintln!("waiting for another kanari writing under `{}`", base.display());
        }
    };
    match crate::flock::lock_exclusive(&fd, WRITE_WAIT, waiting) {
        // Locked, or nothing to lock with here.
        Waited::Locked | Waited::Unsupported(_) => Ok(WriteLock { _dir: fd }),
        Waited::TimedOut => Err(LockHeld(format!(
            "another kanari is still writing under `{}` after {}s; nothing was written",
            base.display(),
            WRITE_WAIT.as_secs()
        ))
        .into()),
    }
}

/// Carries out checked writes: new and changed files first, `kustomization.yaml` last, then
/// removals. The folders are opened again, component by component, so a symlink swapped in since
/// the check is still refused. Overlays are written on every core: each file is made durable
/// (fsync) before its rename, and the disk takes several such waits at once. A failure stops the
/// overlays not yet begun; when files were written before it, the error is a [`WriteStopped`]
/// that names them.
pub(crate) fn apply<'a>(writes: impl IntoIterator<Item = &'a OverlayWrite>) -> Result<()> {
    use rayon::prelude::*;
    use std::sync::atomic::{AtomicBool, Ordering};
    let changed: Vec<&OverlayWrite> = writes.into_iter().filter(|w| w.changed).collect();
    let failed = AtomicBool::new(false);
    let results: Vec<(usize, Result<()>)> = changed
        .par_iter()
        .map(|w| {
            let mut done = 0;
            if failed.load(Ordering::Relaxed) {
                return (done, Ok(()));
            }
            let result = apply_one(w, &mut done);
            if result.is_err() {
                failed.store(true, Ordering::Relaxed);
            }
            (done, result)
        })
        .collect();
    let written: Vec<Written> = changed
        .iter()
        .zip(&results)
        .filter(|(_, (done, _))| *done > 0)
        .map(|(w, (done, _))| Written { dir: w.dir.clone(), done: *done, of: w.files.len() + w.remove.len() })
        .collect();
    let Some(cause) = results.into_iter().find_map(|(_, r)| r.err()) else { return Ok(()) };
    match written.is_empty() {
        true => Err(cause),
        false => Err(WriteStopped { written, cause }.into()),
    }
}

/// One overlay's writes, counted in `done` as each file is renamed into place or removed.
fn apply_one(w: &OverlayWrite, done: &mut usize) -> Result<()> {
    let dir = SafeDir::open(&w.base, &w.rel, true)?.expect("created when missing");
    for name in dir.names()? {
        if is_temporary(&name) && dir.kind(&name)? == Some(Kind::File) {
            dir.remove(&name)?;
        }
    }
    let order = w.files.keys().filter(|n| *n != KUSTOMIZATION).chain(w.files.keys().filter(|n| *n == KUSTOMIZATION));
    for name in order {
        dir.write(name, &w.files[name])?;
        *done += 1;
    }
    for name in &w.remove {
        dir.remove(name)?;
        *done += 1;
    }
    dir.sync();
    Ok(())
}

/// An overlay folder some of whose files a stopped [`apply`] wrote (or removed).
#[derive(Debug)]
pub(crate) struct Written {
    pub dir: PathBuf,
    /// The files written or removed, of the `of` the folder had to change.
    pub done: usize,
    pub of: usize,
}

/// Writes that stopped part way: the error that stopped them, after the files of [`Written`]
/// were. Not bad input, whatever stopped them: the work tree is no longer as it was. An overlay
/// written in part still records its old state (`kustomization.yaml` is written last), and the
/// same command writes the rest.
#[derive(Debug)]
pub(crate) struct WriteStopped {
    pub written: Vec<Written>,
    cause: anyhow::Error,
}

impl std::fmt::Display for WriteStopped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let folders: Vec<String> = self
            .written
            .iter()
            .map(|w| match w.done == w.of {
                true => format!("`{}` (all {} files)", w.dir.display(), w.of),
                false => format!("`{}` ({} of {} files)", w.dir.display(), w.done, w.of),
            })
            .collect();
        write!(f, "the writes stopped part way, after {}", folders.join(", "))
    }
}

impl std::error::Error for WriteStopped {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(AsRef::<dyn std::error::Error>::as_ref(&self.cause))
    }
}

/// The template overrides in `dir` of the work tree (none when it does not exist): a real
/// folder, reached from the repository `root` without a symlink on the way (or, outside the
/// repository, not a symlink itself); regular files only, each at most the size of a spec
/// file and UTF-8.
pub(crate) fn read_templates(root: &Path, dir: &Path) -> Result<Overrides> {
    let mut templates = BTreeMap::new();
    let absolute = match dir.is_absolute() {
        true => dir.to_path_buf(),
        false => std::env::current_dir().context("failed to read the current folder")?.join(dir),
    };
    let folder = match absolute.strip_prefix(root) {
        Ok(rel) => SafeDir::open(root, rel, false)
            .with_context(|| format!("failed to read the template folder `{}`", dir.display()))?,
        Err(_) => match std::fs::symlink_metadata(dir) {
            Ok(meta) if meta.file_type().is_symlink() => bail!(
                "the template folder `{}` is a symlink: kanari reads templates only from a real folder",
                dir.display()
            ),
            Ok(meta) if meta.is_dir() => SafeDir::open(dir, Path::new(""), false)?,
            _ => None,
        },
    };
    if let Some(folder) = folder {
        for name in folder.names()? {
            // Regular files only: a symlink could read outside the repository, a FIFO would hang.
            if folder.kind(&name)? != Some(Kind::File) {
                bail!("template `{}` is not a regular file (a symlink, a folder...)", dir.join(&name).display());
            }
            let bytes = folder.read(&name, crate::spec::MAX_FILE_BYTES)?;
            let text = String::from_utf8(bytes)
                .map_err(|_| anyhow::anyhow!("template `{}` is not UTF-8", dir.join(&name).display()))?;
            templates.insert(name, text);
        }
    }
    Ok(Overrides { dir: dir.to_path_buf(), templates })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_state_and_owned_files() {
        let text = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nmetadata:\n  annotations:\n    kanari.dev/canary: v2\n    kanari.dev/stage: 50-50\nresources:\n  - a.yaml\n";
        let e = parse(text).unwrap();
        let r = e.recorded.unwrap();
        assert_eq!((r.canary.as_deref(), r.stage.as_str()), (Some("v2"), "50-50"));
        assert_eq!(e.owned.into_iter().collect::<Vec<_>>(), ["a.yaml", "kustomization.yaml"]);
    }

    #[test]
    fn refuses_foreign_kustomizations_and_escaping_resources() {
        assert!(parse("resources: [a.yaml]\n").unwrap_err().to_string().contains("did not write"));
        let escaping = "metadata: {annotations: {kanari.dev/stage: steady}}\nresources: [../../etc/passwd]\n";
        assert!(parse(escaping).unwrap_err().to_string().contains("not a file in the overlay"));
    }
}
