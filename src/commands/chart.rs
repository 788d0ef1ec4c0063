//! The Mermaid chart of a release's way through its stages, as `plan --format markdown|mermaid`
//! and the pull-request comment show it: one horizontal bar per stage, the canary's share of the
//! traffic, the stage the release is in marked (and, in a comment, the one the next promote
//! moves to).
//!
//! Made to be read where GitHub draws it, in a comment about 650 px wide, on its light page
//! (`#ffffff`) and its dark one (`#0d1117`): no single colour reads at 4.5:1 on both of those,
//! so the chart paints its own white background and sets every colour itself (an `init`
//! directive: text `#1f2328`, axes `#59636e`, bars `#0969da`, the current stage `#bc4c00`, the
//! next `#1a7f37`, each at least 4.5:1 against white). Bars lie horizontally, so each stage's
//! label has its own row and labels never overlap, whatever their count. Each label carries the
//! share itself (`50-50 · 50%`), so the value axis needs no numbers; without them mermaid leaves
//! no padding before its 0, and a stage at 0% draws no bar at all rather than a sliver. The marks
//! are words too (`◀ now`, `◀ next`), not colour alone. `tests/it/review.rs`
//! draws it in chromium on both pages and measures the contrast and the labels' boxes.

use crate::plan::{self, State, Step, Summary};
use crate::spec::Canary;

/// Colours, each at least 4.5:1 against the chart's own background.
const BACKGROUND: &str = "#ffffff";
const TEXT: &str = "#1f2328";
const AXIS: &str = "#59636e";
const BAR: &str = "#0969da";
const NOW: &str = "#bc4c00";
const NEXT: &str = "#1a7f37";

/// The chart for `canary` (without a fence): `now` is the state the release is in and `next`
/// the one the next promote commits, as state texts (`90-10`, `0-100, draining 50-50`: a
/// state between stages is marked at its stage).
pub(super) fn mermaid(canary: &Canary, now: Option<&str>, next: Option<&str>) -> String {
    let Some(version) = &canary.canary else {
        return format!("%% {}: no canary, 100% to {}\n", canary.id(), canary.stable.version);
    };
    let stage_of = |state: Option<&str>| state.map(|s| s.split(", ").next().unwrap_or(s).to_string());
    let (now, next) = (stage_of(now), stage_of(next).filter(|n| Some(n) != stage_of(now).as_ref()));
    let stages: Vec<Summary> = (0..canary.stages.len())
        .map(|i| {
            let step = Step::Stage(i);
            plan::summarize(canary, step, &plan::plan(canary, &State::new(step)))
        })
        .collect();
    let share = |s: &Summary| s.traffic.iter().find(|(v, _)| v == &version.version).map_or(0, |(_, w)| *w);
    let mut labels = Vec::new();
    let (mut all, mut at_now, mut at_next) = (Vec::new(), Vec::new(), Vec::new());
    for (stage, s) in canary.stages.iter().zip(&stages) {
        let mut label = format!("{} · {}%", stage.name, share(s));
        if !s.matches.is_empty() {
            label.push_str(" + match");
        }
        if let Some(m) = stage.mirror {
            label.push_str(&format!(" + mirror {m}%"));
        }
        let is = |mark: &Option<String>| mark.as_deref() == Some(stage.name.as_str());
        if is(&now) {
            label.push_str(" ◀ now");
        } else if is(&next) {
            label.push_str(" ◀ next");
        }
        labels.push(format!("\"{}\"", label.replace('"', "'")));
        all.push(share(s).to_string());
        at_now.push(if is(&now) { share(s) } else { 0 }.to_string());
        at_next.push(if is(&next) { share(s) } else { 0 }.to_string());
    }
    let height = 90 + 34 * canary.stages.len();
    let init = format!(
        r##"%%{{init: {{"theme": "base", "themeVariables": {{"xyChart": {{"backgroundColor": "{BACKGROUND}", "titleColor": "{TEXT}", "xAxisLabelColor": "{TEXT}", "xAxisTitleColor": "{TEXT}", "xAxisTickColor": "{AXIS}", "xAxisLineColor": "{AXIS}", "yAxisLabelColor": "{TEXT}", "yAxisTitleColor": "{TEXT}", "yAxisTickColor": "{AXIS}", "yAxisLineColor": "{AXIS}", "plotColorPalette": "{BAR}, {NOW}, {NEXT}"}}}}, "xyChart": {{"width": 600, "height": {height}, "showDataLabel": false, "yAxis": {{"showLabel": false, "showTick": false, "showTitle": false}}}}}}}}%%"##
    );
    // A series only where it marks something: the colours follow the order (bars, now, next).
    let mut series = vec![all, at_now, at_next];
    let marks = |s: &Vec<String>| s.iter().any(|v| v != "0");
    while series.len() > 1 && !marks(series.last().expect("not empty")) {
        series.pop();
    }
    let bars: String = series.iter().map(|s| format!("    bar [{}]\n", s.join(", "))).collect();
    format!(
        "{init}\nxychart-beta horizontal\n    title \"{}: {} share of traffic\"\n    x-axis [{}]\n    y-axis 0 --> 100\n{bars}",
        canary.id(),
        version.version,
        labels.join(", "),
    )
}
