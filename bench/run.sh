#!/usr/bin/env bash
# kanari's benchmark suite: kanari against the baselines on the same synthetic repositories.
#
#   bench/run.sh [--sizes "10 100 1000 5000"] [--no-5000] [--work DIR] [--kanari PATH] [--reuse] [--quick]
#
# For each size N it makes a repository with N releases (examples/synth.rs), then measures with
# hyperfine, in one run:
#   - kanari lint; kanari render (every overlay up to date, and with every resource file
#     deleted first so that each is written again); kanari diff (all releases against HEAD);
#   - kubectl kustomize over the same overlays, one process per overlay as CI scripts run it
#     (all of them up to 100 overlays; above that an even sample of 100, scaled up to N);
#   - the floor: cp -r of the overlay trees, and cat of every overlay file;
#   - peak memory (GNU time's "Maximum resident set size") of lint, render and diff.
# Then, in a repository of 1,000 releases padded with 100,000 unrelated files and 3,000 commits:
#   - kanari promote of one release, against `git add <dir> && git commit` of the same change,
#     both reset with `git reset --hard` to the same commit before each run.
#
# Needs: hyperfine, GNU time (/usr/bin/time), git, kubectl, python3, cargo. It installs nothing;
# on Debian: apt-get install hyperfine time. Results (hyperfine's JSON and a summary) go to
# $WORK/results; the summary is printed at the end. Options:
#   --sizes "..."  the release counts (default "10 100 1000 5000")
#   --no-5000      leave out 5,000 (the longest part: about a third of the run)
#   --work DIR     where repositories and results go (default /tmp/kanari-bench)
#   --kanari PATH  a kanari binary to measure instead of building this checkout's
#   --reuse        keep repositories already generated in WORK (same sizes, same seed)
#   --quick        fewer runs (a smoke test of the script, not figures to publish)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
sizes="10 100 1000 5000"
work=/tmp/kanari-bench
kanari=""
reuse=0
quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --no-5000) sizes=$(echo "$sizes" | tr ' ' '\n' | grep -vx 5000 | tr '\n' ' '); shift ;;
    --work) work="$2"; shift 2 ;;
    --kanari) kanari="$2"; shift 2 ;;
    --reuse) reuse=1; shift ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done

# ---- tools ---------------------------------------------------------------------------------
missing=()
command -v hyperfine >/dev/null || missing+=(hyperfine)
if ! /usr/bin/time --version 2>&1 | grep -q GNU; then missing+=(time); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench/run.sh needs ${missing[*]}: install with   apt-get install hyperfine time" >&2
  exit 2
fi
for tool in git kubectl python3 cargo; do
  command -v "$tool" >/dev/null || { echo "bench/run.sh needs \`$tool\` on PATH" >&2; exit 2; }
done

# Git as a CI job runs it: no user or system configuration, a fixed identity and clock.
export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=/dev/null
export GIT_AUTHOR_NAME=Bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=Bench GIT_COMMITTER_EMAIL=bench@example.com
export GIT_AUTHOR_DATE="1769904000 +0000" GIT_COMMITTER_DATE="1769904000 +0000"
export KANARI_NOW=2026-02-01T00:00:00Z
unset NO_COLOR

echo "== building (release)"
(cd "$here" && cargo build --release --quiet --example synth)
if [ -z "$kanari" ]; then
  (cd "$here" && cargo build --release --quiet)
  kanari="$here/target/release/kanari"
fi
kanari=$(realpath "$kanari")
synth="$here/target/release/examples/synth"

mkdir -p "$work"
work=$(realpath "$work")
results="$work/results"
rm -rf "$results"
mkdir -p "$results"
scratch="$work/scratch"

if [ "$quick" = 1 ]; then runs=3; big_runs=2; kust_runs=1; promote_runs=3; else runs=10; big_runs=5; kust_runs=3; promote_runs=10; fi

{
  echo "nproc=$(nproc)"
  echo "memory=$(free -m | awk '/^Mem:/ {print $2}') MiB"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel=$(uname -r)"
  if git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
    echo "kanari=$kanari (checkout $(git -C "$here" describe --always --dirty --exclude '*'), $(git -C "$here" status --porcelain -- src templates Cargo.toml | wc -l) uncommitted files in src/, templates/, Cargo.toml)"
  else
    echo "kanari=$kanari (built from $here, not a git checkout)"
  fi
  echo "hyperfine=$(hyperfine --version)"
  echo "git=$(git --version)"
  echo "kubectl=$(kubectl version --client 2>/dev/null | head -1)"
  echo "sizes=$sizes"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$results/machine.txt"
cat "$results/machine.txt"

make_repo() { # DIR ARGS...
  local dir=$1; shift
  if [ "$reuse" = 1 ] && [ -d "$dir/.git" ]; then
    echo "   reusing $dir"
    git -C "$dir" reset -q --hard && git -C "$dir" clean -qfd
    return
  fi
  rm -rf "$dir"
  "$synth" --kanari "$kanari" --out "$dir" "$@"
}

# hyperfine with our defaults; NAME is the JSON file's name.
hf() { # NAME RUNS ARGS...
  local name=$1 n=$2; shift 2
  hyperfine --style basic --warmup 1 --runs "$n" --export-json "$results/$name.json" "$@" >> "$results/hyperfine.log" 2>&1 \
    || { echo "hyperfine failed for $name; see $results/hyperfine.log" >&2; tail -20 "$results/hyperfine.log" >&2; exit 1; }
}

# Peak memory (GNU time -v's "Maximum resident set size", KiB), the largest of three runs.
peak() { # NAME CMD...
  local name=$1; shift
  local max=0 kb
  for _ in 1 2 3; do
    /usr/bin/time -v -o "$work/time.txt" "$@" > /dev/null 2>&1 || true
    kb=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$work/time.txt")
    [ "${kb:-0}" -gt "$max" ] && max=$kb
  done
  echo "$name $max" >> "$results/memory.txt"
}

for n in $sizes; do
  repo="$work/repo-$n"
  echo "== $n releases"
  make_repo "$repo" --releases "$n"
  r=$runs; [ "$n" -ge 5000 ] && r=$big_runs
  # The overlay folders and their files, as the generator committed them.
  git -C "$repo" ls-files -- '*kustomization.yaml' | xargs -n1 dirname > "$work/dirs-$n.txt"
  (cd "$repo" && xargs -a "$work/dirs-$n.txt" git ls-files --) > "$work/files-$n.txt"
  grep -v '/kustomization.yaml$' "$work/files-$n.txt" > "$work/resources-$n.txt"
  count=$(wc -l < "$work/dirs-$n.txt")
  files=$(wc -l < "$work/files-$n.txt")
  bytes=$(cd "$repo" && xargs -a "$work/files-$n.txt" cat | wc -c)
  echo "$n overlays=$count files=$files bytes=$bytes" >> "$results/sizes.txt"

  K="$kanari -C $repo --color never"
  hf "$n-lint" "$r" -n lint "$K lint"
  hf "$n-render" "$r" -n render "$K render"
  # Every resource file deleted (the kustomization.yaml with the state stays): each is written again.
  hf "$n-render-write" "$r" -n render-write \
    --prepare "cd $repo && xargs -a $work/resources-$n.txt rm -f --" \
    "$K render"
  git -C "$repo" checkout -q -- . && git -C "$repo" diff --quiet || { echo "render changed the committed overlays of repo-$n" >&2; exit 1; }
  hf "$n-diff" "$r" -n diff "$K diff"
  hf "$n-cp" "$r" -n "cp -r" --prepare "rm -rf $scratch && mkdir -p $scratch" \
    "cd $repo && xargs -a $work/dirs-$n.txt cp -r --parents -t $scratch"
  hf "$n-cat" "$r" -n cat "cd $repo && xargs -a $work/files-$n.txt cat > /dev/null"

  # kubectl kustomize: every overlay up to 100, else an even sample of 100 (scaled up in the summary).
  if [ "$count" -le 100 ]; then
    cp "$work/dirs-$n.txt" "$work/kdirs-$n.txt"
  else
    awk -v step="$((count / 100))" 'NR % step == 1 || step == 1' "$work/dirs-$n.txt" | head -100 > "$work/kdirs-$n.txt"
  fi
  echo "$n kustomize_overlays=$(wc -l < "$work/kdirs-$n.txt") of $count" >> "$results/sizes.txt"
  hf "$n-kustomize" "$kust_runs" -n "kubectl kustomize" \
    "cd $repo && while read -r d; do kubectl kustomize \"\$d\" > /dev/null || exit 1; done < $work/kdirs-$n.txt"

  for cmd in lint render diff; do
    # diff exits 1 when something differs; the repositories are clean, so it exits 0.
    peak "$n-$cmd" $K "$cmd"
  done
done

# ---- promote in a padded repository -----------------------------------------------------------
echo "== promote: 1,000 releases, 100,000 more files, 3,000 more commits"
pad="$work/repo-padded"
make_repo "$pad" --releases 1000 --padding-files 100000 --padding-commits 3000
target=team-00/svc-00000
outdir=overlays/team-00/svc-00000
saved=$(git -C "$pad" rev-parse HEAD)
echo "padded tracked_files=$(git -C "$pad" ls-files | wc -l) commits=$(git -C "$pad" rev-list --count HEAD)" >> "$results/sizes.txt"
# The change promote makes, kept to replay it with git.
$kanari -C "$pad" -q promote "$target"
rm -rf "$work/promoted" && cp -r "$pad/$outdir" "$work/promoted"
git -C "$pad" reset -q --hard "$saved"
hf promote-kanari "$promote_runs" -n "kanari promote" \
  --prepare "git -C $pad reset -q --hard $saved" \
  "$kanari -C $pad -q promote $target"
hf promote-git "$promote_runs" -n "git add + git commit" \
  --prepare "git -C $pad reset -q --hard $saved && cp -r $work/promoted/. $pad/$outdir/" \
  "git -C $pad add $outdir && git -C $pad commit -q -m 'svc-00000: promote prepare -> 90-10'"
git -C "$pad" reset -q --hard "$saved"
# The same promote without the padding, to tell the cost of the release count from the padding's.
if [ -d "$work/repo-1000" ]; then
  s1000=$(git -C "$work/repo-1000" rev-parse HEAD)
  hf promote-kanari-unpadded "$promote_runs" -n "kanari promote (no padding)" \
    --prepare "git -C $work/repo-1000 reset -q --hard $s1000" \
    "$kanari -C $work/repo-1000 -q promote $target"
  hf promote-git-unpadded "$promote_runs" -n "git add + git commit (no padding)" \
    --prepare "git -C $work/repo-1000 reset -q --hard $s1000 && cp -r $work/promoted/. $work/repo-1000/$outdir/" \
    "git -C $work/repo-1000 add $outdir && git -C $work/repo-1000 commit -q -m 'svc-00000: promote prepare -> 90-10'"
  git -C "$work/repo-1000" reset -q --hard "$s1000"
fi
for _ in 1 2 3; do
  git -C "$pad" reset -q --hard "$saved"
  /usr/bin/time -v -o "$work/time.txt" $kanari -C "$pad" -q promote "$target" > /dev/null 2>&1
  awk -F': ' '/Maximum resident set size/ {print "promote-kanari", $2}' "$work/time.txt" >> "$results/memory.txt"
done
git -C "$pad" reset -q --hard "$saved"

# ---- summary --------------------------------------------------------------------------------
python3 "$here/bench/summary.py" "$results" | tee "$results/summary.md"
echo
echo "results: $results (hyperfine JSON, summary.md, machine.txt)"
