// Draws a comment's Mermaid charts as a reviewer sees them and measures them: chromium (Debian's
// `chromium`, driven by puppeteer-core) shows the HTML cmark-gfm made of the comment (gfm.py's
// page.html) in a column 650 px wide, once on GitHub's light page (#ffffff, mermaid's `default`
// theme) and once on its dark page (#0d1117, mermaid's `dark` theme, as GitHub picks them; a
// chart's own `init` directive overrides either).
//
// Usage: node browser.mjs PAGE.html OUTDIR [--screenshots]
//
// For every chart text it finds the colour drawn behind it (sampled at five points of its box,
// through the shapes under it down to the page) and its contrast ratio (WCAG 2's), which must be
// at least 4.5:1; so must every axis line, tick and bar against what lies behind it. Axis labels
// of one axis must not overlap each other, every text must lie inside its chart, and be at least
// 9 px high. Prints a JSON report; exits 1 when a check fails, 2 when the page cannot be drawn.
// OUTDIR/chromium.pid holds the browser's pid (it runs in a process group of its own), so a
// caller can stop it whatever happens here; light.png and dark.png with --screenshots.
import { writeFileSync, readFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import puppeteer from "puppeteer-core";

const [pagePath, outdir, ...flags] = process.argv.slice(2);
const here = dirname(fileURLToPath(import.meta.url));
const mermaidJs = join(here, "node_modules/mermaid/dist/mermaid.min.js");
const executablePath = process.env.KANARI_CHROMIUM || "/usr/bin/chromium";

// Bounded: whatever hangs, the run ends (the caller kills the browser by its pid).
setTimeout(() => {
  console.error("browser.mjs: timed out after 90 s");
  process.exit(2);
}, 90_000).unref();

const THEMES = [
  { name: "light", page: "#ffffff", text: "#1f2328", mermaid: "default" },
  { name: "dark", page: "#0d1117", text: "#f0f6fc", mermaid: "dark" },
];

const body = readFileSync(pagePath, "utf8");
const browser = await puppeteer.launch({
  executablePath,
  headless: true,
  // The pipe, not a port: when this process dies, chromium's end of it closes and it exits.
  pipe: true,
  timeout: 30_000,
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"],
});
writeFileSync(join(outdir, "chromium.pid"), String(browser.process().pid));

const report = { themes: [] };
let failed = false;
try {
  for (const theme of THEMES) {
    const page = await browser.newPage();
    await page.setViewport({ width: 650, height: 900 });
    await page.setContent(
      `<!doctype html><html><head><meta charset="utf-8"><style>
        body { margin: 0; padding: 16px; background: ${theme.page}; color: ${theme.text};
               font: 14px -apple-system, "Segoe UI", "Noto Sans", Helvetica, Arial, sans-serif; }
        svg { max-width: 100%; height: auto; }
      </style></head><body>${body}</body></html>`,
      { waitUntil: "load", timeout: 30_000 },
    );
    await page.addScriptTag({ path: mermaidJs });
    const errors = await page.evaluate(async (mermaidTheme) => {
      window.mermaid.initialize({ startOnLoad: false, theme: mermaidTheme });
      const nodes = [];
      for (const pre of document.querySelectorAll('pre[lang="mermaid"]')) {
        const div = document.createElement("div");
        div.className = "chart";
        div.textContent = pre.textContent;
        pre.replaceWith(div);
        nodes.push(div);
      }
      const errors = [];
      for (const [i, node] of nodes.entries()) {
        try {
          const { svg } = await window.mermaid.render(`chart-${i}`, node.textContent);
          node.innerHTML = svg;
        } catch (e) {
          errors.push(String(e.message ?? e));
        }
      }
      return errors;
    }, theme.mermaid);
    const measured = await page.evaluate(measure, theme.page);
    const failures = [...errors.map((e) => `a chart does not render: ${e}`), ...measured.failures];
    report.themes.push({ name: theme.name, charts: measured.charts, texts: measured.texts, failures });
    if (failures.length) failed = true;
    if (flags.includes("--screenshots")) {
      await page.screenshot({ path: join(outdir, `${theme.name}.png`), fullPage: true });
    }
    await page.close();
  }
} finally {
  await browser.close();
}
console.log(JSON.stringify(report, null, 1));
process.exit(failed ? 1 : 0);

// Runs in the page: every chart's texts, lines and bars against what is drawn behind them.
function measure(pageBackground) {
  const parse = (css) => {
    const m = /rgba?\(([^)]+)\)/.exec(css || "");
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return { r, g, b, a };
  };
  const hex = (c) => "#" + [c.r, c.g, c.b].map((v) => Math.round(v).toString(16).padStart(2, "0")).join("");
  const over = (top, under) => ({
    r: top.r * top.a + under.r * (1 - top.a),
    g: top.g * top.a + under.g * (1 - top.a),
    b: top.b * top.a + under.b * (1 - top.a),
    a: 1,
  });
  const luminance = (c) => {
    const lin = (v) => ((v /= 255) <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
    return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  };
  const contrast = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const page = parse(getComputedStyle(document.body).backgroundColor) || { r: 255, g: 255, b: 255, a: 1 };
  // The colour of one element's own paint: an SVG shape's fill, or a box's background.
  const paint = (el) => {
    const style = getComputedStyle(el);
    if (el instanceof SVGElement) {
      if (el.tagName === "svg" || el.tagName === "g") return null;
      const fill = parse(style.fill);
      if (!fill) return null;
      fill.a *= Number(style.fillOpacity) * Number(style.opacity);
      return fill.a > 0 ? fill : null;
    }
    const bg = parse(style.backgroundColor);
    return bg && bg.a > 0 ? bg : null;
  };
  // What is drawn at (x, y) under `self`: the shapes below it composed onto the page.
  const behind = (self, x, y) => {
    const stack = document.elementsFromPoint(x, y).filter((el) => el !== self && el.tagName !== "text");
    const layers = [];
    for (const el of stack) {
      const c = paint(el);
      if (!c) continue;
      layers.push(c);
      if (c.a >= 1) break;
    }
    return layers.reverse().reduce((under, top) => over(top, under), page);
  };
  const points = (box) =>
    [
      [0.5, 0.5],
      [0.2, 0.3],
      [0.8, 0.3],
      [0.2, 0.7],
      [0.8, 0.7],
    ].map(([fx, fy]) => [box.left + box.width * fx, box.top + box.height * fy]);
  const failures = [];
  const texts = [];
  const charts = [...document.querySelectorAll("div.chart svg")];
  for (const [i, svg] of charts.entries()) {
    const frame = svg.getBoundingClientRect();
    for (const t of svg.querySelectorAll("text")) {
      if (!t.textContent.trim()) continue;
      const box = t.getBoundingClientRect();
      const fill = parse(getComputedStyle(t).fill);
      let worst = Infinity;
      let against = null;
      for (const [x, y] of points(box)) {
        const bg = behind(t, x, y);
        const ratio = contrast(over(fill, bg), bg);
        if (ratio < worst) [worst, against] = [ratio, bg];
      }
      const entry = { chart: i, text: t.textContent, fill: hex(fill), background: hex(against), contrast: +worst.toFixed(2), height: +box.height.toFixed(1) };
      texts.push(entry);
      if (worst < 4.5) failures.push(`chart ${i}: "${t.textContent}" is ${entry.fill} on ${entry.background}: ${entry.contrast}:1, under 4.5:1`);
      if (box.height < 9) failures.push(`chart ${i}: "${t.textContent}" is ${entry.height} px high, under 9`);
      const inside = box.left >= frame.left - 0.5 && box.right <= frame.right + 0.5 && box.top >= frame.top - 0.5 && box.bottom <= frame.bottom + 0.5;
      if (!inside) failures.push(`chart ${i}: "${t.textContent}" lies outside its chart`);
    }
    // Lines (axes, ticks) by their stroke, bars by their fill, against what lies behind them.
    for (const path of svg.querySelectorAll("path")) {
      const style = getComputedStyle(path);
      const stroke = parse(style.stroke);
      if (!stroke || stroke.a === 0 || Number(style.strokeWidth.replace("px", "")) === 0) continue;
      const box = path.getBoundingClientRect();
      const bg = behind(path, box.left + box.width / 2, box.top + box.height / 2);
      const ratio = contrast(over(stroke, bg), bg);
      if (ratio < 4.5) failures.push(`chart ${i}: a line ${hex(stroke)} on ${hex(bg)}: ${ratio.toFixed(2)}:1, under 4.5:1`);
    }
    for (const rect of svg.querySelectorAll("g.plot rect")) {
      const box = rect.getBoundingClientRect();
      if (box.width === 0 || box.height === 0) continue;
      const fill = paint(rect);
      // Against the chart's own background (a marked stage's bar lies on the plain one).
      const background = svg.querySelector("rect.background") || svg.querySelector("rect");
      const ground = background && paint(background) ? over(paint(background), page) : page;
      const ratio = contrast(over(fill, ground), ground);
      if (ratio < 4.5) failures.push(`chart ${i}: a bar ${hex(fill)} on ${hex(ground)}: ${ratio.toFixed(2)}:1, under 4.5:1`);
    }
    // Axis labels: no two of one axis overlap.
    for (const axis of ["left-axis", "bottom-axis", "top-axis"]) {
      const labels = [...svg.querySelectorAll(`g.${axis} g.label text`)].map((t) => [t.textContent, t.getBoundingClientRect()]);
      for (let a = 0; a < labels.length; a++) {
        for (let b = a + 1; b < labels.length; b++) {
          const [p, q] = [labels[a][1], labels[b][1]];
          const overlap = Math.min(p.right, q.right) - Math.max(p.left, q.left) > 0.5 && Math.min(p.bottom, q.bottom) - Math.max(p.top, q.top) > 0.5;
          if (overlap) failures.push(`chart ${i}: the ${axis} labels "${labels[a][0]}" and "${labels[b][0]}" overlap`);
        }
      }
    }
  }
  return { charts: charts.length, texts, failures };
}
