//! `kanari lint`: load and validate every spec, then plan and render every state of every
//! release in memory, so that a template or state problem shows before anything is written.

use anyhow::{Context, Result, bail};
use rayon::prelude::*;

use crate::analysis::{self, Window};
use crate::cli::Selection;
use crate::commands::Workspace;
use crate::exit::Code;
use crate::overlay;
use crate::plan::{self, State, Step};
use crate::problem::Problem;
use crate::release::Observed;
use crate::review;
use crate::spec::Canary;

pub(super) fn run(ws: &Workspace, args: &Selection) -> Result<Code> {
    // Every spec file, even when releases are named: lint is what finds a broken spec.
    let releases = ws.all_releases(&args.releases)?;
    // lint is the thorough check: every rendered file is read back as Istio would read it,
    // built-in templates included.
    let renderer = ws.renderer()?.checking_all();
    let progress = crate::commands::Progress::new(ws, "checking", releases.len());
    // Every state of every release, rendered in memory, on every core.
    let counts: Vec<usize> = releases
        .par_iter()
        .map(|canary| {
            progress.tick();
            ws.current_state(canary).with_context(|| format!("release `{}`", canary.id()))?;
            for step in Step::all(canary) {
                let plan = plan::plan(canary, &State::new(step));
                renderer
                    .render(&plan, &canary.file)
                    .with_context(|| format!("release `{}` at `{}`", canary.id(), step.name(canary)))?;
            }
            Ok(Step::all(canary).len())
        })
        .collect::<Result<_>>()?;
    let states: usize = counts.iter().sum();
    // Each query template of an analysis renders (with made-up times: only its syntax and its
    // names are checked here).
    for canary in &releases {
        let Some(a) = &canary.analysis else { continue };
        let now = jiff::Timestamp::UNIX_EPOCH + jiff::SignedDuration::from_hours(1);
        let version = canary.canary.as_ref().unwrap_or(&canary.stable).version.as_str();
        let w = Window {
            canary,
            version,
            weight: 0,
            matched: false,
            mirror: None,
            since: jiff::Timestamp::UNIX_EPOCH,
            now,
        };
        if let Err(e) = analysis::render_all(&w, &a.metrics) {
            let metric = a.metrics.iter().find(|m| m.name == e.metric).expect("the error names a check");
            bail!("{}", metric.at.problem(e.to_string()));
        }
    }
    // The warnings of each release, on every core: its plans', and a re-roll its overlay shows.
    let found: Vec<Vec<Problem>> = releases
        .par_iter()
        .map(|canary| Ok(plan::warnings(canary).into_iter().chain(rerolls(ws, canary)?).collect()))
        .collect::<Result<_>>()?;
    let warnings: Vec<Problem> = found.into_iter().flatten().collect();
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    if ws.deny_warnings && !warnings.is_empty() {
        bail!("{} warning{} and --deny-warnings", warnings.len(), if warnings.len() == 1 { "" } else { "s" });
    }
    if !ws.quiet {
        let n = releases.len();
        let w = match warnings.len() {
            0 => String::new(),
            n => format!(", {n} warning{}", if n == 1 { "" } else { "s" }),
        };
        println!("ok: {n} release{}, {states} states rendered{w}", if n == 1 { "" } else { "s" });
    }
    Ok(Code::Ok)
}

/// A version whose image in the spec is not the one its Deployment in the work tree runs: the
/// next commit replaces its pods in place at the current stage. Legal (a fix to a canary), but a
/// new canary usually means a new version, so it is said.
fn rerolls(ws: &Workspace, canary: &Canary) -> Result<Vec<Problem>> {
    let versions = [Some(&canary.stable), canary.canary.as_ref()].into_iter().flatten();
    let names: Vec<String> =
        versions.map(|v| crate::plan::object_file("deployment", &plan::version_object_name(canary, v))).collect();
    let files = overlay::read_named(&ws.root, &canary.output, &names)?;
    let observed = Observed { images: review::facts(&files).images, ..Observed::default() };
    Ok(observed
        .rerolled(canary)
        .into_iter()
        .filter_map(|(version, running)| {
            let (_, at) = canary.places.images.iter().find(|(v, _)| *v == version)?;
            Some(at.problem(format!(
                "the image of `{version}` changed (its overlay runs {running}) but its version did not: the next promote replaces the pods of `{version}` in place at the current stage; a new canary needs a new version"
            )))
        })
        .collect())
}
