#!/usr/bin/env python3
"""Compiles or runs every fenced code block of the guides (docs/guide/*.md).

What each block's language tag means:

  c       a whole program: compiled with the project's warning flags against
          include/ and linked with target/release/libsquall.a
  python  compiled; with PYTHONPATH=bindings/python
  go      a whole program (package main): built as a module that requires
          squall (replaced by bindings/go), linked with libsquall.a
  sh      checked by `bash -n`
  text    not code (output, diagrams, formats): skipped
  any other tag is an error, and so is a fence with no tag.

A block preceded by the line `<!-- test: run -->` is also run, once built,
with a time limit (RUN_SECS), and must exit 0; `<!-- test: run expect=TEXT -->`
also requires TEXT in its standard output. The blocks of one page run in
order in one scratch directory of their own (build/docs-test/<page>/), so
a `sh` block run first may make files (certificates) that later blocks use.
Every run gets PORT (a free 127.0.0.1 port) in its environment.

    python3 docs/tools/doc_blocks.py [--list] [page.md ...]
    python3 docs/tools/doc_blocks.py --self-test
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guide"
OUT = ROOT / "build" / "docs-test"
LANGS = {"c", "python", "go", "sh", "text"}
RUN_SECS = int(os.environ.get("DOC_BLOCK_SECS", "30"))
CC = os.environ.get("CC", "cc")
GO = os.environ.get("GO", "go")
PYTHON = os.environ.get("PYTHON", sys.executable)
CWARN = ["-std=c11", "-D_GNU_SOURCE", "-Wall", "-Wextra", "-Wpedantic", "-Werror"]
STATIC_LIBS = ["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm", "-ldl", "-lc"]
FENCE = re.compile(r"^(```+)\s*([A-Za-z0-9_+-]*)\s*$")
MARK = re.compile(r"^<!--\s*test:\s*run(?:\s+expect=(.*?))?\s*-->$")


@dataclass
class Block:
    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    code: str
    run: bool
    expect: str | None

    @property
    def name(self) -> str:
        return f"{self.page.stem}-L{self.line}"

    def where(self) -> str:
        return f"{self.page.relative_to(ROOT) if self.page.is_relative_to(ROOT) else self.page}:{self.line}"


def blocks_of(page: Path, text: str | None = None) -> list[Block]:
    lines = (page.read_text(encoding="utf-8") if text is None else text).splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang = m.group(1), m.group(2)
        start = i
        body = []
        i += 1
        while i < len(lines) and lines[i].rstrip() != fence:
            body.append(lines[i])
            i += 1
        if i == len(lines):
            raise SystemExit(f"{page}:{start + 1}: a code block that never closes")
        prev = next((lines[k].strip() for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        mark = MARK.match(prev)
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n", bool(mark),
                         mark.group(1) if mark else None))
        i += 1
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sh(cmd: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


class Runner:
    def __init__(self) -> None:
        self.failures: list[str] = []
        self.counts = {lang: 0 for lang in LANGS}
        self.ran = 0

    def fail(self, b: Block, what: str, detail: str = "") -> None:
        self.failures.append(f"{b.where()}: {b.lang} block {what}" + (f"\n{detail.rstrip()}" if detail else ""))

    def compile_c(self, b: Block, work: Path) -> Path | None:
        lib = ROOT / "target" / "release" / "libsquall.a"
        if not lib.exists():
            self.fail(b, f"cannot be linked: {lib} is missing (run `make` first)")
            return None
        src = work / "c" / f"{b.name}.c"
        src.parent.mkdir(parents=True, exist_ok=True)
        src.write_text(b.code)
        out = src.with_suffix("")
        r = sh([CC, *CWARN, f"-I{ROOT / 'include'}", str(src), "-o", str(out), str(lib), *STATIC_LIBS], work)
        if r.returncode:
            self.fail(b, "does not compile", r.stderr)
            return None
        return out

    def check(self, b: Block) -> None:
        """Python compiled, shell checked (no executable)."""
        if b.lang == "python":
            try:
                compile(b.code, b.where(), "exec")
            except SyntaxError as e:
                self.fail(b, "does not compile", str(e))
        elif b.lang == "sh":
            r = subprocess.run(["bash", "-n"], input=b.code, capture_output=True, text=True)
            if r.returncode:
                self.fail(b, "is not valid shell", r.stderr)

    def build_go(self, blocks: list[Block], mod: Path) -> dict[str, Path]:
        """One module, one package per block (so one `go build` builds them
        all, in parallel), against bindings/go."""
        if mod.exists():
            shutil.rmtree(mod)
        mod.mkdir(parents=True)
        gomod = (ROOT / "bindings" / "go" / "go.mod").read_text()
        req = "\n".join(l for l in gomod.splitlines() if l.startswith("require "))
        (mod / "go.mod").write_text(f"module docblocks\n\ngo 1.23\n\nrequire squall v0.0.0\n{req}\n\n"
                                    f"replace squall => {ROOT / 'bindings' / 'go'}\n")
        shutil.copy(ROOT / "bindings" / "go" / "go.sum", mod / "go.sum")
        names = {}
        for b in blocks:
            pkg = b.name.replace("-", "_").lower()
            (mod / pkg).mkdir()
            (mod / pkg / "main.go").write_text(b.code)
            names[pkg] = b
        env = dict(os.environ)
        # the library's checksum in the flags, so Go's cache relinks a rebuilt libsquall.a (as the Makefile does)
        stamp = sh(["cksum", str(ROOT / "target" / "release" / "libsquall.a")], mod).stdout.split()[0]
        r = sh([GO, "vet", "./..."], mod, env)
        if r.returncode:
            for pkg, b in names.items():
                if f"/{pkg}" in r.stderr or f"{pkg}/" in r.stderr:
                    self.fail(b, "fails go vet", r.stderr)
            if not any("go vet" in f for f in self.failures):
                self.failures.append(f"go vet over the guides' Go blocks failed:\n{r.stderr}")
            return {}
        bin_dir = mod / "bin"
        r = sh([GO, "build", f"-ldflags=-X=main.squallLibrary={stamp}", "-o", str(bin_dir) + "/", "./..."], mod, env)
        if r.returncode:
            self.failures.append(f"go build of the guides' Go blocks failed:\n{r.stderr}")
            return {}
        return {b.name: bin_dir / pkg for pkg, b in names.items()}

    def run_pages(self, pages: list[Path]) -> None:
        """Builds every block of every page at once (the Go module and the C
        programs in parallel: linking dominates), then runs each page's
        runnable blocks in order."""
        page_blocks = {p: blocks_of(p) for p in pages}
        exe: dict[str, Path] = {}
        with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
            go_blocks = [b for bs in page_blocks.values() for b in bs if b.lang == "go"]
            go_job = pool.submit(self.build_go, go_blocks, OUT / "go") if go_blocks else None
            c_jobs = []
            for p, blocks in page_blocks.items():
                work = OUT / p.stem
                if work.exists():
                    shutil.rmtree(work)
                (work / "run").mkdir(parents=True)
                for b in blocks:
                    if b.lang not in LANGS:
                        self.fail(b, f"has an unknown language tag {b.lang!r} (known: {', '.join(sorted(LANGS))})")
                        continue
                    self.counts[b.lang] += 1
                    if b.run and b.lang == "text":
                        self.fail(b, "is marked to run but is text")
                    if b.lang == "c":
                        c_jobs.append((b, pool.submit(self.compile_c, b, work)))
                    else:
                        self.check(b)
            for b, job in c_jobs:
                out = job.result()
                if out is not None:
                    exe[b.name] = out
            if go_job is not None:
                exe.update(go_job.result())
        for p, blocks in page_blocks.items():
            print(f"== {p.relative_to(ROOT) if p.is_relative_to(ROOT) else p}")
            self.run_page(p, blocks, exe)

    def run_page(self, page: Path, blocks: list[Block], exe: dict[str, Path]) -> None:
        work = OUT / page.stem
        scratch = work / "run"
        for b in blocks:
            if not b.run or b.lang not in LANGS or b.lang == "text":
                continue
            if b.lang == "python":
                src = work / f"{b.name}.py"
                src.write_text(b.code)
                cmd = [PYTHON, str(src)]
            elif b.lang == "sh":
                cmd = ["bash", "-euo", "pipefail", "-c", b.code]
            elif b.name in exe:
                cmd = [str(exe[b.name])]
            else:
                continue  # did not build: already a failure
            env = dict(os.environ)
            env["PORT"] = str(free_port())
            env["PYTHONPATH"] = str(ROOT / "bindings" / "python") + os.pathsep + env.get("PYTHONPATH", "")
            t0 = time.monotonic()
            try:
                r = subprocess.run(cmd, cwd=scratch, env=env, capture_output=True, text=True,
                                   timeout=RUN_SECS, stdin=subprocess.DEVNULL)
            except subprocess.TimeoutExpired as e:
                out = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
                self.fail(b, f"did not finish within {RUN_SECS} s", out)
                continue
            self.ran += 1
            out = r.stdout + r.stderr
            if r.returncode:
                self.fail(b, f"exited with {r.returncode}", out)
            elif b.expect is not None and b.expect not in r.stdout:
                self.fail(b, f"did not print {b.expect!r}", out)
            else:
                print(f"  ran {b.where()} ({b.lang}, {time.monotonic() - t0:.1f} s)")


SELF_TEST_PAGE = """# A page with faults

<!-- test: run expect=right -->
```sh
echo wrong
```

```c
int main(void) { return undeclared; }
```

```python
def broken(:
```

<!-- test: run -->
```sh
exit 3
```

```rust
fn main() {}
```

<!-- test: run expect=fine -->
```sh
echo fine
```
"""


def self_test() -> int:
    with tempfile.TemporaryDirectory() as d:
        page = Path(d) / "faults.md"
        page.write_text(SELF_TEST_PAGE)
        r = Runner()
        global OUT
        OUT = Path(d) / "out"
        r.run_pages([page])
    want = ["did not print 'right'", "does not compile", "does not compile", "exited with 3",
            "unknown language tag 'rust'"]
    got = r.failures
    ok = len(got) == len(want) and all(any(w in g for g in got) for w in want) and r.ran == 3
    if not ok:
        print("doc_blocks self-test: expected failures", want, "ran 3; got", got, "ran", r.ran, file=sys.stderr)
        return 1
    print(f"doc_blocks self-test: ok ({len(got)} faults of {len(want)} caught; the good block passed)")
    return 0


def main(argv: list[str]) -> int:
    if argv[1:] == ["--self-test"]:
        return self_test()
    listing = "--list" in argv
    pages = [Path(a).resolve() for a in argv[1:] if a != "--list"] or sorted(GUIDE.glob("*.md"))
    if listing:
        for p in pages:
            for b in blocks_of(p):
                print(f"{b.where()}\t{b.lang}\t{'run' if b.run else 'build'}")
        return 0
    r = Runner()
    t0 = time.monotonic()
    r.run_pages(pages)
    summary = ", ".join(f"{n} {lang}" for lang, n in sorted(r.counts.items()) if n)
    if r.failures:
        print("\n".join(r.failures), file=sys.stderr)
        print(f"doc_blocks: {len(r.failures)} failure(s) ({summary}; {r.ran} run)", file=sys.stderr)
        return 1
    print(f"doc_blocks: every block ok: {summary} in {len(pages)} pages; {r.ran} run, in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
