// Parses Mermaid charts with the real `mermaid` package, as GitHub's renderer would before
// drawing them. Usage: node mermaid.mjs FILE...; each FILE holds one chart (no fences).
// Prints `FILE: ok (DIAGRAM TYPE)` or `FILE: ERROR`, and exits 1 when any chart fails to parse.
import { readFileSync } from "node:fs";
import { JSDOM } from "jsdom";

// mermaid reads the DOM (DOMPurify, its config) even to parse: a window from jsdom stands in.
const { window } = new JSDOM("<!doctype html><html><body></body></html>");
globalThis.window = window;
globalThis.document = window.document;
for (const name of ["Element", "HTMLElement", "Node", "DOMParser", "navigator"]) {
  if (!(name in globalThis)) globalThis[name] = window[name];
}

const { default: mermaid } = await import("mermaid");
mermaid.initialize({ startOnLoad: false });

let failed = 0;
for (const file of process.argv.slice(2)) {
  const text = readFileSync(file, "utf8");
  try {
    const result = await mermaid.parse(text);
    console.log(`${file}: ok (${result.diagramType})`);
  } catch (e) {
    failed += 1;
    console.log(`${file}: ${String(e.message ?? e).split("\n").join(" ")}`);
  }
}
process.exit(failed ? 1 : 0);
