"""The package's shape: no import cycles, no module writing another's
state, and queue items that are the typed record whatever made them."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path
from typing import Dict, List, Optional, Set

import pytest

import observable
from observable import _record

PACKAGE = Path(observable.__file__).resolve().parent


def _modules(package: Path) -> Dict[str, ast.Module]:
    out = {}
    for path in sorted(package.glob("*.py")):
        name = "observable" if path.stem == "__init__" else f"observable.{path.stem}"
        out[name] = ast.parse(path.read_text(), str(path))
    return out


def _imported(tree: ast.Module, known: Set[str]) -> Set[str]:
    """The package's modules this one imports, anywhere in it: a function's
    own import or one under `if TYPE_CHECKING:` closes a cycle all the same."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name in known)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                base = "observable" + (f".{node.module}" if node.module else "")
            if not base.startswith("observable"):
                continue
            submodules = {f"{base}.{a.name}" for a in node.names} & known
            found.update(submodules or ({base} & known))
    return found


def import_cycle(package: Path) -> Optional[List[str]]:
    """One import cycle among the package's modules, or None."""
    trees = _modules(package)
    graph = {name: _imported(tree, set(trees)) - {name} for name, tree in trees.items()}
    done: Set[str] = set()

    def visit(name: str, path: List[str]) -> Optional[List[str]]:
        if name in path:
            return path[path.index(name):] + [name]
        if name in done:
            return None
        for dep in sorted(graph[name]):
            cycle = visit(dep, path + [name])
            if cycle:
                return cycle
        done.add(name)
        return None

    for name in sorted(graph):
        cycle = visit(name, [])
        if cycle:
            return cycle
    return None


def foreign_writes(package: Path) -> List[str]:
    """Assignments to an attribute of another of the package's modules."""
    trees = _modules(package)
    out = []
    for name, tree in trees.items():
        aliases = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module is None:
                aliases.update(a.asname or a.name for a in node.names)
        for node in ast.walk(tree):
            targets: List[ast.expr] = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            while targets:
                t = targets.pop()
                if isinstance(t, (ast.Tuple, ast.List)):
                    targets.extend(t.elts)
                elif (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                        and t.value.id in aliases):
                    out.append(f"{name}:{t.lineno} writes {t.value.id}.{t.attr}")
    return out


def test_modules_do_not_import_each_other_in_a_cycle():
    assert import_cycle(PACKAGE) is None, " -> ".join(import_cycle(PACKAGE) or [])


def test_no_module_writes_another_modules_state():
    assert foreign_writes(PACKAGE) == []


def test_the_cycle_check_sees_a_cycle(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "_a.py").write_text("from . import _b\n")
    (tmp_path / "_b.py").write_text("def f():\n    from ._a import g\n")
    assert import_cycle(tmp_path) == ["observable._a", "observable._b", "observable._a"]


def test_every_queued_item_is_the_typed_record(captured):
    @observable.track("sync")
    def sync(fail: bool) -> None:
        observable.trace("during", 1)
        if fail:
            raise ValueError("no")

    @observable.track("coro")
    async def coro() -> None:
        return None

    @observable.track("gen")
    def gen():
        yield 1

    @observable.track("agen")
    async def agen():
        yield 1

    async def run_async() -> None:
        await coro()
        async for _ in agen():
            pass
        async with observable.track("async_block"):
            pass

    observable.trace("pending", 2)
    sync(False)
    with pytest.raises(ValueError):
        sync(True)
    asyncio.run(run_async())
    list(gen())
    with observable.track("block"):
        observable.trace("in_block", 3)
    observable.event("manual", amount=4)

    assert len(captured.items) == 8
    kinds = {"sync": [_record.Returned, _record.Call], "coro": [_record.Returned], "gen": [_record.Call],
             "agen": [_record.Call], "async_block": [_record.Call], "block": [_record.Call],
             "manual": [_record.Posted]}
    assert {name: [type(i) for i in captured.items if i.name == name] for name in kinds} == kinds
    for item in captured.items:
        assert item.during is None or type(item.during) is _record.Scope, item
        # One field set, whatever the kind: what the sender reads of each.
        assert all(hasattr(item, f) for f in _record.Call._fields), item
    by_name = {item.name: item for item in captured.items}
    assert by_name["manual"].before == {"amount": 4} and by_name["manual"].status == "completed"
    assert by_name["block"].during.meta == {"in_block": 3}
    assert [e["metadata"] for e in captured.events() if e["name"] == "sync"] == [
        {"pending": 2, "during": 1}, {"during": 1}]
