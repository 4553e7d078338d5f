"""The layout contract of DESIGN.md "Layout: floors", checked statically on every module.

Every import is read from the source (module level, inside functions and under
``TYPE_CHECKING`` alike), so a cycle or a floor violation cannot hide in a lazy import.
Imports under ``TYPE_CHECKING`` never run, so they do not make cycles, but they keep to the
floors and must name modules that exist.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1] / "omnivec"

#: Floor of each top-level part; a module imports only from its own floor or lower ones.
FLOORS = {
    "errors": 0,
    "core": 1,
    "stores": 2,
    "encoders": 2,
    "platform": 3,
    "recs": 4,
    "cli": 5,
    "server": 5,
    "web": 5,
    "demo": 5,
    "integrations": 5,
}
#: Parts of one floor that must not import each other.
APART = {("stores", "encoders"), ("encoders", "stores"), ("platform", "encoders")}
MAX_LINES = 700


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}


def imports(path: Path, name: str, typing: bool = False) -> list[tuple[str, list[str], int]]:
    """(imported module, imported names, line) for every import in ``path`` that can run,
    and with ``typing=True`` also those under ``if TYPE_CHECKING:``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    # Imports under `if TYPE_CHECKING:` never run; they name types for annotations only.
    typing_only = {
        id(n)
        for node in ast.walk(tree)
        if isinstance(node, ast.If)
        and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
        for stmt in node.body
        for n in ast.walk(stmt)
    }
    for node in ast.walk(tree):
        if id(node) in typing_only and not typing:
            continue
        if isinstance(node, ast.Import):
            out.extend((a.name, [], node.lineno) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            out.append((target, [a.name for a in node.names], node.lineno))
    return out


def part(module: str) -> str | None:
    bits = module.split(".")
    if bits[0] != "omnivec" or len(bits) < 2:
        return None
    return bits[1]


def resolve(target: str, names: list[str], known: dict[str, Path]) -> list[str]:
    """The omnivec modules an import statement loads (``from pkg import submodule`` too)."""
    if not target.startswith("omnivec"):
        return []
    out = [target] if target in known else []
    out += [f"{target}.{n}" for n in names if f"{target}.{n}" in known]
    return out


ALL = modules()


@pytest.mark.parametrize("name", sorted(ALL))
def test_floors(name: str) -> None:
    mine = part(name)
    if mine is None:
        return  # the package's public face may re-export from every floor
    assert mine in FLOORS, f"{name}: {mine!r} is not a part named in DESIGN.md's layout"
    for target, names, line in imports(ALL[name], name, typing=True):
        for mod in resolve(target, names, ALL) or ([target] if target == "omnivec" else []):
            theirs = part(mod)
            if theirs is None:
                assert mod != "omnivec" or FLOORS[mine] == 5, (
                    f"{name}:{line} imports the package facade 'omnivec' below floor 5"
                )
                continue
            assert FLOORS[theirs] <= FLOORS[mine], (
                f"{name}:{line} imports {mod} (floor {FLOORS[theirs]}) from floor {FLOORS[mine]}"
            )
            assert (mine, theirs) not in APART, (
                f"{name}:{line} imports {mod}: {mine} and {theirs} stay apart"
            )


@pytest.mark.parametrize("name", sorted(ALL))
def test_imports_name_existing_modules(name: str) -> None:
    """An import of an omnivec module that does not exist fails here even where it never runs
    (``TYPE_CHECKING``), which mypy's ignore_missing_imports would otherwise hide."""
    for target, _names, line in imports(ALL[name], name, typing=True):
        if target.startswith("omnivec"):
            assert target in ALL or target == "omnivec", f"{name}:{line} imports missing {target}"


@pytest.mark.parametrize("name", sorted(ALL))
def test_no_private_names_across_modules(name: str) -> None:
    for target, names, line in imports(ALL[name], name, typing=True):
        if not target.startswith("omnivec") or target == name:
            continue
        private = [n for n in names if n.startswith("_") and not n.startswith("__")]
        assert not private, f"{name}:{line} imports private {private} from {target}"


def test_no_import_cycles() -> None:
    graph = {
        name: {m for t, ns, _ in imports(path, name) for m in resolve(t, ns, ALL) if m != name}
        for name, path in ALL.items()
    }
    # A package's __init__ re-exporting its own submodules is not a cycle by itself.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph[v]:
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
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    assert not cycles, f"import cycles: {cycles}"


@pytest.mark.parametrize("name", sorted(ALL))
def test_module_size(name: str) -> None:
    lines = len(ALL[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines; split it by concern"
