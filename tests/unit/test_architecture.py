"""The layout's rules, read from the source: no import cycles among PayDock's own modules, and
no environment reads outside paydock/settings.py.

Both are checked with `ast` over the files (nothing is imported), so an import inside a
function counts like one at the top of a module: a cycle hidden in a function body is
still a cycle."""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: The packages that make up the application (tests/ and bench/ are not part of it).
PACKAGES = ("paydock", "handlers", "models", "webhooks")
#: The one module that reads the environment.
SETTINGS = "paydock/settings.py"
#: Top-level files that run as part of the application.
SCRIPTS = ("gunicorn.conf.py",)


def module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_files() -> dict[str, pathlib.Path]:
    """Module name -> file, for every Python file of the application packages."""
    return {module_name(path): path for package in PACKAGES
            for path in sorted((ROOT / package).rglob("*.py"))}


def imported_modules(name: str, path: pathlib.Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its file (functions included).

    `from models import invoices` imports `models.invoices` when that is a module, else
    the package `models`; relative imports are resolved against the importing package."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        for target in targets:
            # `import models.invoices.x` depends on the deepest project module it names.
            while target and target not in known:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def import_graph() -> dict[str, set[str]]:
    files = project_files()
    known = set(files)
    return {name: imported_modules(name, path, known) for name, path in files.items()}


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path a -> ... -> a) per strongly connected component that has one."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(node: str) -> None:                       # Tarjan's algorithm
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                connect(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [shortest_cycle(graph, set(component), component[0]) for component in components]


def shortest_cycle(graph: dict[str, set[str]], members: set[str], start: str) -> list[str]:
    """The shortest path start -> ... -> start inside one strongly connected component."""
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & members):
                if target == start:
                    return [*paths[node], start]
                if target not in paths:
                    paths[target] = [*paths[node], target]
                    following.append(target)
        frontier = following
    raise AssertionError(f"{start} is in no cycle")


def environment_reads(path: pathlib.Path, root: pathlib.Path = ROOT) -> list[str]:
    """Where a file reads the environment: `os.environ` anywhere but as the target of an
    assignment (`os.environ[name] = value` hands a value to a library and reads nothing),
    `os.getenv`, `os.environb`, and `environ`/`getenv` imported from `os`."""
    tree = ast.parse(path.read_text(), filename=str(path))
    written: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Assign, ast.Delete)):
            for target in node.targets:
                if isinstance(target, ast.Subscript):
                    written.add(id(target.value))
    reads = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "os"
                and node.attr in {"environ", "environb", "getenv", "getenvb"} and id(node) not in written):
            reads.append(f"{path.relative_to(root)}:{node.lineno}: os.{node.attr}")
        if isinstance(node, ast.ImportFrom) and node.module == "os":
            for alias in node.names:
                if alias.name in {"environ", "environb", "getenv", "getenvb"}:
                    reads.append(f"{path.relative_to(root)}:{node.lineno}: from os import {alias.name}")
    return sorted(reads, key=lambda read: int(read.split(":")[1]))


# ------------------------------------------------------------------ the rules


def test_no_import_cycles_among_project_modules():
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in cycles)


def test_only_settings_reads_the_environment():
    files = [*project_files().values(), *(ROOT / script for script in SCRIPTS)]
    reads = [read for path in files if path.relative_to(ROOT).as_posix() != SETTINGS
             for read in environment_reads(path)]
    assert not reads, "read the environment outside paydock/settings.py:\n" + "\n".join(reads)


def test_handlers_reach_the_models_through_functions_only():
    """A handler calls model-layer functions: no model class or query of its own, and Location
    headers come from `paydock.responses.location` (the API's base path is written once)."""
    found = []
    for path in sorted((ROOT / "handlers").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        modules = {alias.asname or alias.name for node in ast.walk(tree)
                   if isinstance(node, ast.ImportFrom) and node.module == "models" for alias in node.names}
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in modules and node.attr[:1].isupper()):
                found.append(f"{path.name}:{node.lineno}: {node.value.id}.{node.attr}")
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "/api" in node.value:
                found.append(f"{path.name}:{node.lineno}: {node.value!r}")
    assert not found, "handlers past the model functions:\n" + "\n".join(found)


# ------------------------------------------------------------------ the checks themselves


def test_graph_sees_function_local_imports(tmp_path):
    source = tmp_path / "a.py"
    source.write_text("import b\n\ndef f():\n    from c import d\n    import e.f\n")
    known = {"a", "b", "c", "c.d", "e", "e.f"}
    assert imported_modules("a", source, known) == {"b", "c.d", "e.f"}


def test_relative_imports_resolve_against_their_package(tmp_path):
    package = tmp_path / "__init__.py"
    package.write_text("from . import b\nfrom .c import x\n")
    assert imported_modules("p", package, {"p", "p.b", "p.c"}) == {"p.b", "p.c"}


def test_a_cycle_is_reported_as_a_path():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"e"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_writing_the_environment_is_not_reading_it(tmp_path):
    script = tmp_path / "conf.py"
    script.write_text('import os\nos.environ["X"] = "1"\nos.environ.get("Y")\nos.getenv("Z")\n'
                      'v = os.environ["W"]\nfrom os import environ\n')
    lines = [read.split(":", 2)[1:] for read in environment_reads(script, root=tmp_path)]
    assert lines == [["3", " os.environ"], ["4", " os.getenv"], ["5", " os.environ"],
                     ["6", " from os import environ"]]

