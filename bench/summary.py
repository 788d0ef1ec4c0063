#!/usr/bin/env python3
"""Summarises bench/run.sh's results folder as Markdown: medians with min-max ranges, ratios,
growth with the release count, and the issue's goals. Usage: summary.py RESULTS_DIR"""

import json
import os
import sys

res = sys.argv[1]


def load(name):
    path = os.path.join(res, name + ".json")
    if not os.path.exists(path):
        return None
    r = json.load(open(path))["results"][0]
    return {"median": r["median"], "min": r["min"], "max": r["max"], "runs": len(r["times"])}


def fmt(s):
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"


def cell(r, scale=1.0):
    if r is None:
        return "–"
    return f"{fmt(r['median'] * scale)} ({fmt(r['min'] * scale)}–{fmt(r['max'] * scale)})"


sizes = {}
for line in open(os.path.join(res, "sizes.txt")):
    parts = line.split()
    d = sizes.setdefault(parts[0], {})
    for kv in parts[1:]:
        if "=" in kv:
            k, v = kv.split("=", 1)
            d[k] = v
    if "kustomize_overlays" in line:
        d["kustomize_total"] = parts[-1]

memory = {}
if os.path.exists(os.path.join(res, "memory.txt")):
    for line in open(os.path.join(res, "memory.txt")):
        name, kb = line.split()
        memory[name] = max(memory.get(name, 0), int(kb))

ns = sorted((int(n) for n in sizes if n.isdigit()))
out = []
p = out.append

p("### Machine\n")
p("```")
p(open(os.path.join(res, "machine.txt")).read().rstrip())
p("```\n")

p("### Times: median (min–max) of the runs\n")
cols = ["lint", "render", "render-write", "diff", "kustomize", "cp", "cat"]
heads = ["releases (files)", "kanari lint", "kanari render (up to date)", "kanari render (writes every file)",
         "kanari diff", "kubectl kustomize", "cp -r (floor)", "cat (floor)"]
p("| " + " | ".join(heads) + " |")
p("|" + "---|" * len(heads))
notes = []
for n in ns:
    s = sizes[str(n)]
    row = [f"{n} ({s['files']})"]
    for c in cols:
        r = load(f"{n}-{c}")
        scale = 1.0
        if c == "kustomize" and r is not None:
            sampled = int(s["kustomize_overlays"])
            total = int(s["kustomize_total"])
            scale = total / sampled
            if sampled != total:
                notes.append(f"kubectl kustomize at {n}: {sampled} of {total} overlays measured "
                             f"({fmt(r['median'])} median), scaled ×{scale:g}")
        row.append(cell(r, scale))
    p("| " + " | ".join(row) + " |")
p("")
for note in notes:
    p(f"- {note}")
p("")


def med(name, scale=1.0):
    r = load(name)
    return None if r is None else r["median"] * scale


def kust(n):
    s = sizes[str(n)]
    return med(f"{n}-kustomize", int(s["kustomize_total"]) / int(s["kustomize_overlays"]))


p("### Ratios (medians)\n")
p("| releases | kustomize ÷ diff | diff ÷ cat | diff ÷ cp -r | render ÷ cat | lint ÷ cat |")
p("|---|---|---|---|---|---|")
for n in ns:
    d, c, cp, k = med(f"{n}-diff"), med(f"{n}-cat"), med(f"{n}-cp"), kust(n)
    rr, li = med(f"{n}-render"), med(f"{n}-lint")
    f = lambda a, b: "–" if a is None or b is None else f"{a / b:.1f}×"
    p(f"| {n} | {f(k, d)} | {f(d, c)} | {f(d, cp)} | {f(rr, c)} | {f(li, c)} |")
p("")

p("### Growth: time per release (median ÷ releases), and the step from one size to the next\n")
p("| " + " | ".join(["command"] + [f"{n}" for n in ns] +
                   [f"{ns[i]} → {ns[i + 1]}: time ×" for i in range(len(ns) - 1)]) + " |")
p("|---|" + "---|" * (2 * len(ns) - 1))
for c in ["lint", "render", "render-write", "diff", "cat"]:
    per = [med(f"{n}-{c}") for n in ns]
    row = [c] + [("–" if t is None else f"{t / n * 1e6:.0f} µs") for t, n in zip(per, ns)]
    for i in range(len(ns) - 1):
        a, b = per[i], per[i + 1]
        row.append("–" if a is None or b is None else f"×{b / a:.1f}")
    p("| " + " | ".join(row) + " |")
p("")

if memory:
    p("### Peak memory (maximum resident set size, largest of 3 runs)\n")
    p("| releases | lint | render | diff |")
    p("|---|---|---|---|")
    for n in ns:
        row = [str(n)] + [f"{memory[f'{n}-{c}'] / 1024:.0f} MiB" if f"{n}-{c}" in memory else "–"
                          for c in ["lint", "render", "diff"]]
        p("| " + " | ".join(row) + " |")
    if "promote-kanari" in memory:
        p(f"\nkanari promote in the padded repository: {memory['promote-kanari'] / 1024:.0f} MiB")
    p("")

pk, pg = load("promote-kanari"), load("promote-git")
if pk:
    s = sizes.get("padded", {})
    p(f"### Promote one release: 1,000 releases, {s.get('tracked_files', '?')} tracked files, "
      f"{s.get('commits', '?')} commits\n")
    p("| | median (min–max) |")
    p("|---|---|")
    p(f"| kanari promote | {cell(pk)} |")
    p(f"| git add + git commit of the same change | {cell(pg)} |")
    for name, label in [("promote-kanari-unpadded", "kanari promote, 1,000 releases, no padding"),
                        ("promote-git-unpadded", "git add + git commit, 1,000 releases, no padding")]:
        if load(name):
            p(f"| {label} | {cell(load(name))} |")
    p(f"\nkanari ÷ git: {pk['median'] / pg['median']:.1f}×\n")

p("### Goals (issue 7)\n")


def goal(ok, text):
    p(f"- {'PASS' if ok else 'FAIL'}: {text}")


if 1000 in ns:
    d, c, k = med("1000-diff"), med("1000-cat"), kust(1000)
    goal(d <= 1.0, f"diff over 1,000 releases ≤ 1 s: {fmt(d)}" + ("" if d <= 1 else f" ({d:.1f}× the goal)"))
    goal(k / d >= 50, f"diff ≥ 50× faster than kubectl kustomize: {k / d:.0f}×"
         + ("" if k / d >= 50 else f" (needs diff ≤ {fmt(k / 50)})"))
    goal(d / c <= 3, f"diff within 3× the floor of reading the files (cat, {fmt(c)}): {d / c:.1f}×"
         + ("" if d / c <= 3 else f" (needs diff ≤ {fmt(3 * c)}, {d / (3 * c):.1f}× too slow)"))
    for cmd in ["lint", "render", "diff"]:
        kb = memory.get(f"1000-{cmd}")
        if kb:
            mb = kb * 1024 / 1e6
            goal(mb <= 100, f"peak memory of {cmd} at 1,000 releases ≤ 100 MB: {mb:.0f} MB")
if pk:
    goal(pk["median"] <= 0.1, f"promote in the padded repository ≤ 100 ms: {fmt(pk['median'])}"
         + ("" if pk["median"] <= 0.1 else f" ({pk['median'] / 0.1:.1f}× the goal)"))
    goal(pk["median"] <= pg["median"], f"promote no slower than git add + git commit ({fmt(pg['median'])}): "
         f"{pk['median'] / pg['median']:.1f}×")
big = [n for n in ns if n >= 1000]
if len(big) >= 2 or (1000 in ns and 100 in ns):
    lo, hi = (100, 1000) if len(big) < 2 else (big[0], big[-1])
    for c in ["lint", "render", "diff"]:
        a, b = med(f"{lo}-{c}"), med(f"{hi}-{c}")
        if a and b:
            ratio = (b / a) / (hi / lo)
            goal(ratio <= 1.25, f"{c} grows linearly or better from {lo} to {hi} releases: time ×{b / a:.1f} "
                 f"for ×{hi // lo} releases (per release ×{ratio:.2f})")
print("\n".join(out))
