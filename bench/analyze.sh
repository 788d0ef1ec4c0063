#!/usr/bin/env bash
# `kanari analyze` over many releases against a real Prometheus on 127.0.0.1 (issue 16).
#
#   bench/analyze.sh [--releases "100 1000"] [--kanari PATH] [--kanari-before PATH] [--runs N]
#                    [--work DIR] [--reuse]
#
# For each release count N:
#   1. Istio's metrics for N releases, both versions, 40 minutes from T0 = 2026-06-01T00:00:00Z
#      every 60 s, and kube-state-metrics' pods available for both versions' Deployments (4, from
#      T0-10m) (bench/analyze_data.py writes OpenMetrics text, as tests/it/prometheus/ does),
#      backfilled with `promtool tsdb create-blocks-from openmetrics` and served by `prometheus`
#      on a free 127.0.0.1 port (retention 100y, no scrape jobs, no query log), stopped at the
#      end, also on failure;
#   2. a Git repository of the N releases, bench/svc-00000 onwards, one spec each under
#      canaries/ (replicas 4, stages 10/50/100, an analysis of success-rate min 99, latency-p99
#      max 500 and errors-vs-stable margin 1); kanari itself commits each one to its first
#      stage, `since` T0 (`KANARI_NOW=T0-3m promote`, `T0-2m`, `T0`, asking that server: a move
#      onto the canary waits until Prometheus shows its pods available), and `kanari status
#      --format json` at T0 must show all N there;
#   3. a check run: `analyze --format json` at T0+30m must judge all N releases, every check a
#      pass (exit 0); from Prometheus' own /metrics around that run: the HTTP queries it answered,
#      the time it spent answering them, its CPU time, and the engine's time by phase; and its
#      query log (on for this run only, with a SIGHUP reload before and after): each query's
#      timings, and the queries themselves, replayed below;
#   4. hyperfine (--runs, default 10, after one warm-up run): `KANARI_NOW=T0+30m kanari -C REPO
#      --prometheus URL analyze -q`, the same with `--format json` (output to /dev/null),
#      `analyze -q` at T0+30s, before the warmup has passed: nothing is judged and nothing asked,
#      the cost of reading the repository alone; and the floor of asking: curl sending the same
#      queries, 8 at a time on kept-alive connections (`curl -Z --parallel-max 8`; a query
#      longer than kanari sends in a URL goes by POST, as kanari sends it);
#   5. peak memory (GNU time's "Maximum resident set size", largest of 3 runs) of `analyze -q`.
# With --kanari-before, a second binary gets steps 3 to 5 too, on the same repository and server,
# and hyperfine runs each of its commands right after the same command of --kanari: before and
# after in one run. Making the data (OpenMetrics text, backfill, server start, specs and commits)
# is timed and reported apart; it is not part of the figures. The load average is recorded
# before and after.
#
# Needs: hyperfine, GNU time (/usr/bin/time), prometheus and promtool, curl, git, python3 (and
# cargo without --kanari). It installs nothing; on Debian: apt-get install hyperfine time
# prometheus curl. Results go to $WORK/results (hyperfine's JSON, each check run's output, query
# log and Prometheus' /metrics before and after it, summary.md, printed at the end). Options:
#   --releases "..."      the release counts (default "100 1000")
#   --kanari PATH         the kanari binary to measure (default: build this checkout's, release)
#   --kanari-before PATH  a second binary measured beside it (before/after in one run)
#   --runs N              hyperfine runs per command (default 10, at least 2)
#   --work DIR            where repositories, data and results go (default /tmp/kanari-bench-analyze)
#   --reuse               keep the repositories and Prometheus data already made in WORK
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
sizes="100 1000"
kanari=""
before=""
runs=10
work=/tmp/kanari-bench-analyze
reuse=0
while [ $# -gt 0 ]; do
  case "$1" in
    --releases) sizes="$2"; shift 2 ;;
    --kanari) kanari="$2"; shift 2 ;;
    --kanari-before) before="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    -h|--help) sed -n '2,47p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/analyze.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
[ "$runs" -ge 2 ] 2>/dev/null || { echo "bench/analyze.sh: --runs needs a number of at least 2" >&2; exit 2; }
for n in $sizes; do
  [ "$n" -ge 1 ] 2>/dev/null || { echo "bench/analyze.sh: --releases: \`$n\` is not a positive number" >&2; exit 2; }
done

missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
/usr/bin/time --version 2>&1 | grep -q GNU || missing+=(time)
for tool in prometheus promtool curl; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/analyze.sh needs ${missing[*]}: install with   apt-get install ${missing[*]}" >&2
  exit 2
fi
for tool in git python3; do
  command -v "$tool" >/dev/null || { echo "bench/analyze.sh needs \`$tool\` on PATH" >&2; exit 2; }
done

# Git as a CI job runs it: no user or system configuration, a fixed identity and clock.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE="1780272000 +0000" GIT_COMMITTER_DATE="1780272000 +0000"
unset NO_COLOR KANARI_PROMETHEUS_URL KANARI_PROMETHEUS_TOKEN

T0=2026-06-01T00:00:00Z
NOW=2026-06-01T00:30:00Z  # the window: 1800s
EARLY=2026-06-01T00:00:30Z  # within the warmup (1m): nothing is judged

if [ -z "$kanari" ]; then
  echo "== building (release)"
  (cd "$here" && cargo build --release --locked --quiet)
  kanari="$here/target/release/kanari"
fi
kanari=$(realpath "$kanari")
[ -x "$kanari" ] || { echo "bench/analyze.sh: --kanari: \`$kanari\` is not an executable" >&2; exit 2; }
if [ -n "$before" ]; then
  before=$(realpath "$before")
  [ -x "$before" ] || { echo "bench/analyze.sh: --kanari-before: \`$before\` is not an executable" >&2; exit 2; }
fi
data_py="$here/bench/analyze_data.py"

mkdir -p "$work"
work=$(realpath "$work")
results="$work/results"
rm -rf "$results"
mkdir -p "$results"

# The server running now, stopped on any exit.
server_pid=""
stop_server() {
  [ -n "$server_pid" ] || return 0
  kill "$server_pid" 2>/dev/null || true
  # Bounded: 10 s for a clean stop, then KILL.
  for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}
trap stop_server EXIT
trap 'exit 130' INT TERM

secs() { # the seconds since START (date +%s.%N)
  python3 -c "import sys, time; print(f'{time.time() - float(sys.argv[1]):.1f}')" "$1"
}

{
  echo "nproc=$(nproc)"
  echo "memory=$(free -m | awk '/^Mem:/ {print $2}') MiB"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel=$(uname -r)"
  echo "kanari=$kanari ($("$kanari" --version | head -1), sha256 $(sha256sum "$kanari" | cut -c1-12))"
  [ -z "$before" ] || echo "kanari_before=$before ($("$before" --version | head -1), sha256 $(sha256sum "$before" | cut -c1-12))"
  if git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
    echo "checkout=$(git -C "$here" describe --always --dirty --exclude '*')"
  fi
  echo "prometheus=$(prometheus --version 2>&1 | head -1)"
  echo "hyperfine=$(hyperfine --version)"
  echo "runs=$runs"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$results/machine.txt"
cat "$results/machine.txt"

make_repo() { # N DIR: the promotes ask the server at $url for the pods available (readiness)
  local n=$1 dir=$2 start
  if [ "$reuse" = 1 ] && [ -f "$dir/.done" ]; then echo "   reusing $dir"; return; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  start=$(date +%s.%N)
  python3 "$data_py" specs "$n" "$dir"
  git -C "$dir" init -q -b main
  git -C "$dir" add -A
  git -C "$dir" commit -q -m "specs"
  # steady, prepare, then the first stage at T0 (prepare's warmup, 1m, has passed by then).
  for at in 2026-05-31T23:57:00Z 2026-05-31T23:58:00Z "$T0"; do
    KANARI_NOW=$at "$kanari" -C "$dir" -q --color never --prometheus "$url" promote > /dev/null
  done
  echo "repo_seconds=$(secs "$start")" > "$dir/.done"
}

check_repo() { # N DIR: every release at `ten` since T0 (status at T0: within the warmup, nothing judged)
  KANARI_NOW=$T0 "$kanari" -C "$2" --color never --prometheus "$url" status --format json | python3 -c '
import json, sys
n, t0 = int(sys.argv[1]), sys.argv[2]
rows = json.load(sys.stdin)
wrong = [r["name"] for r in rows if (r["stage"], r["since"]) != ("ten", t0)]
if len(rows) != n or wrong:
    sys.exit(f"{len(rows)} releases (expected {n}); not at `ten` since {t0}: {wrong[:5]}")
' "$1" "$T0"
}

make_data() { # N DIR
  local n=$1 dir=$2 start
  if [ "$reuse" = 1 ] && [ -f "$dir/.done" ]; then echo "   reusing $dir"; return; fi
  rm -rf "$dir"
  mkdir -p "$dir"
  start=$(date +%s.%N)
  python3 "$data_py" openmetrics "$n" "$dir/series.om"
  local generate lines bytes
  generate=$(secs "$start")
  lines=$(wc -l < "$dir/series.om")
  bytes=$(stat -c %s "$dir/series.om")
  start=$(date +%s.%N)
  promtool tsdb create-blocks-from openmetrics "$dir/series.om" "$dir/data" > "$dir/promtool.log" 2>&1 \
    || { echo "promtool failed:" >&2; tail -20 "$dir/promtool.log" >&2; exit 1; }
  {
    echo "generate_seconds=$generate"
    echo "openmetrics_lines=$lines"
    echo "openmetrics_bytes=$bytes"
    echo "backfill_seconds=$(secs "$start")"
    echo "tsdb_bytes=$(du -sb "$dir/data" | cut -f1)"
  } > "$dir/.done.tmp"
  rm -f "$dir/series.om"
  mv "$dir/.done.tmp" "$dir/.done"
}

config() { # DIR [QUERY-LOG]: the server's configuration, with a query log or without
  printf 'global:\n  evaluation_interval: 1m\n' > "$1/prometheus.yml"
  [ -z "${2:-}" ] || printf '  query_log_file: %s\n' "$2" >> "$1/prometheus.yml"
}

# Reloads the configuration (SIGHUP) and waits, at most 10 s, until the server says it has.
reload() {
  local before
  before=$(server_metrics | awk '/^prometheus_config_last_reload_success_timestamp_seconds/ {print $2}')
  sleep 1  # the timestamp has whole seconds
  kill -HUP "$server_pid"
  for _ in $(seq 100); do
    [ "$(server_metrics | awk '/^prometheus_config_last_reload_success_timestamp_seconds/ {print $2}')" != "$before" ] && return
    sleep 0.1
  done
  echo "prometheus did not reload its configuration; its log:" >&2
  tail -5 "$prom/prometheus.log" >&2
  exit 1
}

start_server() { # DIR: serves DIR/data on a free port, without a query log; sets url
  local dir=$1 port start
  config "$dir"
  start=$(date +%s.%N)
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  prometheus --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
    --web.listen-address="127.0.0.1:$port" --storage.tsdb.retention.time=100y \
    > "$dir/prometheus.log" 2>&1 < /dev/null &
  server_pid=$!
  url="http://127.0.0.1:$port"
  # Ready within 60 s, polled every 100 ms.
  for _ in $(seq 600); do
    if curl -fsS -m 1 "$url/-/ready" > /dev/null 2>&1; then
      echo "ready_seconds=$(secs "$start")" >> "$results/data-$n.txt"
      return
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "prometheus on port $port is not ready; its log:" >&2
  tail -20 "$dir/prometheus.log" >&2
  exit 1
}

# The server's own counters, as `name{labels} value` lines.
server_metrics() { curl -fsS -m 10 "$url/metrics"; }

# The check run of one binary (TAG: N, or N-before): `analyze --format json` at NOW must judge
# all N releases, every check a pass; with the query log on, and the server's counters around it.
check_run() { # TAG BINARY
  local tag=$1 bin=$2 code=0
  rm -f "$prom/queries.log"
  config "$prom" "$prom/queries.log"
  reload
  server_metrics > "$results/metrics-before-$tag.txt"
  /usr/bin/time -f 'wall=%e user=%U sys=%S rss_kib=%M' -o "$results/time-check-$tag.txt" \
    env KANARI_NOW=$NOW "$bin" -C "$repo" --color never --prometheus "$url" analyze --format json \
    > "$results/analyze-$tag.json" || code=$?
  server_metrics > "$results/metrics-after-$tag.txt"
  [ "$code" = 0 ] || { echo "$bin: analyze exited $code (expected 0, every check a pass)" >&2; exit 1; }
  python3 "$data_py" check-json "$n" "$results/analyze-$tag.json"
  config "$prom"
  reload
  cp "$prom/queries.log" "$results/queries-$tag.log"
  python3 "$data_py" curl-config "$results/queries-$tag.log" "$url" > "$results/curl-$tag.cfg"
}

add_cmds() { # SUFFIX TAG BINARY: hyperfine's four commands for one binary, appended to cmds
  local suffix=$1 tag=$2 bin=$3
  cmds+=(-n "analyze -q$suffix" "env KANARI_NOW=$NOW $bin -C $repo --color never --prometheus $url analyze -q")
  cmds+=(-n "analyze --format json$suffix" "env KANARI_NOW=$NOW $bin -C $repo --color never --prometheus $url analyze --format json")
  cmds+=(-n "analyze -q, nothing judged$suffix" "env KANARI_NOW=$EARLY $bin -C $repo --color never --prometheus $url analyze -q")
  cmds+=(-n "curl, the same queries$suffix" "curl -fsS --no-progress-meter -Z --parallel-max 8 -K $results/curl-$tag.cfg")
}

peak_rss() { # BINARY: the largest of 3 runs' maximum resident set size, in KiB
  local bin=$1 rss=0 r
  for _ in 1 2 3; do
    /usr/bin/time -f '%M' -o "$results/rss.tmp" env KANARI_NOW=$NOW "$bin" -C "$repo" --color never \
      --prometheus "$url" analyze -q > /dev/null
    r=$(cat "$results/rss.tmp")
    [ "$r" -gt "$rss" ] && rss=$r
  done
  rm -f "$results/rss.tmp"
  echo "$rss"
}

for n in $sizes; do
  echo "== $n releases"
  repo="$work/repo-$n"
  prom="$work/prometheus-$n"
  # The data first: the promotes that make the repository wait for the pods Prometheus shows.
  make_data "$n" "$prom"
  cp "$prom/.done" "$results/data-$n.txt"
  start_server "$prom"
  echo "   prometheus at $url"
  make_repo "$n" "$repo"
  check_repo "$n" "$repo"
  cat "$repo/.done" >> "$results/data-$n.txt"

  # The check run of each binary, then hyperfine on both, each command after the other's.
  check_run "$n" "$kanari"
  cmds=()
  add_cmds "" "$n" "$kanari"
  if [ -n "$before" ]; then
    check_run "$n-before" "$before"
    add_cmds " (before)" "$n-before" "$before"
    # after, before, after, before...: a drift of the machine's load touches both alike.
    interleaved=()
    for k in 0 1 2 3; do  # each command is 3 words: -n NAME COMMAND
      interleaved+=("${cmds[@]:$((k * 3)):3}" "${cmds[@]:$((12 + k * 3)):3}")
    done
    cmds=("${interleaved[@]}")
  fi

  load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  hyperfine -N --style basic --warmup 1 --runs "$runs" --export-json "$results/hyperfine-$n.json" "${cmds[@]}" \
    > "$results/hyperfine-$n.log" 2>&1 \
    || { echo "hyperfine failed; see $results/hyperfine-$n.log" >&2; tail -20 "$results/hyperfine-$n.log" >&2; exit 1; }
  load_after=$(cut -d' ' -f1-3 /proc/loadavg)
  {
    echo "load_before=$load_before"
    echo "load_after=$load_after"
  } >> "$results/data-$n.txt"

  echo "rss_kib=$(peak_rss "$kanari")" >> "$results/data-$n.txt"
  [ -z "$before" ] || echo "rss_kib_before=$(peak_rss "$before")" >> "$results/data-$n.txt"
  stop_server
done

python3 "$data_py" summary "$results" $sizes | tee "$results/summary.md"
