#!/usr/bin/env bash
# Same-run before/after of two kanari builds on the repositories bench/run.sh made (in
# /tmp/kanari-bench): lint, render, diff, status, plan and the named runs at 1,000 and 5,000
# releases (spread and one-folder, packed), and promote in the padded repositories.
#
#   bash bench/compare.sh OLD_BINARY NEW_BINARY RESULTS_DIR    (after bench/run.sh --sizes "1000 5000")
set -euo pipefail
OLD=$1 NEW=$2 OUT=$3
B=/tmp/kanari-bench
mkdir -p "$OUT"
for r in spread-packed-1000 one-folder-packed-1000 spread-packed-5000 one-folder-packed-5000; do
  R=$B/repo-$r
  runs=10; [[ $r == *5000 ]] && runs=5
  for c in lint render diff status plan "status team-00/svc-00000" "diff team-00/svc-00000"; do
    name="$r-${c// /_}"; name=${name//\//_}
    hyperfine -N -w1 -r$runs --export-json "$OUT/$name.json" -n before "$OLD -C $R --color never $c" -n after "$NEW -C $R --color never $c" -i >/dev/null 2>&1 || true
  done
done
for layout in spread one-folder; do
  P=$B/repo-$layout-padded; S=$(git -C $P rev-parse HEAD)
  hyperfine -N -w1 -r10 --export-json "$OUT/padded-$layout-promote.json" --prepare "git -C $P reset -q --hard $S" \
    -n before "$OLD -C $P -q promote team-00/svc-00000" -n after "$NEW -C $P -q promote team-00/svc-00000" >/dev/null 2>&1
  git -C $P reset -q --hard $S
done
python3 - "$OUT" <<'PY'
import json, os, sys
out = sys.argv[1]
print("| case | before | after | after ÷ before |")
print("|---|---|---|---|")
for name in sorted(os.listdir(out)):
    rs = {r["command"]: r for r in json.load(open(os.path.join(out, name)))["results"]}
    b, a = rs["before"], rs["after"]
    f = lambda r: f'{r["median"]*1000:.0f} ms ({r["min"]*1000:.0f}–{r["max"]*1000:.0f})'
    print(f'| {name[:-5]} | {f(b)} | {f(a)} | {a["median"]/b["median"]:.2f}× |')
PY
