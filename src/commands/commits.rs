//! What the commands that read commits share: specs, templates and overlays as a commit has
//! them, and the clock. Commits are named by [`CommitId`], the git layer's own type, so the Git
//! library stays behind [`crate::repo`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use crate::commands::Renderer;
use crate::commands::{Workspace, select_each};
use crate::overlay;
use crate::plan::{Observed, Plan, Recorded};
use crate::render::{KUSTOMIZATION, Overrides};
use crate::repo::{CommitId, Repo};
use crate::review;
use crate::spec::{self, Canary};

/// The time: `KANARI_NOW` (RFC 3339) when set, so tests and replays are exact; else the clock.
pub(crate) fn now() -> Result<Timestamp> {
    match std::env::var("KANARI_NOW") {
        Ok(text) => text.parse().with_context(|| format!("KANARI_NOW `{text}` is not an RFC 3339 time")),
        // Whole seconds: the time goes into annotations and commits.
        Err(_) => Ok(Timestamp::from_second(Timestamp::now().as_second()).expect("now is a valid time")),
    }
}

/// A committed overlay: its files, the state its `kustomization.yaml` records, and what its
/// files show ([`Committed::observed`], read once, when first asked).
pub(crate) struct Committed {
    pub files: BTreeMap<PathBuf, Vec<u8>>,
    pub recorded: Option<Recorded>,
    observed: OnceLock<Observed>,
}

impl Committed {
    pub(crate) fn new(files: BTreeMap<PathBuf, Vec<u8>>, recorded: Option<Recorded>) -> Self {
        Committed { files, recorded, observed: OnceLock::new() }
    }

    /// What the overlay's files show ([`review::facts`]), read the first time it is asked for.
    pub(crate) fn observed(&self) -> &Observed {
        self.observed.get_or_init(|| review::facts(&self.files))
    }

    /// What the overlay's files show and the state it records, taken out.
    pub(crate) fn into_observed(self) -> (Observed, Option<Recorded>) {
        let observed = match self.observed.into_inner() {
            Some(observed) => observed,
            None => review::facts(&self.files),
        };
        (observed, self.recorded)
    }

    /// `plan` with the bytes of the files it carries over from this overlay; an error when one
    /// is missing.
    pub(crate) fn carry_into(&self, plan: &mut Plan) -> Result<()> {
        for name in &plan.carry {
            let bytes = self.files.get(Path::new(name)).ok_or_else(|| {
                anyhow::anyhow!("the committed overlay `{}` has no `{name}` to keep", plan.output.display())
            })?;
            plan.carried.insert(name.clone(), bytes.clone());
        }
        Ok(())
    }
}

/// The repository, seen through the workspace's settings.
pub(crate) struct Commits<'a> {
    pub ws: &'a Workspace,
    pub repo: Repo,
}

impl<'a> Commits<'a> {
    pub(crate) fn open(ws: &'a Workspace) -> Result<Self> {
        Ok(Commits { ws, repo: Repo::open(&ws.root)? })
    }

    /// The selected releases as the specs in `commit` define them, each on its own
    /// ([`spec::Loaded`]): those whose specs load, and the problems of the others.
    pub(crate) fn loaded_at(&self, commit: CommitId, selectors: &[String]) -> Result<spec::Loaded> {
        let specs = &spec::relative_specs(&self.ws.root, &self.ws.specs);
        let files = match self.spec_files(commit)? {
            Some(files) => files,
            // Said apart, or the sentence would deny a folder the user can see.
            None if self.ws.root.join(specs).is_dir() => bail!(
                "{}; the work tree has that folder but commit {} does not: commit the specs first",
                spec::no_specs(specs),
                commit.short()
            ),
            None => return Err(spec::no_specs(specs)),
        };
        let read = self.reader(commit);
        if selectors.is_empty() {
            return spec::load_files_each(files, specs, spec::Scope::All, &read);
        }
        // As `Workspace::loaded`: every file again when a name is no release of those read.
        select_each(spec::load_files_each(files.clone(), specs, spec::Scope::Named(selectors), &read)?, selectors)
            .or_else(|_| select_each(spec::load_files_each(files, specs, spec::Scope::All, &read)?, selectors))
    }

    /// The spec files of `commit`, by their path in the project; `None` without a specs folder.
    pub(crate) fn spec_files(&self, commit: CommitId) -> Result<Option<BTreeMap<PathBuf, Vec<u8>>>> {
        let specs = &spec::relative_specs(&self.ws.root, &self.ws.specs);
        Ok(self
            .repo
            .files(commit, specs)?
            .map(|files| files.into_iter().map(|(rel, bytes)| (specs.join(rel), bytes)).collect()))
    }

    /// How specs read the files they name with `from:`: from the same commit as the spec.
    fn reader(&self, commit: CommitId) -> impl Fn(&Path) -> std::result::Result<Vec<u8>, String> + '_ {
        move |path: &Path| match self.repo.file(commit, path) {
            Ok(Some(bytes)) => Ok(bytes),
            Ok(None) => Err(format!("no such file in commit {}", commit.short())),
            Err(e) => Err(format!("{e:#}")),
        }
    }

    /// HEAD, and the selected releases its specs define (the work tree's, in a repository with
    /// no commit yet).
    pub(crate) fn releases_at_head(&self, selectors: &[String]) -> Result<(Option<CommitId>, Vec<Canary>)> {
        let (head, loaded) = self.loaded_at_head(selectors)?;
        Ok((head, loaded.strict()?))
    }

    /// HEAD, and the selected releases its specs define, each on its own ([`Commits::loaded_at`]).
    pub(crate) fn loaded_at_head(&self, selectors: &[String]) -> Result<(Option<CommitId>, spec::Loaded)> {
        let head = self.repo.head_commit()?;
        let loaded = match head {
            Some(head) => self.loaded_at(head, selectors)?,
            None => self.ws.loaded(selectors)?,
        };
        Ok((head, loaded))
    }

    /// The release `selector` names as the newest commit before `tip` defines it, on the
    /// first-parent line, among the `reach` commits before it, with a spec that loads there;
    /// `None` when no commit in reach has one. A version of the specs folder is read once,
    /// whichever commits hold it, and never that of `tip` (where the spec does not load): a
    /// spec broken only by a file outside the folder that it names with `from:` is looked for
    /// among the commits that changed the folder.
    pub(crate) fn last_loaded(
        &self,
        tip: CommitId,
        selector: &str,
        reach: usize,
    ) -> Result<Option<(CommitId, Canary)>> {
        let specs = &spec::relative_specs(&self.ws.root, &self.ws.specs);
        let mut seen = std::collections::HashSet::new();
        seen.insert(self.repo.folder_key(tip, specs)?);
        for commit in self.repo.first_parents(tip, reach + 1)?.into_iter().skip(1) {
            if !seen.insert(self.repo.folder_key(commit, specs)?) {
                continue;
            }
            let Some(files) = self.spec_files(commit)? else { continue };
            let only = [selector.to_string()];
            // A load that fails as a whole (no specs, too many) is no spec of the release.
            let Ok(loaded) = spec::load_files_each(files, specs, spec::Scope::Named(&only), &self.reader(commit))
            else {
                continue;
            };
            let named = |id: &String| spec::selects_id(selector, id);
            let found: Vec<&Canary> = loaded.canaries.iter().filter(|c| c.is_named(selector)).collect();
            if let [canary] = found[..]
                && !loaded.broken.iter().any(|b| b.ids.iter().any(named))
            {
                return Ok(Some((commit, canary.clone())));
            }
        }
        Ok(None)
    }

    /// The renderer with the template overrides `commit` has (or the work tree's, when the
    /// template folder is outside the project).
    pub(crate) fn renderer_at(&self, commit: CommitId) -> Result<Renderer> {
        let overrides = match self.ws.templates.strip_prefix(&self.ws.root) {
            Ok(rel) => {
                let files = self.repo.files(commit, rel)?.unwrap_or_default();
                Overrides::from_files(&self.ws.templates, files)?
            }
            Err(_) => crate::overlay::read_templates(&self.ws.root, &self.ws.templates)?,
        };
        Renderer::new(&overrides)
    }

    /// The release's overlay as `commit` has it (`commit` None: an empty repository).
    pub(crate) fn committed(&self, commit: Option<CommitId>, canary: &Canary) -> Result<Committed> {
        let Some(commit) = commit else { return Ok(Committed::new(BTreeMap::new(), None)) };
        let Some(files) = self.repo.files(commit, &canary.output)? else {
            return Ok(Committed::new(BTreeMap::new(), None));
        };
        let Some(text) = files.get(Path::new(KUSTOMIZATION)) else {
            bail!(
                "`{}` in commit {} has no {KUSTOMIZATION}: kanari did not write that folder",
                canary.output.display(),
                commit.short()
            );
        };
        let existing = overlay::parse(&String::from_utf8_lossy(text)).with_context(|| {
            format!(
                "failed to read the state in `{}` at commit {}",
                canary.output.join(KUSTOMIZATION).display(),
                commit.short()
            )
        })?;
        let strangers: Vec<String> = files
            .keys()
            .filter(|p| !existing.owned.contains(p.to_string_lossy().as_ref()))
            .map(|p| format!("`{}`", canary.output.join(p).display()))
            .collect();
        if !strangers.is_empty() {
            bail!(
                "the overlay folder `{}` holds files kanari did not write: {}; move them elsewhere",
                canary.output.display(),
                strangers.join(", ")
            );
        }
        Ok(Committed::new(files, existing.recorded))
    }

    /// `each` of every release and what `commit` holds of it ([`Commits::committed`]), on every
    /// core: each worker thread reads Git objects through a repository handle of its own (a
    /// handle is not shared across threads), and a release's committed files are dropped once
    /// `each` is done with them, so memory holds what `each` keeps, not every overlay at once.
    pub(crate) fn map_committed<'c, T: Send>(
        &self,
        commit: Option<CommitId>,
        canaries: &'c [Canary],
        each: impl Fn(&'c Canary, Committed) -> Result<T> + Sync,
    ) -> Result<Vec<T>> {
        use rayon::prelude::*;
        let (place, ws) = (self.repo.place(), self.ws);
        canaries
            .par_iter()
            .map_init(
                || place.open().map(|repo| Commits { ws, repo }),
                |git, canary| {
                    each(canary, git.as_ref().map_err(|e| anyhow::anyhow!("{e:#}"))?.committed(commit, canary)?)
                },
            )
            .collect()
    }

    /// Refuses (exit 2) when a release's spec file or overlay folder has uncommitted changes.
    pub(crate) fn refuse_uncommitted(&self, canaries: &[Canary]) -> Result<()> {
        // One look at the index and the work tree for every release, then each release's share.
        let paths: Vec<&Path> = canaries
            .iter()
            .flat_map(|c| [c.file.as_path(), c.output.as_path()].into_iter().chain(c.own.files()))
            .collect();
        let all = self.repo.uncommitted(&paths)?;
        if all.is_empty() {
            return Ok(());
        }
        for canary in canaries {
            let (file, output) = (self.repo.in_tree(&canary.file), self.repo.in_tree(&canary.output));
            let own: Vec<PathBuf> = canary.own.files().into_iter().map(|f| self.repo.in_tree(f)).collect();
            let dirty: Vec<&PathBuf> =
                all.iter().filter(|p| **p == file || p.starts_with(&output) || own.contains(p)).collect();
            if !dirty.is_empty() {
                let list: Vec<String> = dirty.iter().map(|p| format!("`{}`", p.display())).collect();
                bail!(
                    "release `{}` has uncommitted changes in {}; commit or stash them first, so that what kanari commits is what was reviewed",
                    canary.id(),
                    list.join(", ")
                );
            }
        }
        let list: Vec<String> = all.iter().map(|p| format!("`{}`", p.display())).collect();
        bail!("uncommitted changes in {}; commit or stash them first", list.join(", "))
    }
}
