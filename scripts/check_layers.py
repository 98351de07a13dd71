#!/usr/bin/env python3
"""check_layers.py LAYER... - the layering rules of src/ (README, "A tour of src/").

LAYER... are the folders of src/, lowest first.  Fails (exit 1, one line per
offence) when:
  - an include in src/ is not path-qualified ("store/log.h", not "log.h");
  - a file includes a header from a layer above its own;
  - store/journal.h is included outside src/store/ (the layers above read
    the log through store/reader.h);
  - two modules include each other, directly or around a longer loop (a
    module is x.c, x.h and its private x_int.h; the graph is over modules);
  - a source file is longer than MAX_LINES (the size a reader can hold).
Prints one summary line when everything holds.
"""
import os
import re
import sys

MAX_LINES = 1500
INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def module_of(stem):
    """A module is x.c, x.h and its private header x_int.h."""
    return stem[:-4] if stem.endswith("_int") else stem


def main():
    layers = sys.argv[1:]
    if not layers:
        print("usage: check_layers.py LAYER...", file=sys.stderr)
        return 2
    rank = {name: i for i, name in enumerate(layers)}
    bad = []
    graph = {}
    files = 0
    for root, _, names in os.walk("src"):
        for name in sorted(names):
            if not name.endswith((".c", ".h")):
                continue
            path = os.path.join(root, name)
            rel = os.path.relpath(path, "src")
            layer = rel.split(os.sep)[0]
            if layer not in rank:
                bad.append("%s: not inside a layer folder (%s)" % (path, " ".join(layers)))
                continue
            files += 1
            with open(path, encoding="utf-8") as f:
                text = f.read()
            nlines = text.count("\n")
            if nlines > MAX_LINES:
                bad.append("%s: %d lines (split it below %d)" % (path, nlines, MAX_LINES))
            module = module_of(os.path.splitext(rel)[0])
            edges = graph.setdefault(module, set())
            for inc in INCLUDE.findall(text):
                target = inc.split("/")[0]
                if "/" not in inc or target not in rank:
                    bad.append('%s: #include "%s" is not path-qualified' % (path, inc))
                    continue
                if rank[target] > rank[layer]:
                    bad.append('%s: #include "%s" reaches up from %s/ to %s/'
                               % (path, inc, layer, target))
                if inc == "store/journal.h" and layer != "store":
                    bad.append('%s: #include "store/journal.h" outside store/ '
                               '(read the log through store/reader.h)' % path)
                dep = module_of(os.path.splitext(inc)[0])
                if dep != module:
                    edges.add(dep)
    # Cycles: depth-first search with colours; report each loop once.
    seen_loops = set()
    colour = {}

    def visit(node, stack):
        colour[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if colour.get(nxt) == 1:
                loop = stack[stack.index(nxt):]
                key = frozenset(loop)
                if key not in seen_loops:
                    seen_loops.add(key)
                    bad.append("include cycle: %s -> %s" % (" -> ".join(loop), nxt))
            elif colour.get(nxt) is None and nxt in graph:
                visit(nxt, stack)
        stack.pop()
        colour[node] = 2

    for node in sorted(graph):
        if colour.get(node) is None:
            visit(node, [])
    for line in bad:
        print("check-layers: " + line)
    if bad:
        print("check-layers: %d problem(s) in %d files" % (len(bad), files))
        return 1
    print("check-layers: %d files in %d layers (%s): includes point down, no cycles, "
          "journal.h inside store/, none over %d lines"
          % (files, len(layers), " < ".join(layers), MAX_LINES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
