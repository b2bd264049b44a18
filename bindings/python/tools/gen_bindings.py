#!/usr/bin/env python3
"""Generates squall/_bindings.py (ctypes declarations) from include/squall.h.

    python3 bindings/python/tools/gen_bindings.py           # rewrite the file
    python3 bindings/python/tools/gen_bindings.py --check   # exit 1 if stale

The header is cbindgen's output, so its shapes are regular: `#define SQ_*`
constants, `typedef struct sq_x sq_x;` opaque types, `typedef struct {…} name;`
structs whose fields are one declaration each (function pointers included,
possibly over several lines), function-pointer typedefs, and prototypes
between `extern "C" {` and its closing brace. The parser below handles just
those shapes and fails loudly on anything else, so a header change that it
does not understand cannot produce silently wrong declarations.

Type mapping (decided in docs/ARCHITECTURE.md, "Python package"):
- `sq_request *`, `sq_ws *`, `sq_tcp *` and `const sq_fetch_response *` are
  event handles that squall documents as opaque values, never dereferenced:
  they map to `c_void_p`, so a callback receives a plain int (no ctypes
  pointer object made per request on the hot path).
- the other opaque types (`sq_loop`, `sq_server`, `sq_fetch_request`,
  `sq_tcp_listener`) get a distinct `Structure` subclass each and map to
  `POINTER(that)`: passing the wrong handle fails in ctypes, not in C.
- `const char *` maps to `c_char_p` (bytes in, bytes out) in prototypes and
  in the structs the caller fills; in callback parameters and in `sq_str`
  (memory squall fills, often not NUL-terminated) it maps to `c_void_p`, read
  with `ctypes.string_at(ptr, len)`: ctypes would otherwise cut it at a NUL.
  `void *` and `const uint8_t *` map to `c_void_p`; other pointers to
  `POINTER(type)`.
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
HEADER = ROOT / "include" / "squall.h"
OUTPUT = ROOT / "bindings" / "python" / "squall" / "_bindings.py"

EVENT_HANDLES = {"sq_request", "sq_ws", "sq_tcp", "sq_fetch_response"}
# structs squall fills in for the caller: their char pointers are views
VIEW_STRUCTS = {"sq_str"}

SCALARS = {
    "void": "None",
    "int": "c_int",
    "int32_t": "c_int32",
    "uint8_t": "c_uint8",
    "uint16_t": "c_uint16",
    "uint32_t": "c_uint32",
    "uint64_t": "c_uint64",
    "int64_t": "c_int64",
    "size_t": "c_size_t",
    "double": "c_double",
    "sq_status": "c_int32",
    "sq_timer_id": "c_uint64",
    "sq_log_level": "c_int",
}


class HeaderError(Exception):
    pass


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


class Model:
    def __init__(self) -> None:
        self.constants: list[tuple[str, str]] = []
        self.opaque: list[str] = []
        self.callbacks: dict[str, tuple[str, list[tuple[str, str]]]] = {}
        self.structs: dict[str, list[tuple[str, str]]] = {}
        self.functions: list[tuple[str, str, list[tuple[str, str]]]] = []
        self.order: list[tuple[str, str]] = []  # (kind, name) in header order


def split_params(params: str) -> list[tuple[str, str]]:
    params = " ".join(params.split())
    if params in ("", "void"):
        return []
    out = []
    depth = 0
    cur = ""
    for ch in params:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur.strip())
            cur = ""
        else:
            cur += ch
    out.append(cur.strip())
    result = []
    for p in out:
        m = re.fullmatch(r"(.+?)\s*\b([A-Za-z_]\w*)", p)
        if not m or "(" in p:
            raise HeaderError(f"cannot read parameter {p!r}")
        result.append((m.group(1).strip(), m.group(2)))
    return result


def parse(text: str) -> Model:
    model = Model()
    for m in re.finditer(r"^#define\s+(SQ_\w+)\s+(.+?)\s*$", text, flags=re.M):
        name, value = m.groups()
        if name in ("SQUALL_H",):
            continue
        value = value.strip()
        if re.fullmatch(r"\(?-?\d+\)?", value):
            model.constants.append((name, value.strip("()")))
        elif re.fullmatch(r'"[^"]*"', value):
            model.constants.append((name, value))
        else:
            raise HeaderError(f"cannot read #define {name} {value}")
    body = strip_comments(text)
    body = re.sub(r"^#.*$", "", body, flags=re.M)
    body = body.replace('extern "C" {', "").replace("extern \"C\"", "")
    pos = 0
    stmt_re = re.compile(r"\s*(typedef\s+struct\s*\{.*?\}\s*\w+\s*;|[^;{}]*;|\})", re.S)
    while pos < len(body):
        m = stmt_re.match(body, pos)
        if not m:
            rest = body[pos:].strip()
            if not rest:
                break
            raise HeaderError(f"cannot read: {rest[:80]!r}")
        pos = m.end()
        stmt = " ".join(m.group(1).split())
        if stmt == "}" or stmt == "":
            continue
        parse_statement(model, stmt)
    return model


def parse_statement(model: Model, stmt: str) -> None:
    m = re.fullmatch(r"typedef struct (\w+) (\w+);", stmt)
    if m and m.group(1) == m.group(2):
        model.opaque.append(m.group(1))
        model.order.append(("opaque", m.group(1)))
        return
    m = re.fullmatch(r"typedef struct \{(.*)\} (\w+);", stmt)
    if m:
        fields = []
        for decl in m.group(1).split(";"):
            decl = decl.strip()
            if not decl:
                continue
            fm = re.fullmatch(r"(.+?)\(\*(\w+)\)\((.*)\)", decl)
            if fm:
                fields.append((fm.group(2), ("fnptr", fm.group(1).strip(), split_params(fm.group(3)))))
                continue
            fm = re.fullmatch(r"(.+?)\s*\b(\w+)\[(\w+)\]", decl)
            if fm:
                fields.append((fm.group(2), ("array", fm.group(1).strip(), fm.group(3))))
                continue
            fm = re.fullmatch(r"(.+?)\s*\b(\w+)", decl)
            if not fm:
                raise HeaderError(f"cannot read field {decl!r}")
            fields.append((fm.group(2), ("plain", fm.group(1).strip())))
        model.structs[m.group(2)] = fields
        model.order.append(("struct", m.group(2)))
        return
    m = re.fullmatch(r"typedef (.+?)\(\*(\w+)\)\((.*)\);", stmt)
    if m:
        model.callbacks[m.group(2)] = (m.group(1).strip(), split_params(m.group(3)))
        model.order.append(("callback", m.group(2)))
        return
    m = re.fullmatch(r"typedef (\w+) (\w+);", stmt)
    if m:
        if m.group(2) not in SCALARS:
            raise HeaderError(f"unknown scalar typedef {stmt!r}")
        return
    m = re.fullmatch(r"(.+?)\b(sq_\w+)\((.*)\);", stmt)
    if m:
        model.functions.append((m.group(2), m.group(1).strip(), split_params(m.group(3))))
        return
    raise HeaderError(f"cannot read statement {stmt!r}")


def ctype(model: Model, c: str, *, ret: bool = False, view: bool = False) -> str:
    c = " ".join(c.replace("*", " * ").split())
    base = c.replace("const ", "").strip()
    if base.endswith("*"):
        inner = base[:-1].strip()
        if inner in EVENT_HANDLES:
            return "c_void_p"
        if inner in ("void", "uint8_t"):
            return "c_void_p"
        if inner == "char":
            return "c_void_p" if view else "c_char_p"
        if inner in model.opaque:
            return f"POINTER({inner})"
        if inner in model.structs:
            return f"POINTER({inner})"
        if inner in SCALARS:
            return f"POINTER({SCALARS[inner]})"
        raise HeaderError(f"unknown pointer type {c!r}")
    if base in SCALARS:
        return SCALARS[base]
    if base in model.callbacks:
        return base
    if base in model.structs:
        return base  # a struct field held by value (sq_str in sq_tls_info)
    raise HeaderError(f"unknown type {c!r}")


def cfunctype(model: Model, ret: str, params: list[tuple[str, str]]) -> str:
    args = [ctype(model, ret, ret=True)] + [ctype(model, t, view=True) for t, _ in params]
    return f"CFUNCTYPE({', '.join(args)})"


def render(model: Model) -> str:
    out = [
        '"""ctypes declarations for libsquall, generated from include/squall.h.',
        "",
        "This is a generated file: DO NOT EDIT. Regenerate with",
        "`python3 bindings/python/tools/gen_bindings.py`; the test suite fails when",
        'it is stale."""',
        "# fmt: off",
        "from ctypes import (CFUNCTYPE, POINTER, Structure, c_char_p, c_double, c_int,",
        "                    c_int32, c_int64, c_size_t, c_uint8, c_uint16, c_uint32,",
        "                    c_uint64, c_void_p)",
        "",
    ]
    for name, value in model.constants:
        out.append(f"{name} = {value}")
    out.append("")
    for kind, name in model.order:
        if kind == "opaque":
            out.append("")
            out.append(f"class {name}(Structure):")
            out.append(f'    """Opaque `{name}` handle (only ever used through a pointer)."""')
        elif kind == "callback":
            ret, params = model.callbacks[name]
            out.append("")
            out.append(f"{name} = {cfunctype(model, ret, params)}")
        elif kind == "struct":
            out.append("")
            out.append(f"class {name}(Structure):")
            out.append("    _fields_ = [")
            for fname, spec in model.structs[name]:
                if spec[0] == "fnptr":
                    t = cfunctype(model, spec[1], spec[2])
                elif spec[0] == "array":
                    t = f"{ctype(model, spec[1])} * {spec[2]}"
                else:
                    t = ctype(model, spec[1], view=name in VIEW_STRUCTS)
                out.append(f"        ({fname!r}, {t}),")
            out.append("    ]")
    out.append("")
    out.append("")
    out.append("def declare(lib):")
    out.append('    """Sets argtypes and restype of every function of the header on `lib`."""')
    for name, ret, params in model.functions:
        args = ", ".join(ctype(model, t) for t, _ in params)
        out.append(f"    lib.{name}.argtypes = [{args}]")
        out.append(f"    lib.{name}.restype = {ctype(model, ret, ret=True)}")
    out.append("")
    out.append("")
    names = ", ".join(repr(n) for n, _, _ in model.functions)
    out.append(f"FUNCTIONS = ({names},)")
    return "\n".join(out) + "\n"


def generate() -> str:
    return render(parse(HEADER.read_text()))


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if not OUTPUT.exists() or OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: run python3 bindings/python/tools/gen_bindings.py", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
