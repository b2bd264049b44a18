#!/usr/bin/env python3
"""Renders include/squall.h as one HTML page: the preamble, then every
constant, type and function with its doc comment, functions in the order of
the header, each with its `Thread:`, `Ownership:` and `Returns:` lines set
apart.

Fails (exit status 1, one line per problem on stderr) when a function's doc
lacks one of those three lines, when a function has no doc at all, or when
a function name declared in the header was not parsed (so a declaration of a
shape this script does not know cannot slip out of the page unchecked).

The convention enforced is the header's own: inside the `/** ... */` comment
right before a declaration, a line that starts (after ` * `) with `Thread:`,
`Ownership:` or `Returns:`; such a line may continue on the next lines.

    python3 docs/tools/header_html.py include/squall.h build/docs/c/index.html
    python3 docs/tools/header_html.py --check include/squall.h
    python3 docs/tools/header_html.py --self-test
"""
from __future__ import annotations

import html
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

LABELS = ("Thread:", "Ownership:", "Returns:")
FUNC_NAME = re.compile(r"\b(sq_[a-z0-9_]+)\s*\(")


@dataclass
class Item:
    kind: str  # "function", "type", "constant", "callback"
    name: str
    decl: str
    doc: list[str] = field(default_factory=list)


def strip_comment(lines: list[str]) -> list[str]:
    """The text of a `/** ... */` comment, one entry per line, stars gone."""
    out = []
    for raw in lines:
        t = raw.strip()
        if t.startswith("/**"):
            t = t[3:]
        elif t.startswith("/*"):
            t = t[2:]
        if t.endswith("*/"):
            t = t[:-2]
        t = t.strip()
        if t.startswith("*"):
            t = t[1:]
            if t.startswith(" "):
                t = t[1:]
        out.append(t.rstrip())
    while out and not out[0]:
        out.pop(0)
    while out and not out[-1]:
        out.pop()
    return out


def parse(text: str) -> tuple[list[str], list[Item]]:
    """(preamble lines, items in header order)."""
    lines = text.splitlines()
    preamble: list[str] = []
    items: list[Item] = []
    doc: list[str] | None = None
    i = 0
    first_comment = True
    while i < len(lines):
        t = lines[i].strip()
        if t.startswith("/*"):
            j = i
            while not lines[j].rstrip().endswith("*/"):
                j += 1
            body = strip_comment(lines[i : j + 1])
            if first_comment and not t.startswith("/**"):
                preamble = body
                doc = None
            else:
                doc = body
            first_comment = False
            i = j + 1
            continue
        if not t or t.startswith("#include") or t.startswith("#if") or t.startswith("#endif") \
                or t.startswith("#else") or t.startswith("extern \"C\"") or t.startswith("}") or t.startswith("#ifdef") \
                or t.startswith("#ifndef") or t.startswith("#define SQUALL_H"):
            if t:
                doc = None
            i += 1
            continue
        # one declaration, possibly over several lines
        j = i
        if t.startswith("#define"):
            decl = t
            name = t.split()[1]
            kind = "constant"
        else:
            depth = 0
            buf = []
            while True:
                s = lines[j].rstrip()
                buf.append(s)
                depth += s.count("{") - s.count("}")
                if depth == 0 and s.strip().endswith(";"):
                    break
                j += 1
            decl = "\n".join(buf)
            flat = " ".join(x.strip() for x in buf)
            if flat.startswith("typedef"):
                m = re.search(r"\(\*\s*(sq_[a-z0-9_]+)\)", flat)
                if m:
                    kind, name = "callback", m.group(1)
                else:
                    name = flat.rstrip(";").split()[-1].lstrip("*")
                    kind = "type"
            else:
                m = FUNC_NAME.search(flat)
                if not m:
                    raise SystemExit(f"header_html: line {i + 1}: a declaration of unknown shape: {flat[:80]}")
                kind, name = "function", m.group(1)
        items.append(Item(kind, name, decl, doc or []))
        doc = None
        i = j + 1
    return preamble, items


def declared_functions(text: str) -> set[str]:
    """Every name the header declares as a function, found independently of
    parse(): a line outside comments that starts with a return type and names
    sq_something( at top level."""
    names = set()
    in_comment = False
    for line in text.splitlines():
        t = line.strip()
        if in_comment:
            in_comment = not t.endswith("*/")
            continue
        if t.startswith("/*"):
            in_comment = not t.endswith("*/")
            continue
        if line[:1].isspace() or t.startswith(("#", "typedef", "}")):
            continue
        m = FUNC_NAME.search(t)
        if m and "(*" not in t:
            names.add(m.group(1))
    return names


def problems(text: str) -> list[str]:
    _, items = parse(text)
    out = []
    parsed = {it.name for it in items if it.kind == "function"}
    for name in sorted(declared_functions(text) - parsed):
        out.append(f"{name}: declared but not parsed")
    for it in items:
        if it.kind != "function":
            continue
        if not it.doc:
            out.append(f"{it.name}: no doc comment")
            continue
        for label in LABELS:
            if not any(line.startswith(label) for line in it.doc):
                out.append(f"{it.name}: no `{label}` line")
    return out


def render_doc(doc: list[str]) -> str:
    """Paragraphs of the doc; the labelled lines (with their continuations)
    as a definition list."""
    prose: list[list[str]] = [[]]
    labelled: list[tuple[str, list[str]]] = []
    for line in doc:
        label = next((lb for lb in LABELS if line.startswith(lb)), None)
        if label:
            labelled.append((label[:-1], [line[len(label):].strip()]))
        elif labelled and line:
            labelled[-1][1].append(line)
        elif not line:
            if labelled:
                continue
            prose.append([])
        else:
            prose[-1].append(line)
    parts = []
    for para in prose:
        if para:
            parts.append("<p>" + inline(" ".join(para)) + "</p>")
    if labelled:
        parts.append('<dl class="contract">')
        for label, text in labelled:
            parts.append(f"<dt>{label}</dt><dd>{inline(' '.join(text))}</dd>")
        parts.append("</dl>")
    return "\n".join(parts)


def inline(s: str) -> str:
    s = html.escape(s)
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", s)


CSS = """
body { font-family: sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; line-height: 1.45; }
pre { background: #f4f4f4; padding: .6rem; overflow-x: auto; }
code { background: #f4f4f4; }
section { border-top: 1px solid #ddd; padding-top: .5rem; }
dl.contract { display: grid; grid-template-columns: max-content auto; gap: .2rem 1rem; }
dl.contract dt { font-weight: bold; }
dl.contract dd { margin: 0; }
nav ul { columns: 3; font-size: .9rem; }
"""

TITLES = {"function": "Functions", "callback": "Callback types", "type": "Types", "constant": "Constants"}


def render(text: str) -> str:
    preamble, items = parse(text)
    out = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
           "<title>squall.h: the C API</title>", f"<style>{CSS}</style></head><body>",
           "<h1>squall.h: the C API</h1>",
           "<p>Rendered from <code>include/squall.h</code> by <code>docs/tools/header_html.py</code>. "
           "Every function's doc carries its <b>Thread</b>, <b>Ownership</b> and <b>Returns</b> lines.</p>",
           "<pre>" + html.escape("\n".join(preamble)) + "</pre>"]
    for kind in ("function", "callback", "type", "constant"):
        group = [it for it in items if it.kind == kind]
        out.append(f'<h2 id="{kind}s">{TITLES[kind]} ({len(group)})</h2>')
        if kind == "function":
            out.append("<nav><ul>" + "".join(f'<li><a href="#{it.name}">{it.name}</a></li>' for it in group)
                       + "</ul></nav>")
        for it in group:
            out.append(f'<section id="{it.name}"><h3>{it.name}</h3>')
            out.append("<pre>" + html.escape(it.decl) + "</pre>")
            out.append(render_doc(it.doc))
            out.append("</section>")
    out.append("</body></html>")
    return "\n".join(out) + "\n"


SELF_TEST_BAD = """/*
 * preamble
 */
/**
 * Does a thing.
 *
 * Thread: any thread.
 * Returns: `SQ_OK`.
 */
sq_status sq_thing(sq_loop *loop,
                   int x);

/**
 * Does another.
 *
 * Thread: the host thread.
 * Ownership: nothing kept.
 * Returns: nothing.
 */
void sq_other(void);

sq_status sq_undocumented(void);
"""


def self_test() -> int:
    found = problems(SELF_TEST_BAD)
    want = ["sq_thing: no `Ownership:` line", "sq_undocumented: no doc comment"]
    if found != want:
        print(f"header_html self-test: expected {want}, got {found}", file=sys.stderr)
        return 1
    page = render(SELF_TEST_BAD)
    if '<dt>Thread</dt><dd>the host thread.</dd>' not in page or 'id="sq_other"' not in page:
        print("header_html self-test: the page lacks sq_other's contract lines", file=sys.stderr)
        return 1
    print("header_html self-test: ok (a missing line and a missing doc are caught)")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    check_only = len(argv) == 3 and argv[1] == "--check"
    if not check_only and len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src = Path(argv[2] if check_only else argv[1])
    text = src.read_text(encoding="utf-8")
    bad = problems(text)
    if bad:
        for p in bad:
            print(f"{src}: {p}", file=sys.stderr)
        print(f"{src}: {len(bad)} problem(s)", file=sys.stderr)
        return 1
    _, items = parse(text)
    n = sum(it.kind == "function" for it in items)
    if not check_only:
        dst = Path(argv[2])
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.write_text(render(text), encoding="utf-8")
        print(f"header_html: {n} functions, {len(items) - n} other declarations -> {dst}")
    else:
        print(f"header_html: {n} functions, each with Thread/Ownership/Returns")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
