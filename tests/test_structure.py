"""The package's shape: no import cycle between labkit's modules, and no module over 450 lines.

The import graph is read from the source with ``ast`` (nothing is imported): every ``import`` and
``from ... import`` anywhere in a module counts, including those inside functions, because a
deferred import only hides a cycle until the function runs.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "labkit"
MAX_LINES = 450


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py file of ``package`` (a package is its ``__init__``)."""
    out = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


def _resolve(name: str, module: str, is_package: bool, level: int) -> str:
    """The absolute name of ``from <level dots><name> import ...`` written in ``module``."""
    if level == 0:
        return name
    base = module.split(".") if is_package else module.split(".")[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([name] if name else []))


def import_graph(package: Path) -> dict[str, set[str]]:
    """Edges module -> module it imports, restricted to ``package``'s own modules.

    An import of a package is an edge to its ``__init__``; ``from pkg import name`` is an edge to the
    submodule ``pkg.name`` when there is one, else to ``pkg``.
    """
    files = module_files(package)
    graph: dict[str, set[str]] = {m: set() for m in files}
    for module, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _resolve(node.module or "", module, is_package, node.level)
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in files else base
                           for alias in node.names]
            for target in targets:
                while target and target not in files:  # `import a.b.c` of a name inside a module
                    target = target.rpartition(".")[0]
                if target and target != module:
                    graph[module].add(target)
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected component with more than one module
    (Tarjan's algorithm, iterative)."""
    index, low, on_stack, stack, components = {}, {}, set(), [], []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(set(component))
    return [_cycle_in(graph, component) for component in components]


def _cycle_in(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the first-named module of a strongly connected component (BFS)."""
    start = min(component)
    parent: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for child in sorted(graph[node] & component):
            if child == start:
                path = [node]
                while parent[path[-1]] is not None:
                    path.append(parent[path[-1]])
                return path[::-1] + [start]
            if child not in parent:
                parent[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start} in {sorted(component)}")


# ---------------------------------------------------------------------------- the checker itself

def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_graph_resolves_relative_deferred_and_package_imports(tmp_path):
    pkg = _write(tmp_path, {
        "pkg/__init__.py": "from .a import f\n",
        "pkg/a.py": "import os\nfrom . import sub\nfrom .sub import g\n",
        "pkg/b.py": "def h():\n    from .sub.c import x\n    import pkg.a\n",
        "pkg/sub/__init__.py": "from .. import b\nfrom ..a import f\n",
        "pkg/sub/c.py": "from . import d\nfrom .. import a\n",
        "pkg/sub/d.py": "",
    })
    graph = import_graph(pkg)
    assert graph == {"pkg": {"pkg.a"}, "pkg.a": {"pkg.sub"}, "pkg.b": {"pkg.sub.c", "pkg.a"},
                     "pkg.sub": {"pkg.b", "pkg.a"}, "pkg.sub.c": {"pkg.sub.d", "pkg.a"}, "pkg.sub.d": set()}
    assert find_cycles(graph) == [["pkg.a", "pkg.sub", "pkg.a"]]  # one component, its shortest cycle
    graph["pkg.sub"].discard("pkg.a")  # what is left goes a -> sub -> b -> a
    assert find_cycles(graph) == [["pkg.a", "pkg.sub", "pkg.b", "pkg.a"]]


def test_find_cycles_on_a_dag_and_on_two_cycles():
    assert find_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []
    cycles = find_cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}})
    assert sorted(cycles) == [["a", "b", "a"], ["c", "d", "e", "c"]]


# ---------------------------------------------------------------------------- labkit

def test_labkit_has_no_import_cycle():
    graph = import_graph(PACKAGE)
    assert "labkit.explorer" in graph and "labkit.plots.core" in graph
    cycles = find_cycles(graph)
    assert not cycles, "import cycles in labkit:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_no_labkit_module_is_over_450_lines():
    sizes = {m: len(p.read_text().splitlines()) for m, p in module_files(PACKAGE).items()}
    offenders = {m: n for m, n in sorted(sizes.items()) if n > MAX_LINES}
    assert not offenders, f"modules over {MAX_LINES} lines: " + ", ".join(f"{m} ({n})" for m, n in offenders.items())
