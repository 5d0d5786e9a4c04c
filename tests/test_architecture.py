"""The design's import rules, checked on the source (``ast``, nothing imported):

- no import cycle between modules of ``arbsite``, ``exchanges`` and
  ``trading`` (imports inside functions count: a cycle hidden in a function
  is still a cycle);
- nothing in ``exchanges/`` imports or names ``trading``, even in a string
  (a dotted path, a permission, an app label, the control panel's admin URLs);
- services (``trading/services/``, and the alerts' own services in
  ``trading/alerts/``) never import tasks, views, admin or the Celery app.

Run it alone with ``./run.sh test tests/test_architecture.py``.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("arbsite", "exchanges", "trading")
# trading as a module path or permission ("trading.services", "trading.can_x") or a URL
# namespace ("trading:…"); a string that is just "trading" is its app label. The
# word in prose ("the trading side", "/trading/v1" on Invex's wire) is not a name.
TRADING_NAME = re.compile(r"(?<![\w/])trading[.:][A-Za-z_][\w.]*")
# An admin URL name of another app (the control panel's are trading's).
FOREIGN_ADMIN_URL = re.compile(r"^admin:(?!exchanges_|index$|login$|logout$)\w+$")


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


MODULES = _modules()


def _resolve(module: str, name: str | None, level: int, importer: str,
             is_package: bool) -> list[str]:
    """The modules an import statement loads (of ours only)."""
    if level:
        base = importer.split(".")
        base = base if is_package else base[:-1]
        base = base[:len(base) - (level - 1)]
        module = ".".join(base + ([module] if module else []))
    targets = []
    if name is not None and f"{module}.{name}" in MODULES:
        targets.append(f"{module}.{name}")
    elif module in MODULES:
        targets.append(module)
    return targets


def _imports(module: str, path: Path) -> tuple[set[str], list[str]]:
    """(our modules it imports, every imported name it mentions)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    is_package = path.name == "__init__.py"
    ours: set[str] = set()
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                names.append(alias.name)
                ours.update(_resolve(alias.name, None, 0, module, is_package))
        elif isinstance(node, ast.ImportFrom):
            names.append("." * node.level + (node.module or ""))
            for alias in node.names:
                ours.update(_resolve(node.module or "", alias.name, node.level, module,
                                     is_package))
    ours.discard(module)
    return ours, names


GRAPH = {module: _imports(module, path)[0] for module, path in MODULES.items()}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_import_cycle():
    cycles = _cycles(GRAPH)
    assert not cycles, "import cycles:\n" + "\n".join(
        " ⇄ ".join(c) + "\n    " + "; ".join(f"{a} → {b}" for a in c for b in sorted(GRAPH[a])
                                             if b in c) for c in cycles)


def test_nothing_in_exchanges_imports_or_names_trading():
    offences = []
    for module, path in MODULES.items():
        if not module.startswith("exchanges"):
            continue
        _, names = _imports(module, path)
        offences += [f"{path.relative_to(ROOT)}: imports {name}" for name in names
                     if name == "trading" or name.startswith("trading.")]
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                named = ["trading"] if node.value == "trading" else [
                    m.group(0) for m in TRADING_NAME.finditer(node.value)]
                if FOREIGN_ADMIN_URL.match(node.value):
                    named.append(node.value)
                offences += [f"{path.relative_to(ROOT)}:{node.lineno}: names {name!r}"
                             for name in named]
    assert not offences, "\n".join(offences)


# The alerts' faces (its tasks and admin) and beat's scheduler; the rest of
# trading/alerts/ are services: what causes call, checks, delivery.
ALERT_FACES = {"trading.alerts.tasks", "trading.alerts.admin", "trading.alerts.beat"}


def _is_service(module: str) -> bool:
    return module.startswith("trading.services.") or (
        module.startswith("trading.alerts.") and module not in ALERT_FACES)


def test_services_never_import_tasks_views_admin_or_the_celery_app():
    faces = re.compile(r"^trading\.(tasks|views|admin|adminsite|reports\.views)$|\.admin$"
                       r"|\.tasks$|^arbsite\.celery$")
    offences = [f"{module} → {target}" for module, targets in GRAPH.items()
                if _is_service(module) for target in sorted(targets) if faces.search(target)]
    assert not offences, "\n".join(offences)


def test_the_walk_sees_the_code():
    """The checks above read what they should: every package, real imports."""
    assert {m.split(".")[0] for m in MODULES} == set(PACKAGES)
    assert "trading.services.orders" in GRAPH["trading.services.execution"]
    assert "exchanges.registry" in GRAPH["trading.services.orders"]
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _is_service("trading.alerts.services") and _is_service("trading.services.ledger")
    assert not _is_service("trading.alerts.tasks")
    assert TRADING_NAME.search("user.has_perm('trading.can_pause_trading')")
    assert not TRADING_NAME.search("https://api.invex.ir/trading/v1 and trading_enabled")


def test_nothing_points_outside_the_repo():
    """What the code relies on lives in the repo (docs/, WIRE.md), never in a
    sibling folder a checkout does not have."""
    outside = re.compile(r"\.\./shared|/work/shared|(?<![\w/])shared/(DESIGN|STYLE|exchanges)")
    offences = []
    for path in sorted(ROOT.rglob("*")):
        relative = path.relative_to(ROOT)
        if (not path.is_file() or relative.parts[0] in (".venv", "var", ".git")
                or path.suffix not in (".py", ".md", ".html", ".sh", ".toml", ".txt", "")):
            continue
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if outside.search(line) and relative != Path(__file__).relative_to(ROOT):
                offences.append(f"{relative}:{number}: {line.strip()}")
    assert not offences, "\n".join(offences)
