#!/usr/bin/env python3
"""Summarises bench/run.sh's results folder as Markdown: medians with min-max ranges, before and
after when a second binary was measured, growth with the release count, peak memory, the goals
of issue 13, and fleets against single releases (fleet ÷ spread at each size both were measured
at). Usage: summary.py RESULTS_DIR"""

import json
import os
import sys

res = sys.argv[1]
LAYOUTS = ["spread", "one-folder", "fleet"]
PACKINGS = ["packed", "loose"]
WHOLE = ["lint", "render", "diff", "status", "plan"]
ONE = [("diff", "diff"), ("status", "status"), ("promote", "promote"), ("approve", "approve"),
       ("abort", "abort"), ("diff-one", "diff NAME"), ("status-one", "status NAME")]


def load(name, which="after"):
    """The result of NAME.json: the command named WHICH (`before`, `after`), else the only one."""
    path = os.path.join(res, name + ".json")
    if not os.path.exists(path):
        return None
    rs = json.load(open(path))["results"]
    named = [r for r in rs if r["command"] == which]
    if named:
        r = named[0]
    elif which in ("before", "after") and any(r["command"] in ("before", "after") for r in rs):
        return None
    else:
        r = rs[0]
    return {"median": r["median"], "min": r["min"], "max": r["max"], "runs": len(r["times"])}


def med(name, which="after", scale=1.0):
    r = load(name, which)
    return None if r is None else r["median"] * scale


def fmt(s):
    if s is None:
        return "–"
    if s >= 10:
        return f"{s:.1f} s"
    if s >= 1:
        return f"{s:.2f} s"
    return f"{s * 1000:.0f} ms" if s >= 0.01 else f"{s * 1000:.1f} ms"


def cell(r, scale=1.0):
    if r is None:
        return "–"
    return f"{fmt(r['median'] * scale)} ({fmt(r['min'] * scale)}–{fmt(r['max'] * scale)})"


def ratio(a, b, digits=1):
    return "–" if a is None or b is None else f"{a / b:.{digits}f}×"


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

notes = []
if os.path.exists(os.path.join(res, "notes.txt")):
    notes = [line.rstrip() for line in open(os.path.join(res, "notes.txt")) if line.strip()]

combos = []  # (layout, packing, sizes measured)
for layout in LAYOUTS:
    for packing in PACKINGS:
        ns = sorted(int(t.rsplit("-", 1)[1]) for t in sizes if t.startswith(f"{layout}-{packing}-"))
        if ns:
            combos.append((layout, packing, ns))
has_before = any(load(f"{l}-{p}-{n}-diff", "before") for l, p, ns in combos for n in ns)
# The goals of issue 13 are about single releases: fleets have their own section below.
single = [c for c in combos if c[0] != "fleet"]


def ba(name, scale=1.0):
    """`after` and, when measured, `before (×faster)` for one JSON file."""
    a, b = load(name, "after"), load(name, "before")
    if not has_before:
        return cell(a, scale)
    return f"{cell(a, scale)} | {cell(b, scale)} | {ratio(b and b['median'], a and a['median'])}"


out = []
p = out.append

p("### Machine\n")
p("```")
p(open(os.path.join(res, "machine.txt")).read().rstrip())
p("```\n")
if notes:
    p("Notes from the run:\n")
    for n in notes:
        p(f"- `{n.strip()}`")
    p("")

p("### Repositories\n")
p("| repository | overlays | overlay files | overlay bytes | spec files | loose objects |")
p("|---|---|---|---|---|---|")
for layout, packing, ns in combos:
    for n in ns:
        s = sizes[f"{layout}-{packing}-{n}"]
        p(f"| {layout}, {packing}, {n} | {s.get('overlays')} | {s.get('files')} | {s.get('bytes')} | "
          f"{s.get('specs')} | {s.get('loose_objects')} |")
p("")

head_ba = " | after | before | before ÷ after |" if has_before else " | median (min–max) |"
sep_ba = "---|---|---|" if has_before else "---|"

p("### Every command: median (min–max) of the runs\n")
for layout, packing, ns in combos:
    p(f"#### {layout}, {packing}\n")
    p("| releases | command" + head_ba)
    p("|---|---|" + sep_ba)
    for n in ns:
        tag = f"{layout}-{packing}-{n}"
        for key, label in [(c, c) for c in WHOLE] + [("render-write", "render (writes every file)")] + ONE[2:]:
            if os.path.exists(os.path.join(res, f"{tag}-{key}.json")):
                p(f"| {n} | {label} | {ba(f'{tag}-{key}')} |")
        for key, label in [("archive", "floor: git archive + cat specs"), ("cat", "floor: cat of the overlay files"),
                           ("cp", "floor: cp -r of the overlays")]:
            r = load(f"{tag}-{key}", None)
            if r:
                p(f"| {n} | {label} | {cell(r)} |" + (" | |" if has_before else ""))
        s = sizes[tag]
        if "kustomize_total" in s and load(f"{tag}-kustomize", None):
            sampled, total = int(s["kustomize_overlays"]), int(s["kustomize_total"])
            label = "kubectl kustomize, one process per overlay" + (
                f" ({sampled} of {total} measured, ×{total / sampled:g})" if sampled != total else "")
            p(f"| {n} | {label} | {cell(load(f'{tag}-kustomize', None), total / sampled)} |"
              + (" | |" if has_before else ""))
    p("")

# ---- goals ------------------------------------------------------------------------------------
verdicts = []


def goal(ok, text):
    verdicts.append(f"- {'PASS' if ok else 'FAIL'}: {text}")


big = sorted({n for _, _, ns in single for n in ns if n >= 1000})
top = big[-1] if big else None

if top:
    p(f"### Goal: one pass over the trees. One folder against spread, at {top} releases\n")
    p("Each tree object read once per run means the one-folder layout costs what the spread one "
      "does; the ratio is one-folder ÷ spread, same packing, medians.\n")
    hdr = "| command | packing | after: spread | after: one-folder | after: ratio |"
    if has_before:
        hdr += " before: spread | before: one-folder | before: ratio |"
    p(hdr)
    p("|---|---|---|---|---|" + ("---|---|---|" if has_before else ""))
    worst = {}
    for key, label in ONE:
        for packing in PACKINGS:
            sp, of = f"spread-{packing}-{top}-{key}", f"one-folder-{packing}-{top}-{key}"
            if not (load(sp) and load(of)):
                continue
            a_s, a_o = med(sp), med(of)
            row = f"| {label} | {packing} | {fmt(a_s)} | {fmt(a_o)} | {ratio(a_o, a_s, 2)} |"
            if has_before:
                b_s, b_o = med(sp, "before"), med(of, "before")
                row += f" {fmt(b_s)} | {fmt(b_o)} | {ratio(b_o, b_s, 2)} |"
            p(row)
            worst[(label, packing)] = a_o / a_s
    p("")
    if worst:
        (wl, wp), w = max(worst.items(), key=lambda kv: kv[1])
        goal(w <= 1.25, f"one folder costs what spread does at {top} releases (after): one-folder ÷ spread "
             f"at most {w:.2f}× ({wl}, {wp}); tree reads themselves are counted by the unit test "
             f"`each_folder_tree_is_read_once_per_run_whatever_the_releases_handles_or_threads`")

if len(big) >= 2:
    lo, hi = big[0], big[-1]
    p(f"### Goal: growth from {lo} to {hi} releases at most ×{5.5 * (hi / lo) / 5:g}\n")
    p("Median at each size, and the growth (×) from one to the other.\n")
    hdr = f"| command | layout | packing | after: {lo} | after: {hi} | after: growth |"
    if has_before:
        hdr += f" before: {lo} | before: {hi} | before: growth |"
    p(hdr)
    p("|---|---|---|---|---|---|" + ("---|---|---|" if has_before else ""))
    fails = []
    for c in WHOLE:
        for layout, packing, ns in single:
            if lo not in ns or hi not in ns:
                continue
            a, b = med(f"{layout}-{packing}-{lo}-{c}"), med(f"{layout}-{packing}-{hi}-{c}")
            row = f"| {c} | {layout} | {packing} | {fmt(a)} | {fmt(b)} | {ratio(b, a)} |"
            if has_before:
                x, y = med(f"{layout}-{packing}-{lo}-{c}", "before"), med(f"{layout}-{packing}-{hi}-{c}", "before")
                row += f" {fmt(x)} | {fmt(y)} | {ratio(y, x)} |"
            p(row)
            if a and b and b / a > 5.5 * (hi / lo) / 5:
                fails.append(f"{c} ({layout}, {packing}) ×{b / a:.1f}")
    p("")
    worst_growth = max((med(f"{l}-{pk}-{hi}-{c}") / med(f"{l}-{pk}-{lo}-{c}")
                        for c in WHOLE for l, pk, ns in single if lo in ns and hi in ns
                        and med(f"{l}-{pk}-{lo}-{c}") and med(f"{l}-{pk}-{hi}-{c}")), default=None)
    if worst_growth is not None:
        goal(not fails, f"growth {lo} → {hi} at most ×{5.5 * (hi / lo) / 5:g} for lint, render, diff, status, plan, "
             f"both layouts, both packings (after): largest ×{worst_growth:.1f}"
             + (f"; over: {', '.join(fails)}" if fails else ""))

if memory and top:
    p(f"### Goal: peak memory under 100 MB at {top} releases\n")
    p("Maximum resident set size, the largest of 3 runs, in MB (10⁶ bytes).\n")
    hdr = "| layout | packing | " + " | ".join(WHOLE) + " |"
    p(hdr + (" before (same order) |" if has_before else ""))
    p("|---|---|" + "---|" * len(WHOLE) + ("---|" if has_before else ""))
    over, most = [], 0.0
    for layout, packing, ns in single:
        if top not in ns:
            continue
        row, brow = [], []
        for c in WHOLE:
            kb = memory.get(f"{layout}-{packing}-{top}-{c}-after")
            mb = None if kb is None else kb * 1024 / 1e6
            row.append("–" if mb is None else f"{mb:.0f}")
            if mb is not None:
                most = max(most, mb)
                if mb >= 100:
                    over.append(f"{c} ({layout}, {packing}) {mb:.0f} MB")
            kb = memory.get(f"{layout}-{packing}-{top}-{c}-before")
            brow.append("–" if kb is None else f"{kb * 1024 / 1e6:.0f}")
        p(f"| {layout} | {packing} | " + " | ".join(row) + " |" + (f" {' / '.join(brow)} |" if has_before else ""))
    p("")
    goal(not over, f"peak memory under 100 MB at {top} releases (after): largest {most:.0f} MB"
         + (f"; over: {', '.join(over)}" if over else ""))

pads = [l for l in LAYOUTS if load(f"padded-{l}-promote")]
if pads:
    p("### Goal: promote of one release among 100,000 unrelated files under 100 ms, no slower than git\n")
    hdr = "| layout | tracked files | kanari promote, after |" + (" before |" if has_before else "") + \
        " git add + git commit | after ÷ git | git add + git commit, no padding |"
    p(hdr)
    p("|---|---|---|" + ("---|" if has_before else "") + "---|---|---|")
    for l in pads:
        s = sizes.get(f"padded-{l}", {})
        a, g = load(f"padded-{l}-promote"), load(f"padded-{l}-git", None)
        row = f"| {l} | {s.get('tracked_files', '?')} | {cell(a)} |"
        if has_before:
            row += f" {cell(load(f'padded-{l}-promote', 'before'))} |"
        row += f" {cell(g)} | {ratio(a['median'], g and g['median'])} | {cell(load(f'padded-{l}-git-unpadded', None))} |"
        p(row)
        goal(a["median"] <= 0.1, f"promote in the padded repository ({l}) under 100 ms: {fmt(a['median'])}"
             + ("" if a["median"] <= 0.1 else f" ({a['median'] / 0.1:.1f}× the goal)"))
        if g:
            goal(a["median"] <= g["median"], f"promote ({l}) no slower than git add + git commit "
                 f"({fmt(g['median'])}): {a['median'] / g['median']:.2f}×")
    mems = []
    for l in pads:
        for which in ["after", "before"]:
            kb = memory.get(f"padded-{l}-promote-{which}")
            if kb:
                mems.append(f"{l} {which} {kb * 1024 / 1e6:.0f} MB")
    p("\nPeak memory of promote there: " + ", ".join(mems) + "\n")

# Fleets: N instances of N/C fleets against N single releases (spread), same packing.
fleet_sizes = sorted({n for l, _, ns in combos if l == "fleet" for n in ns})
fleet_rows = [(packing, n) for packing in PACKINGS for n in fleet_sizes
              if load(f"spread-{packing}-{n}-diff") and load(f"fleet-{packing}-{n}-diff")]
fleet_verdicts = []
if fleet_rows:
    clusters = next((line.split("=", 1)[1].split()[0] for line in open(os.path.join(res, "machine.txt"))
                     if line.startswith("clusters=")), "?")
    p("### Goal: a fleet's instances within 1.5× the time of as many single releases\n")
    p(f"N instances in N/{clusters} fleet specs of {clusters} clusters each, against the spread layout's N "
      "single releases (fleet i is spread's release i with its clusters added); the ratio is fleet ÷ spread, "
      "medians (after), and peak memory in MB.\n")
    p("| packing | instances | command | spread | fleet | fleet ÷ spread | spread MB | fleet MB |")
    p("|---|---|---|---|---|---|---|---|")
    for packing, n in fleet_rows:
        for c in WHOLE:
            sp, fl = med(f"spread-{packing}-{n}-{c}"), med(f"fleet-{packing}-{n}-{c}")
            mem = [memory.get(f"{l}-{packing}-{n}-{c}-after") for l in ("spread", "fleet")]
            mb = ["–" if kb is None else f"{kb * 1024 / 1e6:.0f}" for kb in mem]
            p(f"| {packing} | {n} | {c} | {fmt(sp)} | {fmt(fl)} | {ratio(fl, sp, 2)} | {mb[0]} | {mb[1]} |")
            if c in ("diff", "status") and n == fleet_sizes[-1] and sp and fl:
                fleet_verdicts.append((fl / sp <= 1.5, f"{c} of {n} fleet instances ({packing}) within 1.5× "
                                       f"{n} single releases: {fmt(fl)} against {fmt(sp)}, {fl / sp:.2f}×"))
    p("")
    for ok, text in fleet_verdicts:
        p(f"- {'PASS' if ok else 'FAIL'}: {text}")
    p("")

if 1000 in big:
    p("### Goal: diff of 1,000 releases within 2× the floor of reading the same committed data\n")
    p("The floor is `git archive HEAD <every overlay folder> | cat > /dev/null` plus `cat` of every spec "
      "file, measured in the same run.\n")
    hdr = "| layout | packing | kanari diff, after | floor | after ÷ floor |"
    p(hdr + (" before | before ÷ floor |" if has_before else ""))
    p("|---|---|---|---|---|" + ("---|---|" if has_before else ""))
    worst = None
    for layout, packing, ns in single:
        if 1000 not in ns:
            continue
        tag = f"{layout}-{packing}-1000"
        d, f = med(f"{tag}-diff"), med(f"{tag}-archive", None)
        if d is None or f is None:
            continue
        row = f"| {layout} | {packing} | {cell(load(f'{tag}-diff'))} | {cell(load(f'{tag}-archive', None))} | {d / f:.2f}× |"
        if has_before:
            b = med(f"{tag}-diff", "before")
            row += f" {fmt(b)} | {ratio(b, f, 2)} |"
        p(row)
        if worst is None or d / f > worst[0]:
            worst = (d / f, layout, packing)
    p("")
    if worst:
        goal(worst[0] <= 2, f"diff of 1,000 releases within 2× the git archive floor (after): at most "
             f"{worst[0]:.2f}× ({worst[1]}, {worst[2]})")

if verdicts:
    p("### Verdicts (issue 13)\n")
    out.extend(verdicts)
print("\n".join(out))
