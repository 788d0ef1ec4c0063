//! `kanari analyze RELEASE --replay START..END --every 10m`: the release's checks evaluated at
//! every look over a past window, from Prometheus's history, as a scheduled job would have
//! seen them: the stage began at START, and each look judges the window from START to the
//! look's time (the same queries and verdicts as `promote`, with the clock set to the look).
//! It prints the verdicts of each look, what the release would have done then (abort, hold,
//! pass), and when it would first have been aborted or passed, so a team can try `alpha`,
//! margins and deadlines on a past release before trusting them. Nothing is committed; the
//! exit code is 0 when the replay ran.
//!
//! The stage is `--stage`, else the one the release's overlay records; the looks are at most
//! [`MOST_LOOKS`].

use anyhow::Result;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::analyze::{check, judge_all};
use crate::analysis::{Outcome, Window};
use crate::cli::{AnalyzeArgs, AnalyzeFormat};
use crate::commands::Workspace;
use crate::exit::{Code, Exit, Kind};
use crate::plan::Recorded;
use crate::spec::{Canary, format_duration, parse_duration};
use crate::stats::Verdict;

/// The most looks a replay evaluates.
pub(super) const MOST_LOOKS: i64 = 1000;

fn bad(message: String) -> anyhow::Error {
    Exit { kind: Kind::BadInput, message }.into()
}

/// What the release would have done at a look.
fn decision(canary: &Canary, outcomes: &[Outcome]) -> &'static str {
    let checks: Vec<_> = outcomes.iter().map(|o| check(canary, o)).collect();
    if checks.iter().any(|c| c.verdict == Verdict::Fail && c.aborts) {
        "abort"
    } else if checks.iter().any(|c| c.verdict != Verdict::Pass) {
        "hold"
    } else {
        "pass"
    }
}

pub(super) fn run(
    ws: &Workspace,
    args: &AnalyzeArgs,
    range: &str,
    canaries: &[Canary],
    recorded: &[Option<Recorded>],
) -> Result<Code> {
    let [canary] = canaries else {
        let names: Vec<String> = canaries.iter().map(Canary::id).collect();
        return Err(bad(format!("--replay judges one release: name it (the selection has {})", names.join(", "))));
    };
    let recorded = recorded.first().and_then(Option::as_ref);
    let Some(a) = &canary.analysis else {
        return Err(bad(format!("release `{}` has no analysis to replay", canary.id())));
    };
    let Some(version) = canary.canary.as_ref().map(|c| c.version.as_str()) else {
        return Err(bad(format!(
            "release `{}` has no canary in its spec: there is no comparison to replay",
            canary.id()
        )));
    };
    let (start, end) = range
        .split_once("..")
        .and_then(|(s, e)| Some((s.trim().parse::<Timestamp>().ok()?, e.trim().parse::<Timestamp>().ok()?)))
        .filter(|(s, e)| s < e)
        .ok_or_else(|| bad(format!("--replay `{range}` must be START..END, two RFC 3339 times, START first")))?;
    let every = parse_duration(&args.every)
        .ok()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| bad(format!("--every `{}` must be a duration such as 10m", args.every)))?;
    let step = every.as_secs() as i64;
    let looks = (end.as_second() - start.as_second()) / step;
    if !(1..=MOST_LOOKS).contains(&looks) {
        return Err(bad(format!(
            "--replay {range} --every {} makes {looks} looks; from 1 to {MOST_LOOKS} are replayed",
            args.every
        )));
    }
    let stage_name = args.stage.clone().or_else(|| recorded.map(|r| r.stage.clone())).unwrap_or_default();
    let Some(stage) = canary.stages.iter().find(|s| s.name == stage_name) else {
        let names: Vec<&str> = canary.stages.iter().map(|s| s.name.as_str()).collect();
        return Err(bad(format!(
            "release `{}` has no stage `{stage_name}` to replay: pass --stage, one of {}",
            canary.id(),
            names.join(", ")
        )));
    };
    let warm = start + SignedDuration::from_secs(canary.warmup.as_secs() as i64);
    let mut rows = Vec::new();
    for k in 1..=looks {
        let now = start + SignedDuration::from_secs(k * step);
        if now < warm {
            rows.push((now, "warm-up", Vec::new()));
            continue;
        }
        let w = Window {
            canary,
            version,
            weight: stage.weight,
            matched: !stage.matches.is_empty(),
            mirror: stage.mirror,
            since: start,
            now,
        };
        let outcomes = judge_all(ws, &[w]).remove(0)?;
        let outcomes: Vec<Outcome> = outcomes.into_iter().map(|o| Outcome { explain: None, ..o }).collect();
        rows.push((now, decision(canary, &outcomes), outcomes));
    }
    let first = |what: &str| rows.iter().position(|(_, d, _)| *d == what);
    let age =
        |t: &Timestamp| format_duration(std::time::Duration::from_secs((t.as_second() - start.as_second()) as u64));
    let summary = match (first("abort"), first("pass")) {
        (Some(i), p) if p.is_none_or(|p| i < p) => {
            let failed: Vec<String> =
                rows[i].2.iter().filter(|o| o.verdict() == Verdict::Fail).map(Outcome::line).collect();
            format!(
                "would have been aborted at look {} (+{}, {}): {}",
                i + 1,
                age(&rows[i].0),
                rows[i].0,
                failed.join("; ")
            )
        }
        (_, Some(i)) => {
            format!("every check would have passed at look {} (+{}, {})", i + 1, age(&rows[i].0), rows[i].0)
        }
        _ => format!(
            "neither aborted nor passed in {looks} looks: the release would have held (deadline {})",
            format_duration(a.deadline)
        ),
    };
    match args.format {
        AnalyzeFormat::Json => {
            let looks: Vec<_> = rows
                .iter()
                .map(|(t, d, o)| json!({"at": t.to_string(), "age": age(t), "decision": d, "checks": o}))
                .collect();
            let doc = json!({
                "name": canary.id(), "stage": stage.name, "start": start.to_string(), "end": end.to_string(),
                "every": format_duration(every), "looks": looks,
                "abortedAt": first("abort").map(|i| rows[i].0.to_string()),
                "passedAt": first("pass").map(|i| rows[i].0.to_string()),
                "summary": summary,
            });
            println!("{}", serde_json::to_string_pretty(&doc)?);
        }
        AnalyzeFormat::Text | AnalyzeFormat::Markdown => {
            println!(
                "{}  replay of stage {} (weight {}) from {start} to {end}, a look every {}",
                canary.id(),
                stage.name,
                stage.weight,
                format_duration(every)
            );
            for (t, d, outcomes) in &rows {
                let verdicts: Vec<String> = outcomes.iter().map(|o| format!("{} {}", o.name, o.verdict)).collect();
                println!("  +{:<6} {t}  {d:<8} {}", age(t), verdicts.join(", "));
                if ws.quiet {
                    continue;
                }
                for o in outcomes.iter().filter(|o| o.verdict() != Verdict::Pass) {
                    println!("      {}", o.line());
                }
            }
            println!("{summary}");
        }
    }
    Ok(Code::Ok)
}
