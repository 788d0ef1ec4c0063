//! The message of a commit `promote`, `approve` or `abort` makes: a subject `<release>: <what
//! the commit does>` (`reviews: promote 90-10 -> 50-50 (stage 3 of 4)`, `reviews: abort 25pct`;
//! the commit that scales down once a move's traffic has gone is named after that move,
//! whichever command made it: `reviews: abort 25pct: scale v2 down`), a body in sentences (what
//! a step on the way is for, the traffic, mirror, match and pod changes, one line per version,
//! read from the committed and the new overlay), and kanari's trailers.

use crate::commands::by_version;
use crate::commands::commits::Committed;
use crate::plan::{Matched, Observed, PodCount, Recorded, State, Step};
use crate::render::Rendered;
use crate::review;
use crate::spec::Canary;

/// `reviews: promote 90-10 -> 50-50 (stage 3 of 4)`, a body that says what the commit is for
/// when it is a step on the way (a scale-up, a drain, a settle) and the traffic and pod changes
/// read from the committed and the new overlay, and the `Kanari-Canary` and `Kanari-Stage`
/// trailers.
pub(crate) fn message(
    canary: &Canary,
    from: &Committed,
    to: &State,
    rendered: &Rendered,
    verb: &str,
    note: Option<&str>,
    trailers: &[(&str, String)],
) -> String {
    let recorded = from.recorded.as_ref();
    let to_name = to.stage_name(canary);
    // A fleet's instance is named with its cluster: `reviews@eu-1: promote ...`.
    let name = match &canary.fleet {
        Some(member) => format!("{}@{}", canary.name, member.cluster),
        None => canary.name.clone(),
    };
    let from_name = recorded.map_or("(new)", |r| r.stage.as_str());
    let after_files = rendered.files.iter().map(|(k, v)| (k.into(), v.clone())).collect();
    let after = review::facts(&after_files);
    let before = recorded.map(|_| from.observed());
    let purpose = purpose(canary, recorded, to, before, &after);
    // An abort's traffic move is the abort itself: its subject says no more than that.
    let purpose_in_subject =
        purpose.as_ref().filter(|_| !(verb == "abort" && to.holding.is_some() && from_name != to_name));
    let mut subject = match (verb, purpose_in_subject) {
        // The commits around a move (pods scaled up before the traffic moves, scaled down once it
        // has) are named after the move, whichever command made them: `promote jason -> 50-50:
        // scale v2 up`, `abort 25pct: scale v1 up`, `abort 25pct: scale v2 down`.
        (_, Some(Purpose { prepares: Some(Step::Aborted), short, .. })) => {
            format!("{}: abort {from_name}: {short}", name)
        }
        (_, Some(Purpose { prepares: Some(next), short, .. })) => {
            format!("{}: promote {from_name} -> {}: {short}", name, next.name(canary))
        }
        (_, Some(Purpose { settles: Some(moved), short, .. })) if to.step == Step::Aborted => {
            format!("{}: abort {moved}: {short}", name)
        }
        (_, Some(Purpose { settles: Some(moved), short, .. })) => {
            format!("{}: promote {moved} -> {to_name}: {short}", name)
        }
        (_, Some(Purpose { short, .. })) if from_name == to_name => {
            format!("{}: {verb} {from_name}: {short}", name)
        }
        (_, Some(Purpose { short, .. })) if to.leaving.is_some() => {
            format!("{}: {verb} {from_name} -> {to_name}: {short}", name)
        }
        ("promote", _) => format!("{}: promote {from_name} -> {to_name}", name),
        (_, Some(Purpose { short, .. })) => format!("{}: {verb} {from_name}: {short}", name),
        // A fleet's wave approval, recorded at `steady`: `reviews@eu-2: approve wave 2 for v2`.
        ("approve", None) if from_name == "steady" && to.approved.is_some() => {
            format!("{}: approve {}", name, to.approved.as_deref().unwrap_or_default())
        }
        _ => format!("{}: {verb} {from_name}", name),
    };
    if let Step::Stage(i) = to.step
        && verb == "promote"
        && from_name != to_name
        && to.leaving.is_none()
    {
        subject.push_str(&format!(" (stage {} of {})", i + 1, canary.stages.len()));
    }
    let mut body = Vec::new();
    if let Some(note) = note {
        body.push(note.to_string());
    }
    if let Some(Purpose { long, .. }) = purpose {
        body.push(long);
    }
    body.extend(traffic_sentences(before.map(|b| b.traffic.as_slice()), &after.traffic));
    match (before.and_then(|b| b.mirror.as_ref()), &after.mirror) {
        (_, Some(mirror)) => body.push(format!("{mirror}.")),
        (Some(mirror), None) => body.push(format!("{mirror} stops.")),
        (None, None) => {}
    }
    let before_matches = before.map_or(&[][..], |b| b.matches.as_slice());
    for m in after.matches.iter().filter(|m| !before_matches.contains(m)) {
        body.push(format!("{}.", match_sentence(m, "go to")));
    }
    for m in before_matches.iter().filter(|m| !after.matches.contains(m)) {
        body.push(format!("{}.", match_sentence(m, "no longer go to")));
    }
    body.extend(pod_sentences(before.map(|b| b.pods.as_slice()), &after.pods));
    let more: String = trailers.iter().map(|(key, value)| format!("{key}: {value}\n")).collect();
    format!("{subject}\n\n{}\n\nKanari-Canary: {}\nKanari-Stage: {to_name}\n{more}", body.join("\n"), canary.id())
}

/// What a commit on the way between two states is for.
struct Purpose {
    /// For the subject: `scale v2 up`, `scale v2 down`, `re-roll v2 in place`.
    short: String,
    /// A sentence for the body.
    long: String,
    /// The state the traffic moved from, when this commit completes that move by scaling down
    /// the pods its traffic needed.
    settles: Option<String>,
    /// The state the traffic moves to next, when this commit scales pods up for that move.
    prepares: Option<Step>,
}

/// What a commit on the way between two states is for: a short form for the subject and a
/// sentence for the body. None for a plain move from one state to the next. `before` and
/// `after` are the committed and the new overlay's facts.
fn purpose(
    canary: &Canary,
    from: Option<&Recorded>,
    to: &State,
    before: Option<&Observed>,
    after: &Observed,
) -> Option<Purpose> {
    let purpose = |(short, long): (String, String)| Purpose { short, long, settles: None, prepares: None };
    let warmup = crate::spec::format_duration(canary.warmup);
    if !to.rerolled.is_empty() {
        let versions = to.rerolled.join(", ");
        return Some(purpose((
            format!("re-roll {versions} in place"),
            format!(
                "step: a new image under the same version: the pods of {versions} are replaced where they stand, with no traffic moved; the next promote moves traffic, after the warmup of {warmup}"
            ),
        )));
    }
    if let Some(t) = &to.leaving {
        return Some(purpose(match (to.toward, t.departing.join(",")) {
            (Some(_), _) => (
                format!("scale up {} to take all the traffic", canary.stable.version),
                format!(
                    "step: {} scales up to take all the traffic before it moves (the next promote moves it, after the warmup of {warmup})",
                    canary.stable.version
                ),
            ),
            (None, leaving) if !leaving.is_empty() => (
                format!("all traffic to {}, {leaving} departing", canary.stable.version),
                format!(
                    "step: all traffic moves to {}; {leaving} keeps its pods until it has drained (the next promote removes it, after the warmup of {warmup})",
                    canary.stable.version
                ),
            ),
            _ => (
                format!(
                    "traffic back to {}, draining {}",
                    canary.stable.version,
                    t.canary.as_deref().unwrap_or("the old canary")
                ),
                format!(
                    "step: {}; all traffic moves back to {}, and the old canary keeps its pods until it has drained (the next promote replaces it, after the warmup of {warmup})",
                    to.reason.as_deref().unwrap_or("the canary changed"),
                    canary.stable.version
                ),
            ),
        }));
    }
    if let Some(t) = to.toward {
        let up = changed(before, after, |old, new| new > old);
        return Some(Purpose {
            short: if up.is_empty() { "scale up".to_string() } else { format!("scale {} up", up.join(", ")) },
            long: format!(
                "step: pods for `{}` come up before any traffic moves onto them; the traffic moves with the next promote{}, after the warmup of {warmup}",
                t.name(canary),
                if t == Step::Aborted { " or abort" } else { "" }
            ),
            settles: None,
            prepares: Some(t),
        });
    }
    if let Some(h) = to.holding {
        return Some(purpose((
            format!("traffic moved, draining {}", h.name(canary)),
            format!(
                "step: the traffic moves now; the pods the traffic of `{}` needed stay until it has drained (the next promote{} scales them down, after the warmup of {warmup})",
                h.name(canary),
                if to.step == Step::Aborted { " or abort" } else { "" }
            ),
        )));
    }
    if let Some(leaving) = from.map(|r| r.departing.join(",")).filter(|d| !d.is_empty()) {
        return Some(purpose((
            format!("remove {leaving} after the traffic moved"),
            format!("step: all traffic moved to {} in the commit before; {leaving} goes now", canary.stable.version),
        )));
    }
    let moved = from.filter(|r| r.stage == to.step.name(canary)).and_then(|r| r.holding.clone())?;
    let down = changed(before, after, |old, new| new < old);
    Some(Purpose {
        short: if down.is_empty() { "scale down".to_string() } else { format!("scale {} down", down.join(", ")) },
        long: "step: the traffic moved in the commit before; the pods it no longer needs go now".to_string(),
        settles: Some(moved),
        prepares: None,
    })
}

/// The versions whose pod count (a Deployment's replicas or its HPA's minimum; 0 where it does
/// not run) went from `old` to `new` with `moved(old, new)`, in the order the overlays list them.
fn changed(before: Option<&Observed>, after: &Observed, moved: fn(u32, u32) -> bool) -> Vec<String> {
    let Some(before) = before else { return Vec::new() };
    let versions: Vec<&String> = before.pods.iter().chain(&after.pods).map(|(v, _)| v).collect();
    let mut seen = std::collections::BTreeSet::new();
    versions
        .into_iter()
        .filter(|v| seen.insert(*v))
        .filter(|v| moved(before.count(v), after.count(v)))
        .cloned()
        .collect()
}

/// `requests with end-user=jason go to v2`.
fn match_sentence(m: &Matched, verb: &str) -> String {
    format!("requests with {} {verb} {}", m.when, m.to)
}

/// One sentence per version: `v1 goes from 90% to 50% of the traffic.`, `v2 keeps 10% of the
/// traffic.`, `v3 takes 40% of the traffic.`, `v3 no longer takes traffic.`.
fn traffic_sentences(before: Option<&[(String, u64)]>, after: &[(String, u64)]) -> Vec<String> {
    let sides: Vec<&[(String, u64)]> = [Some(after), before].into_iter().flatten().collect();
    by_version(&sides)
        .into_iter()
        .map(|(v, values)| match (values[0], before.map(|_| values[1])) {
            (Some(new), None | Some(None)) => format!("{v} takes {new}% of the traffic."),
            (Some(new), Some(Some(old))) if old == new => format!("{v} keeps {new}% of the traffic."),
            (Some(new), Some(Some(old))) => format!("{v} goes from {old}% to {new}% of the traffic."),
            (None, _) => format!("{v} no longer takes traffic."),
        })
        .collect()
}

/// One sentence per version: `v2 scales from 1 to 5 pods.`, `v1 keeps 10 pods.`, `v2 starts
/// with 5 pods.`, `v2 is removed.`; an autoscaled version's bounds as `v2: autoscaled 1-20, was
/// 2-20.`.
fn pod_sentences(before: Option<&[(String, Option<PodCount>)]>, after: &[(String, Option<PodCount>)]) -> Vec<String> {
    use PodCount::{Hpa, Replicas};
    let sides: Vec<&[(String, Option<PodCount>)]> = [Some(after), before].into_iter().flatten().collect();
    by_version(&sides)
        .into_iter()
        .map(|(v, values)| match (values[0], before.map(|_| values[1])) {
            (Some(new), None | Some(None)) => match new {
                Some(Hpa { .. }) => format!("{v} starts, {}.", pods(*new)),
                _ => format!("{v} starts with {}.", pods(*new)),
            },
            (Some(new), Some(Some(old))) if old == new => match new {
                Some(Hpa { .. }) => format!("{v} stays {}.", pods(*new)),
                _ => format!("{v} keeps {}.", pods(*new)),
            },
            (Some(new), Some(Some(old))) => match (old, new) {
                (Some(Replicas(old)), Some(Replicas(_))) => format!("{v} scales from {old} to {}.", pods(*new)),
                (Some(Hpa { min, max }), Some(Hpa { .. })) => format!("{v}: {}, was {min}-{max}.", pods(*new)),
                _ => format!("{v}: {}, was {}.", pods(*new), pods(*old)),
            },
            (None, _) => format!("{v} is removed."),
        })
        .collect()
}

/// A version's pods in words: `1 pod`, `5 pods`, `autoscaled 2-10`, `- pods` where unknown.
fn pods(count: Option<PodCount>) -> String {
    match count {
        Some(PodCount::Replicas(1)) => "1 pod".into(),
        Some(PodCount::Hpa { min, max }) => format!("autoscaled {min}-{max}"),
        _ => format!("{} pods", PodCount::text(count)),
    }
}

#[cfg(test)]
mod tests {
    use super::{match_sentence, pod_sentences, traffic_sentences};
    use crate::plan::{Matched, PodCount};

    #[test]
    fn changes_read_as_one_sentence_per_version() {
        let pair = |v: &str, x: u64| (v.to_string(), x);
        let before = [pair("v1", 90), pair("v2", 10)];
        let after = [pair("v1", 50), pair("v2", 10), pair("v3", 40)];
        assert_eq!(
            traffic_sentences(Some(&before), &after),
            ["v1 goes from 90% to 50% of the traffic.", "v2 keeps 10% of the traffic.", "v3 takes 40% of the traffic."]
        );
        assert_eq!(traffic_sentences(Some(&after), &before)[2], "v3 no longer takes traffic.");
        let pods = |v: &str, n: u64| (v.to_string(), Some(PodCount::Replicas(n)));
        let hpa = |v: &str, min: u64, max: u64| (v.to_string(), Some(PodCount::Hpa { min, max }));
        let before = [pods("v1", 10), pods("v2", 1)];
        let after = [pods("v1", 10), pods("v2", 5), hpa("v3", 2, 10)];
        assert_eq!(
            pod_sentences(Some(&before), &after),
            ["v1 keeps 10 pods.", "v2 scales from 1 to 5 pods.", "v3 starts, autoscaled 2-10."]
        );
        assert_eq!(pod_sentences(Some(&after), &before)[2], "v3 is removed.");
        // Autoscaled: one line per version, the new bounds first.
        let scaled = [hpa("v1", 2, 20), hpa("v2", 2, 20), pods("v3", 5)];
        let autoscaled = [hpa("v1", 2, 20), hpa("v2", 1, 20), hpa("v3", 1, 20), pods("v4", 0)];
        assert_eq!(
            pod_sentences(Some(&scaled), &autoscaled),
            [
                "v1 stays autoscaled 2-20.",
                "v2: autoscaled 1-20, was 2-20.",
                "v3: autoscaled 1-20, was 5 pods.",
                "v4 starts with 0 pods."
            ]
        );
        assert_eq!(pod_sentences(Some(&autoscaled), &scaled)[1], "v2: autoscaled 2-20, was 1-20.");
        assert_eq!(pod_sentences(Some(&[hpa("v2", 2, 20)]), &[pods("v2", 0)]), ["v2: 0 pods, was autoscaled 2-20."]);
        assert_eq!(pod_sentences(None, &before), ["v1 starts with 10 pods.", "v2 starts with 1 pod."]);
        let jason = Matched { when: "end-user=jason".into(), to: "v2".into() };
        assert_eq!(match_sentence(&jason, "go to"), "requests with end-user=jason go to v2");
    }
}
