#!/usr/bin/env python3
"""Data for bench/analyze.sh: N Canary specs, and Istio's metrics for them as OpenMetrics text.

    analyze_data.py specs N DIR              writes DIR/canaries/svc-NNNNN.yaml
    analyze_data.py openmetrics N FILE       writes the series promtool backfills
    analyze_data.py check-json N FILE        `analyze --format json` judged N releases, all passing
    analyze_data.py curl-config LOG URL      a curl config asking URL the queries of a query log
    analyze_data.py summary RESULTS N...     the figures of a run of bench/analyze.sh, as Markdown

Deterministic: the same N gives the same bytes. The series follow tests/it/prometheus/
openmetrics.rs: the reporter="destination" side of istio_requests_total (response codes 200 and
503) and of istio_request_duration_milliseconds (a histogram with Istio's default buckets, per
response code), for `<name>-v1` (stable) and `<name>-v2` (canary) in namespace `bench`, sampled
every 60 s for 40 minutes from 2026-06-01T00:00:00Z. Every release is healthy: 0.1 % of requests
fail on both versions and latencies stay well under 500 ms, so every check passes. And, as
kube-state-metrics reports it, kube_deployment_status_replicas_available{namespace, deployment}
of both versions' Deployments: 4 pods (the spec's replicas) every 60 s from T0-10m, so that
`promote` (which waits for the pods a move needs, with an analysis) moves the releases to
their first stage at T0.
"""

import json
import math
import re
import sys
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

NAMESPACE = "bench"
T0 = 1780272000  # 2026-06-01T00:00:00Z
MINUTES = 40
STEP = 60
REPLICAS = 4  # the spec's replicas: every Deployment shows them all available
READY_FROM = T0 - 10 * 60  # the readiness series start before the promotes (T0-3m to T0)
ERROR_RATIO = 0.001
# Istio's default buckets for istio_request_duration_milliseconds, in ms (+Inf follows).
BUCKETS = [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000,
           300000, 600000, 1800000, 3600000]

SPEC = """apiVersion: kanari.dev/v1alpha1
kind: Canary
metadata: {{name: {name}, namespace: {ns}}}
spec:
  service: {{port: 8080}}
  stable: {{version: v1, image: registry.example.com/{name}:1}}
  canary: {{version: v2, image: registry.example.com/{name}:2}}
  replicas: {replicas}
  analysis:
    minRequests: 100
    metrics:
      - {{name: success-rate, builtin: success-rate, min: 99}}
      - {{name: latency, builtin: latency-p99, max: 500}}
      - {{name: errors, builtin: errors-vs-stable, margin: 1}}
  stages:
    - {{name: ten, weight: 10}}
    - {{name: half, weight: 50}}
    - {{name: all, weight: 100}}
"""


def name(i):
    return f"svc-{i:05d}"


def specs(n, root):
    folder = Path(root) / "canaries"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{name(i)}.yaml").write_text(SPEC.format(name=name(i), ns=NAMESPACE, replicas=REPLICAS))


def fmt(v):
    """A number as OpenMetrics writes it: whole numbers without a fraction."""
    return str(int(v)) if float(v).is_integer() else repr(float(v))


def rounded(v):
    """Rounded half away from zero, as Rust's f64::round (Python's round() rounds half to even)."""
    return math.floor(v + 0.5)


def within(le, low, high):
    """The share of requests spread evenly over low..high that take at most `le` ms."""
    if le >= high:
        return 1.0
    if le < low:
        return 0.0
    return (le - low) / (high - low)


def workloads(i):
    """(version, requests a minute, mean latency ms, spread ms) of release i's two versions:
    stable 500-1,490 a minute, the canary a ninth of it (a 10 % stage)."""
    stable = 500 + (i * 37) % 1000
    mean = 60 + (i * 13) % 80
    return [("v1", stable, mean, mean / 2), ("v2", stable / 9, mean + 5, mean / 2)]


def series(n):
    """(labels, requests a minute, mean, spread) of each series set: release, version, code."""
    for i in range(n):
        app = name(i)
        for version, rpm, mean, spread in workloads(i):
            for code, share in ((200, 1 - ERROR_RATIO), (503, ERROR_RATIO)):
                labels = (f'reporter="destination",destination_workload_namespace="{NAMESPACE}",'
                          f'destination_workload="{app}-{version}",destination_app="{app}",'
                          f'destination_canonical_revision="{version}",destination_service_name="{app}",'
                          f'response_code="{code}"')
                yield labels, rpm * share, mean, spread


def openmetrics(n, path):
    samples = MINUTES * 60 // STEP + 1
    times = [T0 + k * STEP for k in range(samples)]
    elapsed = [k * STEP / 60 for k in range(samples)]
    sets = list(series(n))
    with open(path, "w") as out:
        w = out.write
        w("# HELP istio_requests Total number of requests.\n# TYPE istio_requests counter\n")
        for labels, rpm, _, _ in sets:
            for t, e in zip(times, elapsed):
                w(f"istio_requests_total{{{labels}}} {fmt(rounded(rpm * e))} {t}\n")
        w("# HELP istio_request_duration_milliseconds Request duration in milliseconds.\n"
          "# TYPE istio_request_duration_milliseconds histogram\n")
        for labels, rpm, mean, spread in sets:
            shares = [within(le, mean - spread, mean + spread) for le in BUCKETS]
            acc = [0.0] * len(BUCKETS)
            count = total_ms = 0.0
            for t, e in zip(times, elapsed):
                total = rounded(rpm * e)
                new = total - count
                for b, share in enumerate(shares):
                    acc[b] += new * share
                count = total
                total_ms += new * mean
                for le, a in zip(BUCKETS, acc):
                    w(f'istio_request_duration_milliseconds_bucket{{{labels},le="{fmt(le)}"}} '
                      f"{fmt(min(rounded(a), count))} {t}\n")
                w(f'istio_request_duration_milliseconds_bucket{{{labels},le="+Inf"}} {fmt(count)} {t}\n')
                w(f"istio_request_duration_milliseconds_sum{{{labels}}} {fmt(total_ms)} {t}\n")
                w(f"istio_request_duration_milliseconds_count{{{labels}}} {fmt(count)} {t}\n")
        w("# HELP kube_deployment_status_replicas_available The number of available replicas.\n"
          "# TYPE kube_deployment_status_replicas_available gauge\n")
        ready = range(READY_FROM, T0 + MINUTES * 60 + 1, STEP)
        for i in range(n):
            for version, *_ in workloads(i):
                labels = f'namespace="{NAMESPACE}",deployment="{name(i)}-{version}"'
                for t in ready:
                    w(f"kube_deployment_status_replicas_available{{{labels}}} {REPLICAS} {t}\n")
        w("# EOF\n")


def check_json(n, path):
    rows = json.loads(Path(path).read_text())
    if len(rows) != n:
        sys.exit(f"{path}: {len(rows)} releases judged, expected {n}")
    for row in rows:
        verdicts = [c["verdict"] for c in row["checks"]]
        if row["window"] != "1800s" or verdicts != ["pass"] * 3:
            sys.exit(f"{path}: {row['name']}: window {row['window']}, verdicts {verdicts}")


def query_log(path):
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


def unix(rfc3339):
    return f"{datetime.fromisoformat(rfc3339.replace('Z', '+00:00')).timestamp():.3f}"


# kanari sends a query whose parameters are longer than this in a POST form body (src/prometheus.rs).
LONGEST_URL = 4096


def curl_config(log, url):
    """The queries of a Prometheus query log as a curl config (`curl -Z -K FILE`), answers to
    /dev/null. As kanari sends them: a query whose parameters are longer than LONGEST_URL goes
    by POST, each such one in its own `next` group (a group's `data` would make all its URLs
    POSTs), after the GETs; -Z runs the groups in parallel too."""
    gets, posts = [], []
    for entry in query_log(log):
        p = entry["params"]
        params = {"query": p["query"]}
        if p["step"] == 0:
            path = "/api/v1/query"
            params["time"] = unix(p["end"])
        else:
            path = "/api/v1/query_range"
            params.update(start=unix(p["start"]), end=unix(p["end"]), step=str(p["step"]))
        encoded = "&".join(f"{k}={quote(v, safe='')}" for k, v in params.items())
        if sum(len(k) + len(v) for k, v in params.items()) > LONGEST_URL:
            posts.append(f'url = "{url}{path}"\ndata = "{encoded}"')
        else:
            gets.append(f'url = "{url}{path}?{encoded}"\noutput = "/dev/null"')
    groups = ["\n".join(gets)] if gets else []
    # Options before the first `next` come from the command line too; a later group has only
    # its own.
    groups += [f'{post}\noutput = "/dev/null"\nfail\nsilent\nshow-error' for post in posts]
    print("\nnext\n".join(groups))


def kind(query):
    """What a builtin's query reads, from its text: one measure for every release at once
    (kanari since Analysis II: parts tagged `kanari_span`), else one release's check."""
    if "kanari_span" in query:
        if "sum_over_time" in query:
            return "all releases: every sample of the window (NaN check)"
        if "istio_request_duration_milliseconds_bucket" in query:
            return "all releases: latency histograms"
        if "destination_canonical_revision" in query:
            return "all releases: traffic share"
        return "all releases: " + ("5xx" if "response_code=~" in query else "requests")
    if query.startswith("max by (namespace, deployment)"):
        return "all releases: pods available (readiness)"
    if query.startswith("histogram_quantile"):
        return "latency-p99"
    errors = "response_code=~" in query
    if query.startswith("sum by (destination_workload)"):
        return "errors-vs-stable: " + ("5xx" if errors else "requests")
    return "success-rate: 5xx" if errors else "canary requests (minRequests)"


def server_metrics(path):
    """{'name{labels}': value} of a Prometheus /metrics page."""
    out = {}
    for line in Path(path).read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.rpartition(" ")
            out[key] = float(value)
    return out


def keyvalues(path):
    return dict(line.split("=", 1) for line in Path(path).read_text().split("\n") if "=" in line)


def ms(seconds):
    v = seconds * 1000
    return f"{v / 1000:.2f} s" if v >= 1000 else f"{v:.0f} ms" if v >= 10 else f"{v:.1f} ms"


def summary(results, sizes):
    results = Path(results)
    machine = keyvalues(results / "machine.txt")
    print(f"kanari: {machine.get('kanari')}; {machine.get('prometheus')}; nproc {machine.get('nproc')}; "
          f"{machine.get('runs')} runs after 1 warm-up; {machine.get('date')}\n")
    if "kanari_before" in machine:
        print(f"before: {machine['kanari_before']}, on the same repository and server; each of its "
              "commands run right after the same command of kanari\n")
    # Each binary's figures: (row label, file tag, suffix of its hyperfine commands, rss key).
    binaries = []
    for n in sizes:
        binaries.append((f"{int(n):,}", n, "", "rss_kib"))
        if (results / f"analyze-{n}-before.json").exists():
            binaries.append((f"{int(n):,}, before", f"{n}-before", " (before)", "rss_kib_before"))

    def size(tag):
        return int(tag.split("-")[0])

    print("| releases | analyze -q | analyze --format json | nothing judged (reading the repository) "
          "| curl, the same queries | peak memory | load average before / after |")
    print("|---|---|---|---|---|---|---|")
    for label, tag, suffix, rss_key in binaries:
        n = size(tag)
        runs = {r["command"]: r for r in json.loads((results / f"hyperfine-{n}.json").read_text())["results"]}
        data = keyvalues(results / f"data-{n}.txt")
        cells = []
        for name in ("analyze -q", "analyze --format json", "analyze -q, nothing judged", "curl, the same queries"):
            r = runs[name + suffix]
            cells.append(f"{ms(r['median'])} ({ms(r['min'])}–{ms(r['max'])})")
        rss = int(data[rss_key]) / 1024
        print(f"| {label} | " + " | ".join(cells) + f" | {rss:.0f} MiB | {data['load_before']} / {data['load_after']} |")

    print("\nOne `analyze --format json` run, seen from both sides (the server's counters before and after):\n")
    print("| releases | HTTP queries (instant + range) | per release | TCP connections | kanari wall | kanari CPU (user + sys) "
          "| Prometheus CPU | Prometheus time answering (sum) | per query (mean) | engine: prepare / inner eval / queue (sum) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for label, tag, _, _ in binaries:
        n = size(tag)
        before = server_metrics(results / f"metrics-before-{tag}.txt")
        after = server_metrics(results / f"metrics-after-{tag}.txt")

        def delta(pattern):
            return sum(v - before.get(k, 0.0) for k, v in after.items() if re.fullmatch(pattern, k))

        instant = delta(r'prometheus_http_requests_total\{code="200",handler="/api/v1/query"\}')
        ranged = delta(r'prometheus_http_requests_total\{code="200",handler="/api/v1/query_range"\}')
        answering = delta(r'prometheus_http_request_duration_seconds_sum\{handler="/api/v1/query(_range)?"\}')
        cpu = delta(r"process_cpu_seconds_total")
        # The scrape of /metrics after the run opened one of them.
        connections = delta(r'net_conntrack_listener_conn_accepted_total\{listener_name="http"\}') - 1
        slices = [delta(r'prometheus_engine_query_duration_seconds_sum\{slice="%s"\}' % s)
                  for s in ("prepare_time", "inner_eval", "queue_time")]
        t = dict(kv.split("=") for kv in (results / f"time-check-{tag}.txt").read_text().split())
        queries = instant + ranged
        print(f"| {label} | {queries:,.0f} ({instant:,.0f} + {ranged:,.0f}) | {queries / n:.3g} | {connections:,.0f} "
              f"| {ms(float(t['wall']))} | {ms(float(t['user']) + float(t['sys']))} | {ms(cpu)} "
              f"| {ms(answering)} | {ms(answering / max(queries, 1))} | "
              + " / ".join(ms(x) for x in slices) + " |")

    print("\nEach query as Prometheus' query log timed it in the check run (execTotalTime: waiting for a "
          "slot, preparing, evaluating; the slots are the server's, 20 by default):\n")
    print("| releases | query | count | median | p90 | max | sum | samples read (median) |")
    print("|---|---|---|---|---|---|---|---|")
    for label, tag, _, _ in binaries:
        by = {}
        for e in query_log(results / f"queries-{tag}.log"):
            by.setdefault(kind(e["params"]["query"]), []).append(e["stats"])
        for k, stats in sorted(by.items()):
            t = sorted(s["timings"]["execTotalTime"] for s in stats)
            read = sorted(s.get("samples", {}).get("totalQueryableSamples", 0) for s in stats)
            print(f"| {label} | {k} | {len(t):,} | {ms(t[len(t) // 2])} | {ms(t[len(t) * 9 // 10])} "
                  f"| {ms(t[-1])} | {ms(sum(t))} | {read[len(read) // 2]:,} |")

    print("\nMaking the data (not in the figures):\n")
    print("| releases | specs + 3 promotes (3 × N commits) | OpenMetrics text | backfill (promtool) "
          "| TSDB | server ready |")
    print("|---|---|---|---|---|---|")
    for n in sizes:
        d = keyvalues(results / f"data-{n}.txt")
        print(f"| {int(n):,} | {d['repo_seconds']} s | {int(d['openmetrics_lines']):,} lines, "
              f"{int(d['openmetrics_bytes']) / 2**20:.0f} MiB, {d['generate_seconds']} s | {d['backfill_seconds']} s "
              f"| {int(d['tsdb_bytes']) / 2**20:.1f} MiB | {d['ready_seconds']} s |")


def main(argv):
    if len(argv) < 3 or argv[1] not in ("specs", "openmetrics", "check-json", "curl-config", "summary"):
        sys.exit(__doc__)
    if argv[1] == "summary":
        summary(argv[2], argv[3:])
        return
    if argv[1] == "curl-config" and len(argv) == 4:
        curl_config(argv[2], argv[3])
        return
    if len(argv) != 4:
        sys.exit(__doc__)
    n = int(argv[2])
    {"specs": specs, "openmetrics": openmetrics, "check-json": check_json}[argv[1]](n, argv[3])


if __name__ == "__main__":
    main(sys.argv)
