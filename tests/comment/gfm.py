"""Renders Markdown as GitHub does (cmark-gfm, through PyPI's cmarkgfm) and reports its shape.

Usage: python3 gfm.py FILE OUTDIR. Prints one JSON object: `tables` (the rows of each table,
headers included, per table), `details` ([opened, closed]), `summaries` (each <summary>'s text),
`fences` (each code block's language), and `mermaid`: the paths, under OUTDIR, of each Mermaid
block's text, for mermaid.mjs to parse. OUTDIR/page.html gets the HTML itself, for browser.mjs
to draw. Exits 1 when the HTML GitHub would show is not well
nested (an unclosed <details>, a table cell that swallowed a row).
"""

import html.parser
import json
import os
import sys

import cmarkgfm
from cmarkgfm.cmark import Options


class Shape(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.tables, self.rows, self.details = [], 0, [0, 0]
        self.summaries, self.fences, self.blocks = [], [], []
        self.stack, self.text, self.code = [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("table", "details", "summary", "pre", "code", "tr"):
            self.stack.append(tag)
        if tag == "table":
            self.tables.append(0)
        elif tag == "tr":
            self.tables[-1] += 1
        elif tag == "details":
            self.details[0] += 1
        elif tag == "summary":
            self.text = ""
        elif tag == "pre":
            lang = attrs.get("lang", "")
            self.fences.append(lang)
            self.code = "" if lang == "mermaid" else None

    def handle_endtag(self, tag):
        if tag not in ("table", "details", "summary", "pre", "code", "tr"):
            return
        if not self.stack or self.stack[-1] != tag:
            sys.exit(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
        self.stack.pop()
        if tag == "details":
            self.details[1] += 1
        elif tag == "summary":
            self.summaries.append(self.text)
            self.text = None
        elif tag == "pre" and self.code is not None:
            self.blocks.append(self.code)
            self.code = None

    def handle_data(self, data):
        if self.text is not None:
            self.text += data
        if self.code is not None:
            self.code += data


def main():
    path, outdir = sys.argv[1:3]
    with open(path, encoding="utf-8") as f:
        markdown = f.read()
    # GitHub keeps <details> and <summary> (UNSAFE lets raw HTML through) and marks a fence's
    # language as <pre lang="...">.
    page = cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE | Options.CMARK_OPT_GITHUB_PRE_LANG)
    with open(os.path.join(outdir, "page.html"), "w", encoding="utf-8") as f:
        f.write(page)
    shape = Shape()
    shape.feed(page)
    shape.close()
    if shape.stack:
        sys.exit(f"unclosed: {shape.stack}")
    paths = []
    for i, block in enumerate(shape.blocks):
        p = os.path.join(outdir, f"chart-{i}.mmd")
        with open(p, "w", encoding="utf-8") as f:
            f.write(block)
        paths.append(p)
    print(json.dumps({
        "tables": shape.tables,
        "details": shape.details,
        "summaries": shape.summaries,
        "fences": shape.fences,
        "mermaid": paths,
    }))


if __name__ == "__main__":
    main()
