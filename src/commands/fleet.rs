//! A fleet's instances as the commands read them: every instance's overlay at one commit and
//! its analysis judged now, turned into the waves' view ([`waves::View`]) that
//! `release::decide` takes in the [`Evidence`] of each instance. The rules themselves are in
//! [`crate::release::waves`] (pure); this module only reads.
//!
//! A view is read once per fleet and commit: the instances a run has read already are taken as
//! they are (`Known`), the others read from the commit (and their Prometheus asked) once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::Result;
use jiff::Timestamp;

use crate::commands::Workspace;
use crate::commands::analyze;
use crate::commands::commits::Commits;
use crate::plan::{Observed, Recorded};
use crate::release::waves::{self, Member, View};
use crate::release::{Check, Evidence};
use crate::repo::CommitId;
use crate::spec::Canary;
use crate::stats::Verdict;

/// An instance as a run has read it: what its overlay records and shows, and its evidence.
pub(super) type Known<'a> = HashMap<String, (Option<&'a Recorded>, &'a Observed, Option<&'a Evidence>)>;

/// How a run asks the analysis of instances it had not read: the evidence of each.
/// [`no_analysis`] asks nothing.
pub(super) type Ask<'a> = dyn Fn(&[Canary], &[Option<Recorded>], &[Observed]) -> Vec<Evidence> + 'a;

/// The analysis of `canaries` asked now, side by side ([`analyze::evidence`]); a check that
/// cannot be planned is an analysis that cannot run. Only for specs the run trusts (a
/// branch's, not a pull request's).
pub(super) fn ask_now(
    ws: &Workspace,
    now: Timestamp,
) -> impl Fn(&[Canary], &[Option<Recorded>], &[Observed]) -> Vec<Evidence> + '_ {
    move |canaries, recorded, observed| {
        analyze::evidence(ws, canaries, recorded, observed, now)
            .into_iter()
            .map(|e| e.unwrap_or_else(|e| Evidence::unavailable(format!("{e:#}"))))
            .collect()
    }
}

/// The view of the fleet of `canary` (None when it is no fleet), its instances read through
/// `known` where a run has read them, else from commit `at` (their analysis asked through `ask`).
pub(super) fn view(
    git: &Commits,
    at: Option<CommitId>,
    canary: &Canary,
    known: &Known,
    ask: &Ask,
    now: Timestamp,
) -> Result<Option<Arc<View>>> {
    if canary.fleet.is_none() {
        return Ok(None);
    }
    let instances = canary.instances();
    let missing: Vec<&Canary> = instances.iter().filter(|c| !known.contains_key(&c.id())).collect();
    let mut read = Vec::new();
    for c in &missing {
        read.push(git.committed(at, c)?.into_observed());
    }
    let (observed, recorded): (Vec<Observed>, Vec<Option<Recorded>>) = read.into_iter().unzip();
    let owned: Vec<Canary> = missing.iter().map(|c| (*c).clone()).collect();
    let asked = ask(&owned, &recorded, &observed);
    let mut members = Vec::new();
    for c in &instances {
        let id = c.id();
        let (r, o, e) = match known.get(&id) {
            Some(&(r, o, e)) => (r, o, e),
            None => {
                let i = missing.iter().position(|m| m.id() == id).expect("read above");
                (recorded[i].as_ref(), &observed[i], Some(&asked[i]))
            }
        };
        let checks = e.and_then(checks_of);
        let standing = waves::standing(c, r, o, now, checks.as_deref());
        let wave = c.fleet.as_ref().map_or(1, |m| m.wave);
        members.push(Member { id, wave, standing });
    }
    Ok(Some(Arc::new(View { members })))
}

/// The checks judged now, an analysis that could not run counted as an inconclusive check.
fn checks_of(evidence: &Evidence) -> Option<Vec<Check>> {
    match evidence.checks.as_ref()? {
        Ok(checks) => Some(checks.clone()),
        Err(why) => Some(vec![Check {
            name: "analysis".into(),
            verdict: Verdict::Inconclusive,
            line: why.clone(),
            aborts: false,
        }]),
    }
}

/// Views read once per fleet and commit, for the runs that decide instance after instance.
#[derive(Default)]
pub(super) struct Views {
    read: Mutex<HashMap<(String, CommitId), Arc<View>>>,
}

impl Views {
    /// The view of the fleet of `canary` at commit `at`, read the first time it is asked for.
    pub(super) fn at(
        &self,
        git: &Commits,
        at: CommitId,
        canary: &Canary,
        ask: &Ask,
        now: Timestamp,
    ) -> Result<Option<Arc<View>>> {
        if canary.fleet.is_none() {
            return Ok(None);
        }
        let key = (canary.fleet_id(), at);
        if let Some(view) = self.read.lock().expect("no panic holds it").get(&key) {
            return Ok(Some(Arc::clone(view)));
        }
        let view = view(git, Some(at), canary, &Known::new(), ask, now)?.expect("a fleet");
        self.read.lock().expect("no panic holds it").insert(key, Arc::clone(&view));
        Ok(Some(view))
    }
}

/// The views of the fleets among `canaries` (each read with `recorded`, `observed` and
/// `evidence`, side by side), by fleet: what `status` and `diff` pass to `release::decide`.
/// The instances a run did not read are read from `at`, their analysis asked through `ask`.
#[allow(clippy::too_many_arguments)]
pub(super) fn views_of(
    git: &Commits,
    at: Option<CommitId>,
    canaries: &[Canary],
    recorded: &[Option<Recorded>],
    observed: &[Observed],
    evidence: &[Option<&Evidence>],
    ask: &Ask,
    now: Timestamp,
) -> Result<HashMap<String, Arc<View>>> {
    let mut views = HashMap::new();
    if canaries.iter().all(|c| c.fleet.is_none()) {
        return Ok(views);
    }
    let known: Known = canaries
        .iter()
        .enumerate()
        .filter(|(_, c)| c.fleet.is_some())
        .map(|(i, c)| (c.id(), (recorded[i].as_ref(), &observed[i], evidence[i])))
        .collect();
    for canary in canaries.iter().filter(|c| c.fleet.is_some()) {
        let fleet = canary.fleet_id();
        if !views.contains_key(&fleet)
            && let Some(view) = view(git, at, canary, &known, ask, now)?
        {
            views.insert(fleet, view);
        }
    }
    Ok(views)
}

/// Asks nothing: the instances a run did not read count as having no analysis due (a pull
/// request's specs are never asked for a Prometheus beyond what the run already asked).
pub(super) fn no_analysis(canaries: &[Canary], _: &[Option<Recorded>], _: &[Observed]) -> Vec<Evidence> {
    vec![Evidence::default(); canaries.len()]
}
