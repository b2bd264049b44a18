"""Keeps only the corpus files that reach a new coverage edge.

Reads the libFuzzer merge control file (-merge_control_file) of a merge of
one corpus directory into an empty one. libFuzzer runs the files smallest
first and lists, per file, the edges (COV) no earlier file reached; a file
with none only adds finer features (hit counts, comparisons) and is
deleted. The files left still reach every edge the corpus reached.
Used by tests/fuzz.sh cmin:

    python3 fuzz/cover.py CONTROL_FILE
"""
import sys


def main(control):
    lines = open(control).read().splitlines()
    n = int(lines[0])
    files = lines[2:2 + n]
    new_edges = {}
    for line in lines[2 + n:]:
        if line.startswith("COV "):
            parts = line.split()
            new_edges[int(parts[1])] = len(parts) - 2
    keep = {i for i, e in new_edges.items() if e > 0}
    if len(new_edges) != n:
        sys.exit(f"{control}: {n - len(new_edges)} files without a COV line (a crash in the merge?)")
    import os
    for i, f in enumerate(files):
        if i not in keep:
            os.remove(f)
    print(f"{len(keep)} of {n} files reach a new edge")


if __name__ == "__main__":
    main(sys.argv[1])
