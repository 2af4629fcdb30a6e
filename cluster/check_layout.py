#!/usr/bin/env python3
"""Checks the include layout of the tree: which folder may include which, no cycles, no long lines.

Usage: cluster/check_layout.py [--root DIR] [--max-line-length N] [--no-line-length]

Reads every .h/.cpp file under the root (hidden folders such as .venv, the root's build*/,
assets/, data/ and runs/, and third-party folders are skipped) and checks:
  1. every `#include "..."` edge between units against ALLOWED below (edges inside a unit are
     always allowed);
  2. no <torch/...>, <ATen/...> or <c10/...> include in a TORCH_FREE unit;
  3. no cycle between top-level folders, nor between units (the second-level folders);
  4. no line over --max-line-length (120) characters, except in tests/reference and third-party.
Prints one line per violation (`path:line: ...`, cycles name one include per hop) and exits 1 if
there is any, 0 otherwise. Includes are resolved against the including file's folder, then the
root; an include found in neither (a system or generated header) is not checked.
"""

import argparse
import os
import re
import sys
from pathlib import Path

# ---------------------------------------------------------------------------------------------
# Units: a unit is a folder (its files, not its sub-folders' files), or a file group named by a
# path without extension (trainer/artifact/manifest: manifest.h + manifest.cpp). A file belongs to
# the longest unit that prefixes it; the top-level folder is the unit of files directly in it.

# The torch-free part of the trainer (CMake: trellis_trainer_core).
TRAINER_CORE = {"trainer/text", "trainer/data", "trainer/io", "trainer/spec", "trainer/artifact/manifest"}
# The LibTorch part (CMake: trellis_trainer); `trainer` holds trainer/*.h (torch_pch.h).
TRAINER_TORCH = {"trainer/model", "trainer/train", "trainer/artifact", "trainer"}
TRAINER = TRAINER_CORE | TRAINER_TORCH

# coordinator/: the mains (coordinator/*.cpp) and one unit per sub-folder. The change feed still
# lives in coordinator/api/ but is a unit of its own, so that coordinator/jobs may use it while
# coordinator/api uses coordinator/jobs without a cycle (move it out of api and drop this line).
COORDINATOR = {"coordinator", "coordinator/http", "coordinator/store", "coordinator/jobs", "coordinator/api",
               "coordinator/api/change_feed", "coordinator/launcher"}
WORKER = {"worker", "worker/group", "worker/mpi", "worker/nccl"}

ANY = "*"  # may include anything

# unit -> the units it may include (besides itself).
ALLOWED = {
    "common": set(),
    **{u: {"common"} | TRAINER_CORE for u in TRAINER_CORE},
    **{u: {"common"} | TRAINER for u in TRAINER_TORCH},
    "registry": {"common"} | TRAINER_CORE,
    "protocol": {"common"} | TRAINER_CORE,
    "coordinator/http": {"common", "protocol"},
    "coordinator/store": {"common", "protocol", "trainer/spec"},
    "coordinator/api/change_feed": {"common", "coordinator/http"},
    "coordinator/jobs": {"common", "protocol", "registry", "coordinator/store", "coordinator/api/change_feed"}
    | TRAINER_CORE,
    "coordinator/api": {"common", "protocol", "registry", "coordinator/http", "coordinator/store", "coordinator/jobs",
                        "coordinator/api/change_feed"} | TRAINER_CORE,
    "coordinator/launcher": {"common", "coordinator/store"},
    "coordinator": {"common", "protocol", "registry"} | COORDINATOR | TRAINER_CORE,
    **{u: {"common", "protocol", "registry"} | TRAINER | WORKER for u in WORKER},
    "cli": {"common", "protocol", "registry"} | TRAINER,
    "bench": ANY,
    "tests": ANY,
}

# Units that never include a LibTorch header.
TORCH_FREE = {"common", "registry", "protocol"} | TRAINER_CORE | COORDINATOR
TORCH_HEADER = re.compile(r"^(torch|ATen|c10)/")

# Folders (relative to the root) whose long lines are not checked.
LONG_LINES_OK = ("tests/reference/",)
SKIP_TOP_DIRS = {"assets", "data", "runs"}  # downloaded files at the root (trainer/data is code)
SKIP_DIRS = {"third_party", "third-party", "external", "node_modules", "__pycache__"}
SOURCE_SUFFIXES = (".h", ".cpp")
INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]')

# ---------------------------------------------------------------------------------------------


def all_units():
    return set(ALLOWED)


def unit_of(rel):
    """The unit of a root-relative path (posix), or None for files outside every unit."""
    parts = rel.split("/")
    stem = rel.rsplit(".", 1)[0]
    units = all_units()
    if stem in units:  # a file-group unit (trainer/artifact/manifest)
        return stem
    for n in range(len(parts) - 1, 0, -1):
        folder = "/".join(parts[:n])
        if folder in units:
            return folder
    return None


def top_of(unit):
    return unit.split("/")[0]


def source_files(root):
    for dirpath, dirnames, filenames in os.walk(root):
        top = Path(dirpath) == Path(root)
        dirnames[:] = sorted(d for d in dirnames
                             if not d.startswith(".") and d not in SKIP_DIRS
                             and not (top and (d.startswith("build") or d in SKIP_TOP_DIRS)))
        for name in sorted(filenames):
            if name.endswith(SOURCE_SUFFIXES):
                yield Path(dirpath, name)


def resolve(root, including, target):
    """Root-relative path of a quoted include, or None if it is not a file of the tree."""
    for base in (including.parent, root):
        candidate = (base / target).resolve()
        try:
            rel = candidate.relative_to(root.resolve())
        except ValueError:
            continue
        if candidate.is_file():
            return rel.as_posix()
    return None


def allowed_text(unit):
    deps = ALLOWED[unit]
    return "anything" if deps == ANY else (", ".join(sorted(deps)) or "nothing")


def find_cycles(edges):
    """Strongly connected components with more than one node (Tarjan), each as a sorted list."""
    graph = {}
    for a, b in edges:
        graph.setdefault(a, set()).add(b)
        graph.setdefault(b, set())
    index, low, on_stack, stack, sccs = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            scc = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                scc.append(w)
                if w == v:
                    break
            if len(scc) > 1:
                sccs.append(sorted(scc))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(sccs)


def cycle_path(edges, scc):
    """One cycle through the component's first node, as a node list that ends where it starts."""
    nodes = set(scc)
    start = scc[0]
    # breadth-first from start back to start inside the component
    prev = {}
    frontier = [start]
    seen = set()
    while frontier:
        nxt = []
        for v in frontier:
            for (a, b) in sorted(edges):
                if a != v or b not in nodes:
                    continue
                if b == start:
                    path = [start]
                    while v != start:
                        path.append(v)
                        v = prev[v]
                    path.append(start)
                    return list(reversed(path))
                if b not in seen:
                    seen.add(b)
                    prev[b] = v
                    nxt.append(b)
        frontier = nxt
    return scc + [start]


def check(root, max_line_length=120):
    """Returns the list of violation messages for the tree under root."""
    root = Path(root)
    problems = []
    unit_edges = {}  # (from unit, to unit) -> first "path:line" that makes it
    top_edges = {}
    for path in source_files(root):
        rel = path.relative_to(root).as_posix()
        unit = unit_of(rel)
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError as e:
            problems.append(f"{rel}: cannot read: {e}")
            continue
        long_ok = rel.startswith(LONG_LINES_OK)
        for number, line in enumerate(lines, 1):
            where = f"{rel}:{number}"
            if max_line_length and not long_ok and len(line) > max_line_length:
                problems.append(f"{where}: line of {len(line)} characters (limit {max_line_length})")
            m = INCLUDE.match(line)
            if not m or unit is None:
                continue
            kind, target = m.groups()
            if TORCH_HEADER.match(target):
                if unit in TORCH_FREE:
                    problems.append(f"{where}: LibTorch header {kind}{target}{'>' if kind == '<' else kind} "
                                    f"in torch-free {unit}")
                continue
            if kind != '"':
                continue
            target_rel = resolve(root, path, target)
            if target_rel is None:
                continue
            to = unit_of(target_rel)
            if to is None or to == unit:
                continue
            unit_edges.setdefault((unit, to), where)
            if top_of(unit) != top_of(to):
                top_edges.setdefault((top_of(unit), top_of(to)), where)
            deps = ALLOWED[unit]
            if deps != ANY and to not in deps:
                problems.append(f'{where}: forbidden include "{target}" ({unit} -> {to}); '
                                f"{unit} may include {allowed_text(unit)}")
    for label, edges in (("folders", top_edges), ("units", unit_edges)):
        for scc in find_cycles(edges):
            path = cycle_path(edges, scc)
            hops = "; ".join(f"{a} -> {b}: {edges[(a, b)]}" for a, b in zip(path, path[1:]))
            problems.append(f"cycle between {label}: {' -> '.join(path)} ({hops})")
    return problems


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--root", default=str(Path(__file__).resolve().parent.parent),
                        help="the tree to check (default: this repository)")
    parser.add_argument("--max-line-length", type=int, default=120)
    parser.add_argument("--no-line-length", action="store_true", help="do not check line lengths")
    args = parser.parse_args(argv)
    problems = check(args.root, 0 if args.no_line_length else args.max_line_length)
    for p in problems:
        print(p)
    if problems:
        print(f"check_layout: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
