//! The end of the pipeline on disk: reading the state an overlay records, and replacing an
//! overlay's files. The only module that writes to the filesystem.
//!
//! kanari owns its output directory: the files its `kustomization.yaml` lists, that file itself,
//! and its own temporary files. Anything else there is an error that names the file; nothing is
//! deleted that kanari did not write. Every write is planned and checked first ([`plan_write`]),
//! for every release, before the first byte is written ([`apply`]); each file is written to a
//! temporary file in the same folder and renamed over the old one, so a reader (or a crash) sees
//! the old file or the new one, never half of one.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::plan::Recorded;
use crate::render::{KUSTOMIZATION, Rendered};

/// Prefix and suffix of kanari's temporary files; a leftover one (a killed run) is kanari's own.
const TMP_PREFIX: &str = ".kanari-";
const TMP_SUFFIX: &str = ".tmp";

/// What an existing overlay says about itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Existing {
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

/// Reads the overlay at `dir`: `None` when there is no overlay yet.
pub fn read(dir: &Path) -> Result<Option<Existing>> {
    let path = dir.join(KUSTOMIZATION);
    let meta = match fs::symlink_metadata(&path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("failed to read `{}`", path.display())),
    };
    if !meta.is_file() {
        bail!("`{}` is not a regular file (a symlink or a folder): kanari will not follow it", path.display());
    }
    if meta.len() > crate::spec::MAX_FILE_BYTES {
        bail!("`{}` is larger than 1 MiB: it is not an overlay kanari wrote", path.display());
    }
    let text = fs::read_to_string(&path).with_context(|| format!("failed to read `{}`", path.display()))?;
    parse(&text).with_context(|| format!("failed to read the overlay state in `{}`", path.display())).map(Some)
}

/// Parses a `kustomization.yaml` kanari wrote.
pub fn parse(text: &str) -> Result<Existing> {
    let options =
        serde_saphyr::options! { with_snippet: false, budget: serde_saphyr::budget! { max_aliases: 0, max_depth: 16 } };
    let k: Kustomization = serde_saphyr::from_str_with_options(text, options).map_err(|e| anyhow::anyhow!("{e}"))?;
    let a = &k.metadata.annotations;
    let get = |key: &str| a.get(&format!("kanari.dev/{key}")).cloned();
    let Some(stage) = get("stage") else {
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
    let recorded = Recorded {
        canary: get("canary"),
        stage,
        since: get("since"),
        approved: get("approved"),
        reason: get("reason"),
    };
    Ok(Existing { recorded: Some(recorded), owned })
}

fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty() && name != "." && name != ".." && !name.contains(['/', '\\', '\0'])
}

/// A checked plan to replace one overlay's files.
#[derive(Debug)]
pub struct OverlayWrite {
    pub dir: PathBuf,
    /// File name → new contents, `kustomization.yaml` last when applied.
    files: BTreeMap<String, Vec<u8>>,
    /// kanari's files that the new overlay no longer has.
    remove: Vec<String>,
    /// Whether any file changes at all.
    pub changed: bool,
}

/// Where an overlay goes and how far up its path must be checked for symlinks.
pub struct Target<'a> {
    /// The folder the checks start from (the repository root, or the parent of `--out`).
    pub base: &'a Path,
    /// The overlay folder relative to `base`.
    pub dir: &'a Path,
}

/// Checks that `rendered` can replace what is at `target`, and plans how.
///
/// Refuses: a symlink or non-folder on the way down from `base`; anything in the overlay that is
/// not a regular file kanari wrote.
pub fn plan_write(target: &Target, rendered: &Rendered) -> Result<OverlayWrite> {
    let dir = target.base.join(target.dir);
    let mut at = target.base.to_path_buf();
    for part in target.dir.components() {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(meta) if meta.file_type().is_symlink() => {
                bail!("`{}` is a symlink: kanari writes overlays only into real folders", at.display())
            }
            Ok(meta) if !meta.is_dir() => bail!("`{}` is in the way of the overlay: it is not a folder", at.display()),
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
            Err(e) => return Err(e).with_context(|| format!("failed to inspect `{}`", at.display())),
        }
    }
    let existing = read(&dir)?.unwrap_or_default();
    let mut current: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    if dir.is_dir() {
        let mut strangers = Vec::new();
        for entry in fs::read_dir(&dir).with_context(|| format!("failed to read `{}`", dir.display()))? {
            let entry = entry.with_context(|| format!("failed to read `{}`", dir.display()))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type().with_context(|| format!("failed to inspect `{}`", entry.path().display()))?;
            if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) && kind.is_file() {
                continue; // left by a killed run; replaced below
            }
            if !existing.owned.contains(&name) {
                strangers.push(name);
                continue;
            }
            if !kind.is_file() {
                bail!(
                    "`{}` is not a regular file (a symlink or a folder): kanari will not write through it",
                    entry.path().display()
                );
            }
            let bytes =
                fs::read(entry.path()).with_context(|| format!("failed to read `{}`", entry.path().display()))?;
            current.insert(name, bytes);
        }
        if !strangers.is_empty() {
            strangers.sort();
            let list: Vec<String> = strangers.iter().map(|s| format!("`{}`", dir.join(s).display())).collect();
            bail!(
                "the overlay folder `{}` holds files kanari did not write: {}. kanari owns this folder; move them elsewhere or choose another output",
                dir.display(),
                list.join(", ")
            );
        }
    }
    let remove: Vec<String> = current.keys().filter(|name| !rendered.files.contains_key(*name)).cloned().collect();
    let changed = !remove.is_empty() || rendered.files.iter().any(|(name, bytes)| current.get(name) != Some(bytes));
    Ok(OverlayWrite { dir, files: rendered.files.clone(), remove, changed })
}

/// Carries out checked writes: new files first, `kustomization.yaml` last, then removals.
pub fn apply(writes: &[OverlayWrite]) -> Result<()> {
    for w in writes.iter().filter(|w| w.changed) {
        fs::create_dir_all(&w.dir).with_context(|| format!("failed to create `{}`", w.dir.display()))?;
        clear_temporaries(&w.dir)?;
        let order =
            w.files.keys().filter(|n| *n != KUSTOMIZATION).chain(w.files.keys().filter(|n| *n == KUSTOMIZATION));
        for name in order {
            write_file(&w.dir, name, &w.files[name])?;
        }
        for name in &w.remove {
            let path = w.dir.join(name);
            fs::remove_file(&path).with_context(|| format!("failed to remove `{}`", path.display()))?;
        }
        sync_dir(&w.dir)?;
    }
    Ok(())
}

fn clear_temporaries(dir: &Path) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("failed to read `{}`", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(TMP_PREFIX) && name.ends_with(TMP_SUFFIX) && entry.file_type()?.is_file() {
            fs::remove_file(entry.path()).with_context(|| format!("failed to remove `{}`", entry.path().display()))?;
        }
    }
    Ok(())
}

/// Writes `dir/name` through a temporary file in `dir` and a rename: readers see the old file or
/// the new one, never half of one.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<()> {
    let tmp = dir.join(format!("{TMP_PREFIX}{}-{name}{TMP_SUFFIX}", std::process::id()));
    let path = dir.join(name);
    let result = (|| -> std::io::Result<()> {
        let mut file = fs::OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, &path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("failed to write `{}`", path.display()));
    }
    Ok(())
}

fn sync_dir(dir: &Path) -> Result<()> {
    // Makes the renames durable; a folder opens read-only for this on Unix.
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    Ok(())
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
