#!/usr/bin/env bash
# kanari's benchmark suite: kanari against the baselines on the same synthetic repositories.
#
#   bench/run.sh [--sizes "10 100 1000 5000"] [--no-5000] [--layouts "spread one-folder"]
#                [--clusters N] [--packings "packed loose"] [--kanari PATH] [--kanari-before PATH]
#                [--runs N] [--no-padded] [--no-worktree] [--work DIR] [--reuse] [--quick]
#
# Repositories come from examples/synth/, one for each size N (releases), layout and packing:
#   layout   spread: overlays at overlays/<namespace>/<name> (40 namespaces) and a few elsewhere;
#            one-folder: every overlay at deploy/platform/<name>, N entries in one folder tree;
#            fleet: N instances of N/C fleets, each in C clusters (--clusters, default 200) in
#            waves 1-4, overlays at overlays/<cluster>/<namespace>/<name>: fleet i is spread's
#            release i with spec.clusters added, so fleet against spread at N compares N
#            instances with N single releases of the same kind. Not in the default list (it
#            adds a third of the run's time): ask for it with --layouts "spread fleet". Its
#            one-release runs name an instance, team-00/svc-00000@c-000; it has no padded
#            promote, and sizes that are not a multiple of C are left out;#   packing  packed: `git gc` after the history is made, as a clone is; loose: no gc, every
#            object that `git commit` wrote is a loose file, as in a work repository.
# Sizes below 1,000 are measured in the first layout and packing listed only (spread, packed by
# default). With both spread and fleet, the summary gives fleet ÷ spread per command and size. In each repository hyperfine measures, in one run:
#   - kanari lint, render (up to date), diff, status and plan over every release;
#   - runs that touch one release (team-00/svc-00000 unless said): promote (prepare -> first
#     stage), approve (the first release, by name, that waits for an approval), abort, and the
#     named-release runs `diff NAME` and `status NAME`; each mutating run starts from the same
#     commit (`git reset --hard` in hyperfine's --prepare);
#   - the floor of reading the same committed data: `git archive HEAD <overlay folders> | cat`
#     plus `cat` of every spec file;
#   - peak memory (GNU time's "Maximum resident set size", largest of 3 runs) of lint, render,
#     diff, status and plan.
# Once per layout and size (in the first packing listed: they read the work tree only, so the
# packing changes nothing for them):
#   - kanari render with every resource file deleted first, so that each is written again;
#   - kubectl kustomize over the same overlays, one process per overlay as CI scripts run it
#     (all of them up to 100 overlays; above that an even sample of 100, scaled up to N);
#   - the work-tree floor: cp -r of the overlay trees, and cat of every overlay file.
# Then, per layout, in a packed repository of 1,000 releases padded with 100,000 unrelated files
# and 3,000 commits: kanari promote of one release against `git add <dir> && git commit` of the
# same change, both reset to the same commit before each run.
#
# With --kanari-before PATH, every kanari command runs with that binary too, in the same
# hyperfine invocation (named `before` and `after` in the JSON), so before and after come from
# one run on the same repositories. A command the before binary fails on (checked once first)
# is measured with the after binary alone, and said so in the summary.
#
# Needs: hyperfine, GNU time (/usr/bin/time), git, kubectl, python3, cargo. It installs nothing;
# on Debian: apt-get install hyperfine time. Results (hyperfine's JSON and a summary) go to
# $WORK/results; the summary is printed at the end. Options:
#   --sizes "..."        the release counts (default "10 100 1000 5000")
#   --no-5000            leave out 5,000 (the longest part)
#   --layouts "..."      spread, one-folder, fleet (default "spread one-folder", in that order)
#   --clusters N         clusters per fleet in the fleet layout (default 200)
#   --packings "..."     packed, loose or both (default both, in that order)
#   --kanari PATH        the kanari binary to measure (default: build this checkout's)
#   --kanari-before PATH a second binary measured beside it (before/after in one run)
#   --runs N             hyperfine runs per command (default 10; at 5,000 releases half as
#                        many, at least 2; kubectl kustomize loops 3)
#   --no-padded          leave out the padded promote
#   --no-worktree        leave out what reads the work tree only (render writing every file,
#                        cp -r, cat, kubectl kustomize): issue 7's comparisons, the longest part
#   --work DIR           where repositories and results go (default /tmp/kanari-bench)
#   --reuse              keep repositories already generated in WORK (same sizes, same seed)
#   --quick              fewer runs (a smoke test of the script, not figures to publish)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
sizes="10 100 1000 5000"
layouts="spread one-folder"
packings="packed loose"
work=/tmp/kanari-bench
kanari=""
before=""
clusters=200
reuse=0
quick=0
runs_opt=""
padded=1
worktree=1
while [ $# -gt 0 ]; do
  case "$1" in
    --sizes) sizes="$2"; shift 2 ;;
    --no-5000) sizes=$(echo "$sizes" | tr ' ' '\n' | grep -vx 5000 | tr '\n' ' '); shift ;;
    --layouts) layouts="$2"; shift 2 ;;
    --clusters) clusters="$2"; shift 2 ;;
    --packings) packings="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --kanari) kanari="$2"; shift 2 ;;
    --kanari-before) before="$2"; shift 2 ;;
    --runs) runs_opt="$2"; shift 2 ;;
    --no-padded) padded=0; shift ;;
    --no-worktree) worktree=0; shift ;;
    --reuse) reuse=1; shift ;;
    --quick) quick=1; shift ;;
    -h|--help) sed -n '2,62p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
for l in $layouts; do
  case "$l" in spread|one-folder|fleet) ;; *) echo "bench/run.sh: --layouts: \`$l\` is not spread, one-folder or fleet" >&2; exit 2 ;; esac
done
for p in $packings; do
  case "$p" in packed|loose) ;; *) echo "bench/run.sh: --packings: \`$p\` is not packed or loose" >&2; exit 2 ;; esac
done
if ! [ "$clusters" -ge 1 ] 2>/dev/null; then
  echo "bench/run.sh: --clusters needs a number of at least 1" >&2; exit 2
fi
if [ -n "$runs_opt" ] && ! [ "$runs_opt" -ge 2 ] 2>/dev/null; then
  echo "bench/run.sh: --runs needs a number of at least 2" >&2; exit 2
fi
first_layout=${layouts%% *}
first_packing=${packings%% *}

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
if [ -n "$before" ]; then
  before=$(realpath "$before")
  [ -x "$before" ] || { echo "bench/run.sh: --kanari-before: \`$before\` is not an executable" >&2; exit 2; }
fi
synth="$here/target/release/examples/synth"

mkdir -p "$work"
work=$(realpath "$work")
results="$work/results"
rm -rf "$results"
mkdir -p "$results"
scratch="$work/scratch"

if [ "$quick" = 1 ]; then runs=3; kust_runs=1; else runs=${runs_opt:-10}; kust_runs=3; fi
big_runs=$(( runs / 2 > 2 ? runs / 2 : 2 ))

binary_id() { # PATH: the binary's version line and a short hash of its bytes
  echo "$("$1" --version 2>/dev/null | head -1), sha256 $(sha256sum "$1" | cut -c1-12)"
}
{
  echo "nproc=$(nproc)"
  echo "memory=$(free -m | awk '/^Mem:/ {print $2}') MiB"
  echo "cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "kernel=$(uname -r)"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg) (1, 5, 15 min, at the start)"
  echo "after=$kanari ($(binary_id "$kanari"))"
  [ -n "$before" ] && echo "before=$before ($(binary_id "$before"))"
  if git -C "$here" rev-parse --git-dir >/dev/null 2>&1; then
    echo "checkout=$(git -C "$here" describe --always --dirty --exclude '*') (synth and this script)"
  fi
  echo "hyperfine=$(hyperfine --version)"
  echo "git=$(git --version)"
  echo "kubectl=$(kubectl version --client 2>/dev/null | head -1)"
  echo "sizes=$sizes"
  echo "layouts=$layouts"
  case " $layouts " in *" fleet "*) echo "clusters=$clusters (per fleet)" ;; esac
  echo "packings=$packings"
  echo "runs=$runs (5,000 releases: $big_runs; kubectl kustomize: $kust_runs)"
  echo "date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
} > "$results/machine.txt"
cat "$results/machine.txt"

make_repo() { # DIR SYNTH-ARGS...
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
  echo "   $name" >> "$results/hyperfine.log"
  hyperfine --style basic --warmup 1 --runs "$n" --export-json "$results/$name.json" "$@" >> "$results/hyperfine.log" 2>&1 \
    || { echo "hyperfine failed for $name; see $results/hyperfine.log" >&2; tail -20 "$results/hyperfine.log" >&2; exit 1; }
}

# Does BINARY ARGS... exit with one of the codes in OK (space-separated) in REPO, and, unless it
# commits (SAVED is then the commit to go back to), leave the work tree as committed? Used to
# leave out a `before` binary that cannot run a command, or renders other bytes (its runs would
# then rewrite the overlays between the other binary's runs).
runs_ok() { # OK REPO SAVED BINARY ARGS...
  local ok=$1 repo=$2 saved=$3; shift 3
  local code=0 changed=""
  "$@" > /dev/null 2> "$work/probe.txt" || code=$?
  if [ -n "$saved" ]; then
    git -C "$repo" reset -q --hard "$saved"
  else
    changed=$(git -C "$repo" status --porcelain --untracked-files=no | head -3)
    [ -z "$changed" ] || git -C "$repo" checkout -q -- .
  fi
  case " $ok " in *" $code "*) [ -z "$changed" ] && return 0 ;; esac
  echo "   $(basename "$1") exits $code on \`${*:2}\`${changed:+ and changes $(echo $changed)}: $(head -c 300 "$work/probe.txt")" \
    | tee -a "$results/notes.txt" >&2
  return 1
}

# A kanari command measured with the after binary and, when given and able, the before one, in
# one hyperfine invocation. ARGS are kanari's arguments after `-C REPO --color never`.
hk() { # NAME RUNS REPO SAVED PREPARE ARGS...
  local name=$1 n=$2 repo=$3 saved=$4 prepare=$5; shift 5
  local args=("$@") cmds=() prep=()
  [ -n "$prepare" ] && prep=(--prepare "$prepare")
  if [ -n "$before" ] && runs_ok "0" "$repo" "$saved" "$before" -C "$repo" --color never "${args[@]}"; then
    cmds+=(-n before "$before -C $repo --color never ${args[*]}")
  elif [ -n "$before" ]; then
    echo "$name before-failed" >> "$results/notes.txt"
  fi
  runs_ok "0" "$repo" "$saved" "$kanari" -C "$repo" --color never "${args[@]}" \
    || { echo "kanari ${args[*]} fails in $repo" >&2; exit 1; }
  cmds+=(-n after "$kanari -C $repo --color never ${args[*]}")
  hf "$name" "$n" "${prep[@]}" "${cmds[@]}"
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

measure() { # LAYOUT PACKING N
  local layout=$1 packing=$2 n=$3
  local tag="$layout-$packing-$n" repo="$work/repo-$layout-$packing-$n"
  local synth_args=(--releases "$n" --layout "$layout")
  [ "$packing" = loose ] && synth_args+=(--no-gc)
  # A fleet's instances are named by cluster: the first cluster's instance of release 0.
  local target=team-00/svc-00000
  if [ "$layout" = fleet ]; then
    synth_args+=(--clusters "$clusters")
    target=team-00/svc-00000@c-000
  fi
  echo "== $n releases, $layout, $packing"
  make_repo "$repo" "${synth_args[@]}"
  local r=$runs; [ "$n" -ge 5000 ] && r=$big_runs
  local saved; saved=$(git -C "$repo" rev-parse HEAD)
  # The overlay folders and their files, as the generator committed them; the spec files.
  git -C "$repo" ls-files -- '*kustomization.yaml' | xargs -n1 dirname > "$work/dirs-$tag.txt"
  (cd "$repo" && xargs -a "$work/dirs-$tag.txt" git ls-files --) > "$work/files-$tag.txt"
  grep -v '/kustomization.yaml$' "$work/files-$tag.txt" > "$work/resources-$tag.txt"
  git -C "$repo" ls-files -- canaries > "$work/specs-$tag.txt"
  local count files bytes loose_objects
  count=$(wc -l < "$work/dirs-$tag.txt")
  files=$(wc -l < "$work/files-$tag.txt")
  bytes=$(cd "$repo" && xargs -a "$work/files-$tag.txt" cat | wc -c)
  loose_objects=$(git -C "$repo" count-objects | cut -d' ' -f1)
  echo "$tag overlays=$count files=$files bytes=$bytes specs=$(wc -l < "$work/specs-$tag.txt") loose_objects=$loose_objects" >> "$results/sizes.txt"

  # Whole-repository commands.
  local cmd
  for cmd in lint render diff status plan; do
    hk "$tag-$cmd" "$r" "$repo" "" "" "$cmd"
  done
  git -C "$repo" diff --quiet || { echo "a measured command changed the committed overlays of $repo" >&2; exit 1; }

  # One release: by name, and the commands that commit (each from the same commit).
  local waiting
  waiting=$("$kanari" -C "$repo" status --format json \
    | python3 -c 'import json, sys; print(min((r["name"] for r in json.load(sys.stdin) if r["gate"] == "approval"), default=""))')
  echo "$tag approve_target=$waiting" >> "$results/sizes.txt"
  local reset="git -C $repo reset -q --hard $saved"
  hk "$tag-diff-one" "$r" "$repo" "" "" diff "$target"
  hk "$tag-status-one" "$r" "$repo" "" "" status "$target"
  hk "$tag-promote" "$r" "$repo" "$saved" "$reset" -q promote "$target"
  [ -z "$waiting" ] || hk "$tag-approve" "$r" "$repo" "$saved" "$reset" -q approve "$waiting"
  hk "$tag-abort" "$r" "$repo" "$saved" "$reset" -q abort --reason rollback "$target"
  git -C "$repo" reset -q --hard "$saved"

  # The floor of reading the same committed data: the overlays through git, the specs from disk.
  hf "$tag-archive" "$r" -n "git archive + cat specs" \
    "cd $repo && git archive HEAD -- \$(cat $work/dirs-$tag.txt) | cat > /dev/null && xargs -a $work/specs-$tag.txt cat > /dev/null"

  for cmd in lint render diff status plan; do
    # diff exits 1 when something differs; the repositories are clean, so it exits 0.
    peak "$tag-$cmd-after" "$kanari" -C "$repo" --color never "$cmd"
    if [ -n "$before" ] && ! grep -qx "$tag-$cmd before-failed" "$results/notes.txt" 2>/dev/null; then
      peak "$tag-$cmd-before" "$before" -C "$repo" --color never "$cmd"
    fi
  done

  # What reads the work tree only: once per layout and size.
  [ "$packing" = "$first_packing" ] && [ "$worktree" = 1 ] || return 0
  hk "$tag-render-write" "$r" "$repo" "" "cd $repo && xargs -a $work/resources-$tag.txt rm -f --" render
  git -C "$repo" checkout -q -- . && git -C "$repo" diff --quiet || { echo "render changed the committed overlays of $repo" >&2; exit 1; }
  hf "$tag-cp" "$r" -n "cp -r" --prepare "rm -rf $scratch && mkdir -p $scratch" \
    "cd $repo && xargs -a $work/dirs-$tag.txt cp -r --parents -t $scratch"
  rm -rf "$scratch"
  hf "$tag-cat" "$r" -n cat "cd $repo && xargs -a $work/files-$tag.txt cat > /dev/null"
  # kubectl kustomize: every overlay up to 100, else an even sample of 100 (scaled up in the summary).
  if [ "$count" -le 100 ]; then
    cp "$work/dirs-$tag.txt" "$work/kdirs-$tag.txt"
  else
    awk -v step="$((count / 100))" 'NR % step == 1 || step == 1' "$work/dirs-$tag.txt" | head -100 > "$work/kdirs-$tag.txt"
  fi
  echo "$tag kustomize_overlays=$(wc -l < "$work/kdirs-$tag.txt") of $count" >> "$results/sizes.txt"
  hf "$tag-kustomize" "$kust_runs" -n "kubectl kustomize" \
    "cd $repo && while read -r d; do kubectl kustomize \"\$d\" > /dev/null || exit 1; done < $work/kdirs-$tag.txt"
}

# ---- promote in a padded repository -----------------------------------------------------------
# Run right after the 1,000-release repositories (its git baseline without padding uses them).
padded_promote() {
  for layout in $layouts; do
    [ "$layout" != fleet ] || continue
    echo "== promote, $layout: 1,000 releases, 100,000 more files, 3,000 more commits (packed)"
    pad="$work/repo-$layout-padded"
    make_repo "$pad" --releases 1000 --layout "$layout" --padding-files 100000 --padding-commits 3000
    target=team-00/svc-00000
    outdir=$(git -C "$pad" ls-files -- '*/svc-00000/kustomization.yaml' | xargs dirname)
    saved=$(git -C "$pad" rev-parse HEAD)
    echo "padded-$layout tracked_files=$(git -C "$pad" ls-files | wc -l) commits=$(git -C "$pad" rev-list --count HEAD) index_bytes=$(stat -c %s "$pad/.git/index")" >> "$results/sizes.txt"
    # The change promote makes, kept to replay it with git.
    "$kanari" -C "$pad" -q promote "$target"
    rm -rf "$work/promoted" && cp -r "$pad/$outdir" "$work/promoted"
    git -C "$pad" reset -q --hard "$saved"
    reset="git -C $pad reset -q --hard $saved"
    pr=$runs
    hk "padded-$layout-promote" "$pr" "$pad" "$saved" "$reset" -q promote "$target"
    hf "padded-$layout-git" "$pr" -n "git add + git commit" \
      --prepare "$reset && cp -r $work/promoted/. $pad/$outdir/" \
      "git -C $pad add $outdir && git -C $pad commit -q -m 'svc-00000: promote prepare -> 90-10'"
    git -C "$pad" reset -q --hard "$saved"
    # The same change without the padding, to tell the cost of the release count from the padding's.
    plain="$work/repo-$layout-packed-1000"
    if [ -d "$plain" ]; then
      s1000=$(git -C "$plain" rev-parse HEAD)
      hf "padded-$layout-git-unpadded" "$pr" -n "git add + git commit (no padding)" \
        --prepare "git -C $plain reset -q --hard $s1000 && cp -r $work/promoted/. $plain/$outdir/" \
        "git -C $plain add $outdir && git -C $plain commit -q -m 'svc-00000: promote prepare -> 90-10'"
      git -C "$plain" reset -q --hard "$s1000"
    fi
    for which in after before; do
      bin=$kanari; [ "$which" = before ] && bin=$before
      [ -n "$bin" ] || continue
      for _ in 1 2 3; do
        git -C "$pad" reset -q --hard "$saved"
        /usr/bin/time -v -o "$work/time.txt" "$bin" -C "$pad" -q promote "$target" > /dev/null 2>&1 || true
        awk -v n="padded-$layout-promote-$which" -F': ' '/Maximum resident set size/ {print n, $2}' "$work/time.txt" >> "$results/memory.txt"
      done
    done
    git -C "$pad" reset -q --hard "$saved"
  done
}

for n in $sizes; do
  for layout in $layouts; do
    for packing in $packings; do
      if [ "$n" -lt 1000 ] && { [ "$layout" != "$first_layout" ] || [ "$packing" != "$first_packing" ]; }; then
        continue
      fi
      if [ "$layout" = fleet ] && [ $(( n % clusters )) != 0 ]; then
        echo "fleet-$packing-$n left out: $n instances are not a multiple of $clusters clusters" | tee -a "$results/notes.txt"
        continue
      fi
      measure "$layout" "$packing" "$n"
    done
  done
  if [ "$padded" = 1 ] && [ "$n" = 1000 ]; then
    padded_promote
    padded=0
  fi
done
if [ "$padded" = 1 ]; then padded_promote; fi

# ---- summary --------------------------------------------------------------------------------
python3 "$here/bench/summary.py" "$results" | tee "$results/summary.md"
echo
echo "results: $results (hyperfine JSON, summary.md, machine.txt)"
