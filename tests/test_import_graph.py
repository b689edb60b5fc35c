"""owlmail's packages import each other in one direction only: no circles, and no
import tucked into a function to hide one."""

import ast
from pathlib import Path

import owlmail

ROOT = Path(owlmail.__file__).parent


def _module_name(path: Path) -> str:
    parts = ["owlmail", *path.relative_to(ROOT).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool,
              known: set[str]) -> set[str]:
    """The owlmail modules one import statement names."""
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in known}
    if node.level:
        base = module.split(".") if is_package else module.split(".")[:-1]
        base = base[: len(base) - node.level + 1]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    found = set()
    for alias in node.names:  # `from . import services` names a module, not a name in it
        candidate = f"{target}.{alias.name}"
        found.add(candidate if candidate in known else target)
    return found & known


def import_graph() -> dict[str, set[str]]:
    """Every owlmail module and the owlmail modules it imports, wherever in the file."""
    paths = {_module_name(path): path for path in ROOT.rglob("*.py")}
    known = set(paths)
    graph = {}
    for module, path in paths.items():
        imports: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                imports |= _imported(node, module, path.name == "__init__.py", known)
        graph[module] = imports - {module}
    return graph


def package_of(module: str) -> str:
    """owlmail.campaigns.services → owlmail.campaigns; top-level modules stand alone."""
    return ".".join(module.split(".")[:2])


def package_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    packages: dict[str, set[str]] = {}
    for module, imports in graph.items():
        mine = package_of(module)
        packages.setdefault(mine, set()).update(
            package_of(target) for target in imports if package_of(target) != mine)
    return packages


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the graph as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_circle_through_three_packages():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_function_level_imports_count_like_module_level_ones():
    graph = import_graph()
    # owlmail/__init__.py imports the blueprints inside configure_blueprints
    assert "owlmail.admin.views" in graph["owlmail"]
    assert "owlmail.subscriptions.services" in graph["owlmail.subscriptions.views"]


def test_no_module_imports_itself_back_through_others():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " → ".join(cycle or [])


def test_no_package_imports_itself_back_through_others():
    cycle = find_cycle(package_graph(import_graph()))
    assert cycle is None, "import circle between packages: " + " → ".join(cycle or [])
