//! One file per command: each turns its flags into settings, runs the pipeline and prints.
//! This module holds what they share: where the repository is and which releases to work on.
//! The top of the pipeline: it may import every module below; nothing imports it but `lib.rs`.
//! Only this layer prints and picks exit codes ([`crate::exit::Code`]).

mod abort;
mod analyze;
mod approve;
mod broken;
mod chart;
mod comment;
pub(crate) mod commits;
pub mod complete;
mod diff;
pub(crate) mod failure;
mod fleet;
mod init;
mod lint;
mod message;
mod moves;
mod plan;
mod promote;
mod render;
mod rendering;
mod replay;
mod schema;
mod status;
mod upstream;

pub use rendering::Renderer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use std::io::IsTerminal;

use crate::cli::{Cli, ColorChoice, Command};
use crate::exit::Code;
use crate::overlay;
use crate::transport::Deadline;

/// Where a repository keeps its template overrides, relative to its root.
pub(crate) const DEFAULT_TEMPLATES: &str = ".kanari/templates";
use crate::plan::{Recorded, State};
use crate::spec::{self, Canary};

/// Settings every command shares, resolved once from the global flags.
pub(crate) struct Workspace {
    /// The repository root: specs and outputs are relative to it.
    pub root: PathBuf,
    pub specs: PathBuf,
    /// The folder of template overrides (it need not exist).
    pub templates: PathBuf,
    pub quiet: bool,
    pub deny_warnings: bool,
    /// Whether to color terminal output.
    pub color: bool,
    /// `--prometheus` (or KANARI_PROMETHEUS_URL): the Prometheus the analysis asks instead of the spec's.
    pub prometheus: Option<String>,
    /// `--prometheus-header`, as name and value.
    pub prometheus_headers: Vec<(String, String)>,
    /// When the run stops waiting on remotes: `--timeout` after it started (2m for the commands
    /// that have no such flag).
    pub remotes: Deadline,
    /// When the run stops asking Prometheus: half of `--timeout` after it started, so that the
    /// fetch and push after the analysis keep the other half; the whole 2m for the commands
    /// that push nothing.
    pub prometheus_deadline: Deadline,
}

/// How long a run may wait on remotes when it has no `--timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// `--timeout` of a committing command, or None for the others.
fn timeout(cli: &Cli) -> Result<Option<Duration>> {
    let text = match &cli.command {
        Command::Promote(a) => &a.commit.timeout,
        Command::Approve(a) => &a.commit.timeout,
        Command::Abort(a) => &a.commit.timeout,
        _ => return Ok(None),
    };
    match spec::parse_duration(text) {
        Ok(d) if !d.is_zero() => Ok(Some(d)),
        Ok(_) => bail!("--timeout `{text}` must be longer than 0s"),
        Err(why) => bail!("--timeout `{text}` {why}"),
    }
}

impl Workspace {
    fn from_cli(cli: &Cli) -> Result<Self> {
        crate::cli::check_names(cli).map_err(anyhow::Error::msg)?;
        let root = match &cli.repo {
            Some(dir) => dir.clone(),
            None => {
                let cwd = std::env::current_dir().context("failed to read the current folder")?;
                cwd.ancestors().find(|d| d.join(".git").exists()).map(Path::to_path_buf).unwrap_or(cwd)
            }
        };
        if !root.is_dir() {
            bail!("the repository `{}` is not a folder", root.display());
        }
        let templates = cli.templates.clone().unwrap_or_else(|| root.join(DEFAULT_TEMPLATES));
        let color = match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            // NO_COLOR: any non-empty value means no color (no-color.org).
            ColorChoice::Auto => {
                std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()) && std::io::stdout().is_terminal()
            }
        };
        let mut prometheus_headers = Vec::new();
        let from_env = std::env::var("KANARI_PROMETHEUS_HEADERS").unwrap_or_default();
        for header in
            cli.prometheus_headers.iter().map(String::as_str).chain(from_env.lines()).filter(|h| !h.trim().is_empty())
        {
            let Some((name, value)) = header.split_once(':') else {
                bail!("--prometheus-header `{header}` must be `Name: value`");
            };
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                bail!("--prometheus-header `{header}`: `{name}` is not a header name");
            }
            prometheus_headers.push((name.to_string(), value.trim().to_string()));
        }
        let (remotes, prometheus_deadline) = match timeout(cli)? {
            Some(timeout) => (Deadline::after(timeout), Deadline::after(timeout / 2)),
            None => (Deadline::after(DEFAULT_TIMEOUT), Deadline::after(DEFAULT_TIMEOUT)),
        };
        Ok(Workspace {
            root,
            specs: cli.specs.clone(),
            templates,
            quiet: cli.quiet,
            deny_warnings: cli.deny_warnings,
            color,
            prometheus: cli.prometheus.clone().filter(|p| !p.is_empty()),
            prometheus_headers,
            remotes,
            prometheus_deadline,
        })
    }

    /// The releases `selectors` name (all when there are none), from the spec files that can
    /// define them ([`spec::Scope::Named`]).
    pub(crate) fn releases(&self, selectors: &[String]) -> Result<Vec<Canary>> {
        self.loaded(selectors)?.strict()
    }

    /// The releases `selectors` name (all when there are none), each on its own
    /// ([`spec::Loaded`]): those whose specs load, and the problems of the others.
    pub(crate) fn loaded(&self, selectors: &[String]) -> Result<spec::Loaded> {
        let found = spec::load_each(&self.root, &self.specs, spec::Scope::Named(selectors))?;
        // A name that is a word of some file but no release: read every file, so that the
        // error lists every release there is.
        select_each(found, selectors)
            .or_else(|_| select_each(spec::load_each(&self.root, &self.specs, spec::Scope::All)?, selectors))
    }

    /// Loads every release, whatever `selectors` name, then keeps those they name.
    pub(crate) fn all_releases(&self, selectors: &[String]) -> Result<Vec<Canary>> {
        let all = spec::load(&self.root, &self.specs, spec::Scope::All)?;
        select(all, selectors)
    }

    /// The renderer, with the work tree's template overrides.
    pub(crate) fn renderer(&self) -> Result<Renderer> {
        Renderer::new(&overlay::read_templates(&self.root, &self.templates)?)
    }

    /// What the release's overlay in the work tree records, if anything.
    pub(crate) fn recorded(&self, canary: &Canary) -> Result<Option<Recorded>> {
        Ok(overlay::read(&self.root, &canary.output)?.and_then(|e| e.recorded))
    }

    /// The state the release is in now, from its overlay and its spec.
    pub(crate) fn current_state(&self, canary: &Canary) -> Result<State> {
        let recorded = self.recorded(canary)?;
        Ok(crate::release::current(canary, recorded.as_ref())?)
    }
}

/// A one-line progress counter on a terminal's stderr for long runs; nothing at all when stderr
/// is not a terminal (CI logs) or the run is short or quiet. Safe to tick from several threads.
pub(crate) struct Progress {
    verb: &'static str,
    total: usize,
    done: std::sync::atomic::AtomicUsize,
    shown: bool,
}

impl Progress {
    /// Releases below this count finish before a counter would be read.
    const MIN: usize = 50;

    pub(crate) fn new(ws: &Workspace, verb: &'static str, total: usize) -> Self {
        let shown = !ws.quiet && total >= Self::MIN && std::io::stderr().is_terminal();
        Progress { verb, total, done: Default::default(), shown }
    }

    /// One more release done.
    pub(crate) fn tick(&self) {
        let done = self.done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
        if self.shown && (done.is_multiple_of(25) || done == self.total) {
            eprint!("\r{} {done}/{} releases", self.verb, self.total);
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if self.shown {
            eprint!("\r\x1b[2K");
        }
    }
}

/// The state `name` names in a release, or an error that lists the ones it has.
pub(crate) fn parse_step(canary: &Canary, name: &str) -> Result<crate::plan::Step> {
    use crate::plan::Step;
    Step::parse(canary, name).ok_or_else(|| {
        let known: Vec<&str> = Step::all(canary).iter().map(|s| s.name(canary)).collect();
        anyhow::anyhow!("release `{}` has no state `{name}` (it has: {})", canary.id(), known.join(", "))
    })
}

/// The state `name` names, keeping the annotations of `current` when it is that state, so that
/// naming the recorded state changes nothing.
pub(crate) fn named_state(canary: &Canary, name: &str, current: State) -> Result<State> {
    let step = parse_step(canary, name)?;
    Ok(if step == current.step { current } else { State::new(step) })
}

/// A state in a few words: `50-50`, `50-50, scaled up for 0-100`, `0-100, draining 50-50`.
pub(crate) fn state_text(canary: &Canary, state: &State) -> String {
    if let Some(t) = &state.leaving {
        return match doing(&state.recorded(canary)) {
            Some(doing) => format!("{}, {doing}", t.stage),
            None => t.stage.clone(),
        };
    }
    let name = state.step.name(canary).to_string();
    match (state.toward, state.holding) {
        (Some(t), _) => format!("{name}, scaled up for {}", t.name(canary)),
        (None, Some(h)) => format!("{name}, draining {}", h.name(canary)),
        (None, None) => name,
    }
}

/// What a recorded state is doing on the way between two states, if anything: `scaled up for
/// 0-100`, `draining 50-50`, `v1 departing`.
pub(crate) fn doing(r: &Recorded) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(t) = &r.toward {
        parts.push(format!("scaled up for {t}"));
    }
    if let Some(h) = &r.holding {
        parts.push(format!("draining {h}"));
    }
    if !r.departing.is_empty() {
        parts.push(format!("{} departing", r.departing.join(",")));
    }
    (!parts.is_empty()).then(|| parts.join(", "))
}

/// The table behind every per-version view (the rows of `plan`, the before/after of `diff`, the
/// changes in a commit's body): each version that any of `sides` names, once, in the order first
/// named, with every side's value for it (`None` where that side has none).
pub(crate) fn by_version<'a, V>(sides: &[&'a [(String, V)]]) -> Vec<(&'a str, Vec<Option<&'a V>>)> {
    let mut versions: Vec<&str> = Vec::new();
    for (v, _) in sides.iter().flat_map(|side| side.iter()) {
        if !versions.contains(&v.as_str()) {
            versions.push(v);
        }
    }
    versions
        .into_iter()
        .map(|v| (v, sides.iter().map(|side| side.iter().find(|(name, _)| name == v).map(|(_, x)| x)).collect()))
        .collect()
}

/// The line that opens a fleet's wave in a list of releases (`bookinfo/reviews: wave 1 of 2
/// (eu-1)`), when `canary` is the first instance of its wave; `last` is the fleet and wave of
/// the release before it, updated.
pub(crate) fn wave_heading(canary: &Canary, last: &mut Option<(String, u32)>) -> Option<String> {
    let Some(member) = &canary.fleet else {
        *last = None;
        return None;
    };
    let here = (canary.fleet_id(), member.wave);
    if last.as_ref() == Some(&here) {
        return None;
    }
    *last = Some(here);
    let clusters: Vec<&str> = member.fleet.wave(member.wave).map(|c| c.name.as_str()).collect();
    Some(format!("{}: wave {} of {} ({})", canary.fleet_id(), member.wave, member.fleet.last_wave, clusters.join(", ")))
}

pub(crate) fn select(all: Vec<Canary>, selectors: &[String]) -> Result<Vec<Canary>> {
    if selectors.is_empty() {
        return Ok(all);
    }
    for s in selectors {
        if !all.iter().any(|c| c.is_named(s)) {
            let known: Vec<String> = all.iter().map(Canary::id).collect();
            bail!(
                "no release is named `{s}` (known: {})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            );
        }
        // A fleet's instances are one release here: `reviews` names them all.
        let mut matching: Vec<String> = all.iter().filter(|c| c.is_named(s)).map(Canary::fleet_id).collect();
        matching.dedup();
        let matching = matching.len();
        if matching > 1 {
            bail!("`{s}` names {matching} releases in different namespaces; write it as `namespace/{s}`");
        }
    }
    Ok(all.into_iter().filter(|c| selectors.iter().any(|s| c.is_named(s))).collect())
}

/// The releases of `loaded` that `selectors` name (all when there are none), and the problems
/// that hold back a release they name or a release no one can name (a file that cannot be read
/// as documents). A selector that names no release is an error, unless such a file could define
/// it; one that names releases in two namespaces is an error.
pub(crate) fn select_each(loaded: spec::Loaded, selectors: &[String]) -> Result<spec::Loaded> {
    if selectors.is_empty() {
        return Ok(loaded);
    }
    let unnamed = loaded.broken.iter().any(|b| b.ids.is_empty());
    for s in selectors {
        let mut ids: Vec<String> = loaded.canaries.iter().filter(|c| c.is_named(s)).map(Canary::id).collect();
        ids.extend(loaded.broken.iter().flat_map(|b| &b.ids).filter(|id| spec::selects_id(s, id)).cloned());
        // A fleet's instances are one release here: `reviews` names them all.
        let mut ids: Vec<&str> = ids.iter().map(|id| spec::split_cluster(id).0).collect();
        ids.sort();
        ids.dedup();
        if ids.is_empty() && !unnamed {
            let mut known: Vec<String> = Vec::new();
            for id in loaded.canaries.iter().map(Canary::id).chain(loaded.broken.iter().flat_map(|b| b.ids.clone())) {
                if !known.contains(&id) {
                    known.push(id);
                }
            }
            bail!(
                "no release is named `{s}` (known: {})",
                if known.is_empty() { "none".into() } else { known.join(", ") }
            );
        }
        if ids.len() > 1 {
            bail!("`{s}` names {} releases in different namespaces; write it as `namespace/{s}`", ids.len());
        }
    }
    let named = |id: &str| selectors.iter().any(|s| spec::selects_id(s, id));
    Ok(spec::Loaded {
        canaries: loaded.canaries.into_iter().filter(|c| named(&c.id())).collect(),
        broken: loaded.broken.into_iter().filter(|b| b.ids.is_empty() || b.ids.iter().any(|id| named(id))).collect(),
    })
}

/// Runs the command the command line names; returns the exit code.
pub(crate) fn run(cli: Cli) -> Result<Code> {
    if let Command::Completions(args) = &cli.command {
        print!("{}", complete::registration(args.shell)?);
        return Ok(Code::Ok);
    }
    if let Command::Schema = &cli.command {
        return schema::run();
    }
    let ws = Workspace::from_cli(&cli)?;
    recover(&ws)?;
    match &cli.command {
        Command::Lint(args) => lint::run(&ws, args),
        Command::Plan(args) => plan::run(&ws, args),
        Command::Render(args) => render::run(&ws, args),
        Command::Diff(args) => diff::run(&ws, args),
        Command::Status(args) => status::run(&ws, args),
        Command::Promote(args) => promote::run(&ws, args),
        Command::Approve(args) => approve::run(&ws, args),
        Command::Init(args) => init::run(&ws, args),
        Command::Abort(args) => abort::run(&ws, args),
        Command::Analyze(args) => analyze::run(&ws, args),
        Command::Schema | Command::Completions(_) => unreachable!("handled before the workspace is resolved"),
    }
}

/// A move that a killed (or failed) kanari left half done is finished or undone before anything
/// else, under kanari's lock, and said ([`crate::repo::pending_move`], `Repo::recover`): every
/// command, whatever it is, first puts the repository at the state before or after that move.
fn recover(ws: &Workspace) -> Result<()> {
    let Some(top) = crate::repo::pending_move(&ws.root) else { return Ok(()) };
    let repo = crate::repo::Repo::open(&top)?;
    let _lock = repo.lock(std::time::Duration::from_secs(60), ws.quiet)?;
    if let Some(done) = repo.recover()? {
        eprintln!("note: {done}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::by_version;

    #[test]
    fn by_version_lists_each_version_once_in_the_order_first_named() {
        let pair = |v: &str, x: &str| (v.to_string(), x.to_string());
        let before = [pair("v1", "90%"), pair("v2", "10%")];
        let after = [pair("v3", "100%"), pair("v1", "0%")];
        let table = by_version(&[&before, &after]);
        let read: Vec<(&str, Vec<Option<&str>>)> =
            table.iter().map(|(v, values)| (*v, values.iter().map(|x| x.map(String::as_str)).collect())).collect();
        assert_eq!(
            read,
            [("v1", vec![Some("90%"), Some("0%")]), ("v2", vec![Some("10%"), None]), ("v3", vec![None, Some("100%")])]
        );
    }
}
