//! The analysis a scheduled CI job can trust (the README, "Watched every ten minutes, for hours"), against a real
//! Prometheus loaded with the Istio metrics of troubled canaries: NaN samples and a pod's
//! restart, a stage that sends stable nothing, a canary at 5 requests a minute, a canary whose
//! pods clients cannot reach, the order of the checks, a deadline, a replay of a past release
//! and `analyze --explain`. The data is backfilled, so every run sees the same numbers.

use std::path::Path;

use crate::analysis::{ERRORS, SUCCESS, at, available, canary, metrics, promote, release_of, spec, subject};
use crate::prometheus::{Latency, OpenMetrics, Prometheus, Replicas, Reporter, Traffic, day};
use crate::{Run, git, kanari_env, repo_with};

const LATENCY: &str = "      - {name: latency, builtin: latency-p99, max: 500}\n";
const SHARE: &str = "      - {name: traffic, builtin: traffic-share, max: 5}\n";

/// `kanari ARGS` in `repo` at `minute`, asking `url`.
fn kanari_at(repo: &Path, url: &str, minute: i64, args: &[&str]) -> Run {
    let mut all = vec!["-C", repo.to_str().unwrap(), "--prometheus", url];
    all.extend_from_slice(args);
    kanari_env(repo, &all, &[("KANARI_NOW", &at(minute).to_string())])
}

fn head(repo: &Path) -> String {
    git(repo, &["rev-parse", "HEAD"])
}

/// The committed overlay's kustomization of `reviews`, where an abort's reason is recorded.
fn kustomization(repo: &Path) -> String {
    std::fs::read_to_string(repo.join("overlays/reviews/kustomization.yaml")).unwrap()
}

/// The body of the last commit.
fn body(repo: &Path) -> String {
    git(repo, &["log", "-1", "--format=%b"])
}

/// Promote at `minute`: exit 5, one commit to `aborted` whose reason (in the overlay) holds each
/// of `reason`.
fn aborts(repo: &Path, url: &str, minute: i64, reason: &[&str]) -> Run {
    let before = head(repo);
    let run = promote(repo, Some(url), minute);
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(repo, &["rev-parse", "HEAD~1"]), before, "one commit");
    assert_eq!(subject(repo), "reviews: abort ten");
    let k = kustomization(repo);
    for part in reason {
        assert!(k.contains(part), "`{part}` is not in the abort's reason:\n{k}");
    }
    run
}

/// Promote at `minute`: exit 3, nothing committed; stderr holds each of `said`.
fn holds(repo: &Path, url: &str, minute: i64, said: &[&str]) -> Run {
    let before = head(repo);
    let run = promote(repo, Some(url), minute);
    assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
    assert_eq!(head(repo), before, "nothing committed");
    for part in said {
        assert!(run.stderr.contains(part), "`{part}` is not said:\n{}", run.stderr);
    }
    run
}

/// What a verdict says of the canary's request count over the window when a sample in it is NaN:
/// the series, summed by reporter, named.
const CANARY_SERIES: &str = r#"istio_requests_total{destination_workload="reviews-v2",destination_workload_namespace="shop",reporter="destination"} over 1800s has a NaN or infinite sample"#;

#[test]
fn a_nan_counter_at_the_look_makes_every_check_reading_it_inconclusive_and_commits_nothing() {
    // The canary's 5xx counter, then its 2xx counter, reads NaN from minute 20 on. Every
    // builtin reads the canary's requests, all codes summed: each check is inconclusive, and
    // says which series.
    for code in [503, 200] {
        let nan = Traffic { error_ratio: 0.001, nan: Some((code, 20..40)), ..canary(40) };
        let prometheus = Prometheus::start(&metrics(40, nan));
        let repo = release_of(&spec(&format!("{SUCCESS}{LATENCY}{ERRORS}")), &prometheus.url);
        let checks = ["success-rate no value (min 99)", "latency no value (max 500)", "errors no value (margin 1)"];
        let said: Vec<String> =
            checks.iter().map(|c| format!("{c}: inconclusive; bad data: {CANARY_SERIES}, window 1800s")).collect();
        let said: Vec<&str> = said.iter().map(String::as_str).collect();
        let run = holds(repo.path(), &prometheus.url, 30, &said);
        assert!(!run.stderr.contains("pass") && !run.stderr.contains("success-rate 100"), "{code}: {}", run.stderr);
        assert!(!run.stdout.contains("pass"), "{code}: {}", run.stdout);
    }
}

#[test]
fn a_nan_sample_inside_the_window_is_bad_data_too() {
    // The canary's 5xx counter reads NaN for five minutes in the middle of the stage, and
    // counts again after. increase() takes the last sample less the first and never sees the
    // NaN (see prometheus::checks); the design says a NaN in the window is bad data all the
    // same: inconclusive, naming the series, never a pass.
    let nan_5xx = Traffic { error_ratio: 0.001, nan: Some((503, 10..15)), ..canary(40) };
    let prometheus = Prometheus::start(&metrics(40, nan_5xx));
    let repo = release_of(&spec(SUCCESS), &prometheus.url);
    let run = holds(repo.path(), &prometheus.url, 30, &["success-rate no value (min 99): inconclusive; bad data: "]);
    assert!(run.stderr.contains("istio_requests_total{") && run.stderr.contains("NaN"), "{}", run.stderr);
}

#[test]
fn a_pod_restart_mid_window_is_judged_on_the_real_counts() {
    // The canary's pod restarts at minute 15: every counter drops to 0 and climbs again.
    let all = format!("{SUCCESS}{LATENCY}{ERRORS}");
    let sick = Traffic { error_ratio: 0.1, reset_at: Some(15), ..canary(40) };
    let prometheus = Prometheus::start(&metrics(40, sick));
    let repo = release_of(&spec(&all), &prometheus.url);
    aborts(
        repo.path(),
        &prometheus.url,
        30,
        &["analysis: success-rate 90 (min 99): fail; 3000 of 30000 requests failed, window 1800s"],
    );

    // Healthy, both versions restarting (at different minutes): it moves on, with the counts
    // of the whole window.
    let mut series = OpenMetrics::every(60);
    series
        .traffic(Traffic { reset_at: Some(22), ..Traffic::steady("shop", "reviews", "v1", 40, 2000.0) })
        .traffic(Traffic { reset_at: Some(15), ..canary(40) });
    available(&mut series, |_| 10);
    let prometheus = Prometheus::start(&series);
    let repo = release_of(&spec(&all), &prometheus.url);
    let r = repo.path();
    let run = promote(r, Some(&prometheus.url), 30);
    assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    assert_eq!(subject(r), "reviews: promote ten -> half (stage 2 of 3)");
    let body = body(r);
    assert!(body.contains("analysis: success-rate 100 (min 99): pass; 0 of 30000 requests failed"), "{body}");
    assert!(body.contains("(max 500): pass; 30000 requests, window 1800s"), "{body}");
    assert!(body.contains("analysis: errors 0 (margin 1): pass; canary 0 of 30000 failed"), "{body}");
    assert!(body.contains("stable 0 of 60000 in 1800s"), "{body}");
}

/// The spec with one stage, `all`, at weight 100.
fn all_at_once(metrics: &str) -> String {
    let text = spec(metrics);
    let one = text.replace("    - {name: ten, weight: 10}\n    - {name: half, weight: 50}\n", "");
    assert_ne!(one, text);
    one
}

#[test]
fn a_stage_at_weight_100_compares_with_stables_counts_from_before_the_stage() {
    // Stable served 2000 requests a minute (0.5% failing) for the hour before the stage, and
    // nothing from then on (its pods still report); the canary takes every request from minute 0.
    let data = |canary: Traffic| {
        let mut series = OpenMetrics::every(60);
        let before = day() - jiff::SignedDuration::from_mins(60);
        series
            .traffic(Traffic {
                error_ratio: 0.005,
                from: before,
                stops_at: Some(60),
                ..Traffic::steady("shop", "reviews", "v1", 160, 2000.0)
            })
            .traffic(canary);
        available(&mut series, |_| 10);
        series
    };
    let sick = Traffic { error_ratio: 0.5, ..Traffic::steady("shop", "reviews", "v2", 100, 2000.0) };
    let prometheus = Prometheus::start(&data(sick));
    let repo = release_of(&all_at_once(ERRORS), &prometheus.url);
    let r = repo.path();
    assert_eq!(subject(r), "reviews: promote prepare -> all (stage 1 of 1)");
    let before = head(r);
    let run = promote(r, Some(&prometheus.url), 30);
    assert_eq!(run.code, 5, "{}{}", run.stdout, run.stderr);
    assert_eq!(git(r, &["rev-parse", "HEAD~1"]), before, "one commit");
    assert_eq!(subject(r), "reviews: abort all");
    let k = kustomization(r);
    assert!(k.contains("analysis: errors 49.5 (margin 1): fail; canary 30000 of 60000 failed"), "{k}");
    assert!(k.contains("stable 300 of 60000 in the 1800s before the stage"), "{k}");
    assert!(!k.contains("no stable requests") && !k.contains("stable served no requests"), "{k}");

    // A healthy canary passes on the same comparison; past an hour, stable's window stays an hour.
    let healthy = Traffic { error_ratio: 0.005, ..Traffic::steady("shop", "reviews", "v2", 100, 2000.0) };
    let prometheus = Prometheus::start(&data(healthy));
    let repo = release_of(&all_at_once(ERRORS), &prometheus.url);
    let r = repo.path();
    for (minute, canary, stable) in
        [(30, "300 of 60000", "300 of 60000 in the 1800s"), (90, "900 of 180000", "600 of 120000 in the 3600s")]
    {
        let run = kanari_at(r, &prometheus.url, minute, &["analyze"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        let said = format!("errors 0 (margin 1): pass; canary {canary} failed (0.5%, at least ");
        assert!(run.stdout.contains(&said), "{}", run.stdout);
        let from = format!("stable {stable} before the stage (0.5%, at most ");
        assert!(run.stdout.contains(&from), "{}", run.stdout);
    }
}

#[test]
fn a_canary_at_5_requests_a_minute_and_3_times_slower_is_aborted_within_half_an_hour() {
    // 45 requests a minute to stable at 100 ± 50 ms, 5 to the canary at 300 ± 100 ms: no minute
    // has 20 canary requests, and every one of them counts.
    let mut series = OpenMetrics::every(60);
    series.traffic(Traffic::steady("shop", "reviews", "v1", 60, 45.0)).traffic(Traffic {
        latency: |_| Latency::around(300.0, 100.0),
        ..Traffic::steady("shop", "reviews", "v2", 60, 5.0)
    });
    available(&mut series, |_| 10);
    let prometheus = Prometheus::start(&series);
    let check = "      - {name: latency-vs-stable, builtin: latency-vs-stable, margin: 10%}\n";
    let repo = release_of(&spec(check), &prometheus.url);
    let r = repo.path();
    // 50 requests in 10 minutes: fewer than minRequests 100.
    holds(
        r,
        &prometheus.url,
        10,
        &["latency-vs-stable no value (margin 10%): inconclusive; 50 canary requests, fewer than minRequests 100"],
    );
    let run = aborts(
        r,
        &prometheus.url,
        30,
        &[
            "analysis: latency-vs-stable ",
            "(margin 10%): fail; canary median ",
            " of 150 requests",
            "stable 100 ms of 1350 in 1800s",
        ],
    );
    assert!(!run.stderr.contains("inconclusive"), "{}", run.stderr);
}

#[test]
fn a_canary_clients_cannot_reach_is_judged_by_the_503s_their_proxies_report() {
    // Both versions as both proxies count them: the destination's and the clients' (source).
    // The canary's own proxy counts no request.
    let data = |canary_source: Traffic| {
        let mut series = OpenMetrics::every(60);
        let stable = Traffic::steady("shop", "reviews", "v1", 40, 2000.0);
        series
            .traffic(stable.clone())
            .traffic(Traffic { reporter: Reporter::Source, ..stable })
            .traffic(Traffic::steady("shop", "reviews", "v2", 40, 0.0))
            .traffic(canary_source);
        available(&mut series, |_| 10);
        series
    };
    // No request reaches the canary's pods; the clients' proxies answer each of the 1000 a
    // minute sent to it with a 503.
    let unreachable = Traffic { reporter: Reporter::Source, error_ratio: 1.0, ..canary(40) };
    let prometheus = Prometheus::start(&data(unreachable));
    let repo = release_of(&spec(&format!("{SUCCESS}{ERRORS}")), &prometheus.url);
    aborts(
        repo.path(),
        &prometheus.url,
        30,
        &["analysis: success-rate 0 (min 99): fail; 30000 of 30000 requests failed, window 1800s"],
    );
    let lines = body(repo.path());
    assert!(lines.contains("errors 100 (margin 1): fail; canary 30000 of 30000 failed"), "{lines}");
    // Stable counted once, not once per proxy.
    assert!(lines.contains("stable 0 of 60000 in 1800s"), "{lines}");

    // Neither proxy counts one canary request while stable serves: a failing check.
    let silent = Traffic { reporter: Reporter::Source, ..Traffic::steady("shop", "reviews", "v2", 40, 0.0) };
    let prometheus = Prometheus::start(&data(silent));
    let repo = release_of(&spec(SUCCESS), &prometheus.url);
    aborts(
        repo.path(),
        &prometheus.url,
        30,
        &[
            "analysis: success-rate no value (min 99): fail; no traffic reaches the canary: 0 requests in 1800s (by the destination's and the source's count) while stable served 60000",
        ],
    );
}

#[test]
fn the_order_of_the_checks_never_changes_the_outcome() {
    // The canary fails 30% of its requests and takes a third of them in a 10% stage: both
    // checks fail, and only success-rate's failure aborts.
    let sick = Traffic { error_ratio: 0.3, ..canary(40) };
    let prometheus = Prometheus::start(&metrics(40, sick));
    let mut outcomes = Vec::new();
    for metrics in [format!("{SHARE}{SUCCESS}"), format!("{SUCCESS}{SHARE}")] {
        let repo = release_of(&spec(&metrics), &prometheus.url);
        let run = aborts(
            repo.path(),
            &prometheus.url,
            30,
            &["analysis: success-rate 70 (min 99): fail; 9000 of 30000 requests failed, window 1800s"],
        );
        let k = kustomization(repo.path());
        let reason: Vec<&str> = k.lines().filter(|l| l.contains("analysis:")).collect();
        assert!(!reason.iter().any(|l| l.contains("analysis: traffic")), "{k}");
        outcomes.push((run.code, subject(repo.path()), reason.join("\n")));
    }
    assert_eq!(outcomes[0], outcomes[1]);
}

#[test]
fn a_replay_of_a_past_release_says_at_which_look_it_would_have_been_aborted() {
    // Two hours of a release: the canary healthy for 40 minutes, then failing 20% of its
    // requests. errors-vs-stable with a relative margin cannot pass against a stable that
    // never fails, so the healthy looks hold.
    let mut series = OpenMetrics::every(60);
    series.traffic(Traffic::steady("shop", "reviews", "v1", 120, 2000.0)).traffic(Traffic {
        error_ratio: 0.2,
        errors_from: 40,
        ..canary(120)
    });
    available(&mut series, |_| 10);
    let prometheus = Prometheus::start(&series);
    let relative = "      - {name: errors, builtin: errors-vs-stable, margin: 50%}\n";
    let repo = release_of(&spec(&format!("{SUCCESS}{relative}")), &prometheus.url);
    let r = repo.path();
    let range = format!("{}..{}", at(0), at(120));
    let replay = ["analyze", "reviews", "--replay", &range, "--every", "10m"];
    let text = kanari_at(r, &prometheus.url, 200, &replay);
    assert_eq!(text.code, 0, "{}{}", text.stdout, text.stderr);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(
        lines[0],
        "shop/reviews  replay of stage ten (weight 10) from 2026-06-01T00:00:00Z to 2026-06-01T02:00:00Z, a look every 10m"
    );
    let looks: Vec<(String, String, String)> = lines
        .iter()
        .filter(|l| l.starts_with("  +"))
        .map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words[0].to_string(), words[1].to_string(), words[2].to_string())
        })
        .collect();
    let expected: Vec<(String, String, String)> = (1..=12)
        .map(|k| {
            let decision = if k <= 4 { "hold" } else { "abort" };
            let age = if k < 6 {
                format!("+{}m", k * 10)
            } else if k % 6 == 0 {
                format!("+{}h", k / 6)
            } else {
                format!("+{}h{}m", k / 6, k % 6 * 10)
            };
            (age, at(k * 10).to_string(), decision.to_string())
        })
        .collect();
    assert_eq!(looks, expected, "{}", text.stdout);
    assert!(lines[1].ends_with("hold     success-rate pass, errors inconclusive"), "{}", text.stdout);
    let summary = lines.last().unwrap();
    assert!(
        summary.starts_with(
            "would have been aborted at look 5 (+50m, 2026-06-01T00:50:00Z): success-rate 96 (min 99): fail; 2000 of 50000 requests failed"
        ),
        "{}",
        text.stdout
    );
    assert!(
        summary.contains("; errors ") && summary.contains("(margin 50%): fail; canary 2000 of 50000 failed"),
        "{summary}"
    );

    // The same as JSON, the stage named.
    let mut json_args = replay.to_vec();
    json_args.extend(["--stage", "ten", "--format", "json"]);
    let json = kanari_at(r, &prometheus.url, 200, &json_args);
    assert_eq!(json.code, 0, "{}{}", json.stdout, json.stderr);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let decisions: Vec<&str> = v["looks"].as_array().unwrap().iter().map(|l| l["decision"].as_str().unwrap()).collect();
    assert_eq!(decisions, [["hold"; 4].as_slice(), &["abort"; 8]].concat());
    assert_eq!(v["looks"][4]["at"], "2026-06-01T00:50:00Z");
    assert_eq!(v["looks"][4]["age"], "50m");
    assert_eq!(v["looks"][3]["checks"][1]["verdict"], "inconclusive");
    assert_eq!(v["looks"][4]["checks"][0]["value"], 96.0);
    assert_eq!((v["abortedAt"].as_str(), v["passedAt"].as_str()), (Some("2026-06-01T00:50:00Z"), None));
    assert_eq!(v["summary"].as_str(), Some(*summary));
}

/// The `N more` of a check's `to pass:` line: the canary requests it still needs.
fn more_needed(out: &str, check: &str) -> Option<u64> {
    let mut lines = out.lines().skip_while(|l| !l.trim_start().starts_with(check));
    let to_pass = lines.nth(1)?.trim_start().strip_prefix("to pass: ")?;
    let (_, rest) = to_pass.split_once(" in all, ")?;
    rest.split_once(" more")?.0.parse().ok()
}

/// The last line's count: `N queries sent to Prometheus`.
fn queries(out: &str) -> usize {
    let last = out.lines().last().unwrap_or_default();
    let n = last.strip_suffix(" queries sent to Prometheus").unwrap_or_else(|| panic!("last line: {last}\n{out}"));
    n.parse().unwrap()
}

const NAMESPACES: [&str; 6] = ["shop", "books", "games", "music", "films", "maps"];

/// Stable at 450 requests a minute and the canary at 50, both failing 1%, in each namespace.
fn one_percent(namespaces: &[&str]) -> OpenMetrics {
    let mut series = OpenMetrics::every(60);
    for ns in namespaces {
        series
            .traffic(Traffic { error_ratio: 0.01, ..Traffic::steady(ns, "reviews", "v1", 40, 450.0) })
            .traffic(Traffic { error_ratio: 0.01, ..Traffic::steady(ns, "reviews", "v2", 40, 50.0) });
        for version in ["v1", "v2"] {
            let deployment = format!("reviews-{version}");
            series.replicas(Replicas {
                namespace: ns.to_string(),
                deployment,
                from: day(),
                minutes: 40,
                available: |_| 10,
            });
        }
    }
    series
}

#[test]
fn explain_says_what_a_healthy_canary_still_needs_and_the_queries_do_not_grow_with_the_releases() {
    let prometheus = Prometheus::start(&one_percent(&NAMESPACES));
    let metrics = format!("{SUCCESS}{ERRORS}").replace("margin: 1}", "margin: 0.5}");
    let repo = release_of(&spec(&metrics), &prometheus.url);
    let r = repo.path();
    let explain = |minute: i64| {
        let run = kanari_at(r, &prometheus.url, minute, &["analyze", "--explain"]);
        assert_eq!(run.code, 3, "{}{}", run.stdout, run.stderr);
        run.stdout
    };
    let early = explain(10);
    assert!(early.contains("  errors 0 (margin 0.5): inconclusive; canary 5 of 500 failed"), "{early}");
    let early_more = more_needed(&early, "errors ").unwrap_or_else(|| panic!("no `to pass:` with a count:\n{early}"));
    let later = explain(30);
    match more_needed(&later, "errors ") {
        Some(later_more) => assert!(later_more < early_more, "{early}\n{later}"),
        None => assert!(later.contains("errors 0 (margin 0.5): pass"), "{later}"),
    }
    let one = queries(&later);

    // Six releases, one per namespace, each entered at its own minute (six windows): the same
    // number of queries.
    let files: Vec<(String, String)> = NAMESPACES
        .iter()
        .map(|ns| {
            let text = spec(&metrics)
                .replace("namespace: shop}", &format!("namespace: {ns}}}"))
                .replace("output: overlays/reviews", &format!("output: overlays/{ns}/reviews"));
            (format!("canaries/{ns}.yaml"), text)
        })
        .collect();
    let files: Vec<(&str, &str)> = files.iter().map(|(p, t)| (p.as_str(), t.as_str())).collect();
    let repo = repo_with(&files);
    let r = repo.path();
    for args in [&["init", "-q", "-b", "main"][..], &["add", "-A"], &["commit", "-q", "-m", "specs"]] {
        git(r, args);
    }
    git(r, &["config", "user.name", "CI"]);
    git(r, &["config", "user.email", "ci@example.com"]);
    for minute in [-3, -2] {
        let run = kanari_at(r, &prometheus.url, minute, &["promote"]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    for (minute, ns) in NAMESPACES.iter().enumerate() {
        let run = kanari_at(r, &prometheus.url, minute as i64, &["promote", &format!("{ns}/reviews")]);
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
    }
    let six = kanari_at(r, &prometheus.url, 30, &["analyze", "--explain"]);
    assert_eq!(six.code, 3, "{}{}", six.stdout, six.stderr);
    for (minute, ns) in NAMESPACES.iter().enumerate() {
        let header = format!("{ns}/reviews  ten  window {}s\n", 1800 - 60 * minute);
        assert!(six.stdout.contains(&header), "{header}{}", six.stdout);
    }
    assert_eq!(six.stdout.matches("    to pass: ").count(), 12, "{}", six.stdout);
    assert_eq!(queries(&six.stdout), one, "{}\n{later}", six.stdout);
    // One of them, named: the same again.
    let named = kanari_at(r, &prometheus.url, 30, &["analyze", "shop/reviews", "--explain"]);
    assert_eq!(named.stdout.matches("    to pass: ").count(), 2, "{}", named.stdout);
    assert_eq!(queries(&named.stdout), one, "{}", named.stdout);
    assert!(one <= 3, "{later}");
}

/// The spec of `metrics` with a deadline of an hour and `onInconclusive: on`.
fn with_deadline(metrics: &str, on: &str) -> String {
    let text = spec(metrics);
    let with = text.replace(
        "    minRequests: 100\n",
        &format!("    minRequests: 100\n    deadline: 1h\n    onInconclusive: {on}\n"),
    );
    assert_ne!(with, text);
    with
}

#[test]
fn past_the_deadline_an_inconclusive_check_holds_passes_or_aborts_as_the_spec_says() {
    // One canary request a minute: under minRequests for the whole stage.
    let prometheus = Prometheus::start(&metrics(80, Traffic::steady("shop", "reviews", "v2", 80, 1.0)));
    let thin = "inconclusive; 30 canary requests, fewer than minRequests 100";
    for on in ["hold", "pass", "abort"] {
        let repo = release_of(&with_deadline(SUCCESS, on), &prometheus.url);
        let r = repo.path();
        let early = holds(r, &prometheus.url, 30, &[thin]);
        assert!(!early.stderr.contains("deadline"), "{on}: {}", early.stderr);
        let past = "70 canary requests, fewer than minRequests 100; inconclusive past the deadline of 1h";
        match on {
            "hold" => {
                let run = holds(r, &prometheus.url, 70, &[&format!("{past} (onInconclusive: hold)")]);
                assert!(run.stderr.contains("success-rate no value (min 99): inconclusive;"), "{}", run.stderr);
            }
            "pass" => {
                let run = promote(r, Some(&prometheus.url), 70);
                assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
                assert_eq!(subject(r), "reviews: promote ten -> half (stage 2 of 3)");
                let body = body(r);
                assert!(
                    body.contains(&format!(
                        "success-rate no value (min 99): pass; {past} (passed by onInconclusive: pass)"
                    )),
                    "{body}"
                );
            }
            _ => {
                aborts(
                    r,
                    &prometheus.url,
                    70,
                    &[&format!(
                        "analysis: success-rate no value (min 99): fail; {past} (failed by onInconclusive: abort)"
                    )],
                );
            }
        }
    }

    // Bad data is never passed, deadline or not.
    let nan = Traffic { nan: Some((200, 60..80)), ..Traffic::steady("shop", "reviews", "v2", 80, 1.0) };
    let prometheus = Prometheus::start(&metrics(80, nan));
    let repo = release_of(&with_deadline(SUCCESS, "pass"), &prometheus.url);
    holds(
        repo.path(),
        &prometheus.url,
        70,
        &[
            "success-rate no value (min 99): inconclusive; bad data: ",
            "inconclusive past the deadline of 1h (bad data is never passed)",
        ],
    );
}

#[test]
fn status_says_a_hold_past_the_deadline() {
    let prometheus = Prometheus::start(&metrics(80, Traffic::steady("shop", "reviews", "v2", 80, 1.0)));
    let repo = release_of(&with_deadline(SUCCESS, "hold"), &prometheus.url);
    let r = repo.path();
    let json = kanari_at(r, &prometheus.url, 70, &["status", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(v[0]["status"], "waiting", "{v}");
    assert!(v[0]["why"].as_str().is_some_and(|w| w.contains("inconclusive past the deadline of 1h")), "{v}");
    // A person reading `status` sees it too, not only the check's name.
    let text = kanari_at(r, &prometheus.url, 70, &["status"]);
    assert!(text.stdout.contains("inconclusive past the deadline"), "{}{}", text.stdout, text.stderr);
}

#[test]
fn a_margin_of_0_is_an_error_at_its_line() {
    for margin in ["0", "'0%'"] {
        let repo = repo_with(&[(
            "canaries/reviews.yaml",
            &spec(&format!("      - {{name: errors, builtin: errors-vs-stable, margin: {margin}}}\n")),
        )]);
        let run = kanari_env(repo.path(), &["-C", repo.path().to_str().unwrap(), "lint"], &[]);
        assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
        assert!(run.stderr.contains("canaries/reviews.yaml:13:59: margin must be a number above 0"), "{}", run.stderr);
        assert!(run.stderr.contains("(a margin of 0 can never pass)"), "{}", run.stderr);
    }
}
