#!/usr/bin/env python3
"""Import loops between the files of a Rust crate: the strongly connected components of the
graph whose edges are the `crate::…` and `super::…` paths a file names (in `use` lines and in
code; comments and doc comments are skipped). A path goes to the deepest module file it names
(the crate root's own items to the root).

    python3 ops/module_loops.py gateway/src              # tests included
    python3 ops/module_loops.py gateway/src --no-tests   # without `tests.rs` files and trailing
                                                         # `#[cfg(test)] mod tests { … }` blocks

Prints the number of files, the size of the largest component (1: no loop) and every component
of more than one file. Exits 1 when there is a loop.
"""
import os
import re
import sys

IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def modules(src):
    """Module path (tuple) → file, relative to `src`."""
    out = {}
    for root, _, files in os.walk(src):
        for f in files:
            if f.endswith(".rs"):
                rel = os.path.relpath(os.path.join(root, f), src)
                parts = rel[:-3].split("/")
                if parts[-1] in ("mod", "lib", "main"):
                    parts = parts[:-1]
                out[tuple(parts)] = rel
    return out


def code_of(text, no_tests, name):
    if no_tests:
        if name.endswith("tests.rs"):
            return ""
        text = re.split(r"#\[cfg\(test\)\]\s*(?:pub(?:\(crate\))?\s+)?mod tests\s*\{", text)[0]
    lines = []
    for line in text.split("\n"):
        if line.strip().startswith("//"):
            continue
        lines.append(line.split("//")[0])
    return "\n".join(lines)


def graph(src, no_tests):
    mods = modules(src)

    def resolve(path):
        # The deepest module named; an item of the crate root (`crate::Error`) is the root's.
        for n in range(len(path), -1, -1):
            if tuple(path[:n]) in mods:
                return mods[tuple(path[:n])]
        return None

    edges = {f: set() for f in mods.values()}
    for mp, f in mods.items():
        code = code_of(open(os.path.join(src, f)).read(), no_tests, f)
        targets = []
        for m in re.finditer(r"crate::\{([^}]*)\}", code):
            targets += [i.strip().split("::") for i in m.group(1).split(",") if i.strip()]
        for m in re.finditer(r"\bcrate((?:::" + IDENT + r")+)", code):
            targets.append(m.group(1).split("::")[1:])
        for m in re.finditer(r"\bsuper((?:::" + IDENT + r")+)", code):
            targets.append(list(mp[:-1]) + m.group(1).split("::")[1:])
        for t in targets:
            to = resolve(t)
            if to and to != f:
                edges[f].add(to)
    return edges


def components(edges):
    """Tarjan's strongly connected components."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    if len(args) != 1:
        sys.exit(__doc__)
    edges = graph(args[0], "--no-tests" in sys.argv)
    loops = sorted((c for c in components(edges) if len(c) > 1), key=len, reverse=True)
    print(f"files: {len(edges)}, largest loop: {len(loops[0]) if loops else 1}")
    for c in loops:
        print(f"{len(c)}: {' '.join(c)}")
    sys.exit(1 if loops else 0)


if __name__ == "__main__":
    main()
