"""The package's import rules (docs/architecture.md), checked on the source with ``ast``.

Every ``import`` / ``from ... import`` of every module counts, also those inside functions and
under ``if TYPE_CHECKING:``, plus exact module names given as strings (``importlib`` tables,
``python -m`` commands). The rules:

- the layers without ROS (models, inference, postprocess, data, training, metrics and the shared
  modules at the top: config, errors, geometry, ...) never import ROS: rclpy, launch, message
  packages, ``seg_perception.ros`` or ``seg_perception.msg``;
- nothing but the applications imports an application (tools, bags, bench, reporting, cli,
  calibrate): the node (``ros``) and the libraries never call back up;
- rclpy and launch are imported directly only by the node (``ros``) and the applications that
  run ROS processes (``tools``, ``bench``);
- no cycle between subpackages, and no cycle between modules.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

PACKAGE = "seg_perception"
SOURCE = Path(__file__).resolve().parents[1] / PACKAGE

APPLICATIONS = frozenset({"tools", "bags", "bench", "reporting", "cli", "calibrate"})
NODE = "ros"
WITHOUT_ROS = frozenset(
    {
        "models",
        "inference",
        "postprocess",
        "data",
        "training",
        "metrics",
        "config",
        "errors",
        "geometry",
        "interfaces",
        "image_decoding",
        "image_encodings",
        "cli_args",
    }
)
RCLPY_USERS = frozenset({NODE, "tools", "bench"})
RCLPY_MODULES = frozenset({"rclpy", "launch", "launch_ros"})
ROS_MODULES = RCLPY_MODULES | {"rosidl_runtime_py", "rosgraph_msgs", "builtin_interfaces", "rcl_interfaces"}
ROS_UNITS = frozenset({NODE, "msg"})  # seg_perception.ros, seg_perception.msg (generated)


@dataclass(frozen=True)
class Import:
    """One import statement: where it is and what it names (resolved, absolute)."""

    file: str
    line: int
    importer: str  # module name
    target: str  # module name as written (resolved when relative)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.importer} imports {self.target}"


def module_files(root: Path) -> dict[str, Path]:
    """Module name -> file of every ``.py`` under ``root`` (a package folder)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = module.split(".") if is_package else module.split(".")[:-1]
    if node.level > 1:
        base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports_of(module: str, path: Path, source: str, known: Iterable[str]) -> Iterator[Import]:
    """Every import in ``source`` (module ``module`` at ``path``), nested ones included."""
    known = set(known)
    tree = ast.parse(source, filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(str(path), node.lineno, module, alias.name)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, path.name == "__init__.py", node)
            for alias in node.names:
                # ``from pkg import sub`` imports the submodule ``pkg.sub``
                name = f"{base}.{alias.name}"
                yield Import(str(path), node.lineno, module, name if name in known else base)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in known:
            yield Import(str(path), node.lineno, module, node.value)  # importlib / python -m


def package_imports(root: Path = SOURCE) -> tuple[dict[str, Path], list[Import]]:
    modules = module_files(root)
    found = []
    for module, path in modules.items():
        found.extend(imports_of(module, path, path.read_text(encoding="utf-8"), modules))
    return modules, found


def unit(module: str) -> str | None:
    """The layer unit of a package module (``seg_perception.ros.core`` -> ``ros``), None outside."""
    parts = module.split(".")
    if parts[0] != PACKAGE:
        return None
    return parts[1] if len(parts) > 1 else ""  # "" is the package's own __init__ (public facade)


def is_ros(target: str) -> bool:
    top = target.split(".")[0]
    return top in ROS_MODULES or top.endswith("_msgs") or unit(target) in ROS_UNITS


def rule_violations(found: Iterable[Import]) -> list[str]:
    """One line per import that breaks a layer rule (see the module docstring)."""
    problems = []
    for item in found:
        source, target = unit(item.importer), unit(item.target)
        if source in WITHOUT_ROS and is_ros(item.target):
            problems.append(f"{item}: the '{source}' layer must not import ROS")
        if source not in APPLICATIONS and source != "" and target in APPLICATIONS:
            problems.append(f"{item}: '{source}' must not import the application '{target}'")
        top = item.target.split(".")[0]
        if top in RCLPY_MODULES and source not in RCLPY_USERS:
            problems.append(f"{item}: only {sorted(RCLPY_USERS)} may import {top}")
    return problems


def _strongly_connected(edges: Mapping[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative: the components with more than one node (the cycles)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    nodes = sorted(set(edges) | {t for ts in edges.values() for t in ts})
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
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
                    cycles.append(sorted(component))
    return cycles


def cycle_violations(found: Iterable[Import], *, key: str) -> list[str]:
    """Cycles between subpackages (``key="unit"``) or modules (``key="module"``), with the imports."""
    edges: dict[str, set[str]] = defaultdict(set)
    witnesses: dict[tuple[str, str], Import] = {}
    for item in found:
        if key == "unit":
            source, target = unit(item.importer), unit(item.target)
        else:
            source, target = item.importer, item.target
            if unit(target) is None:
                continue
        # The package's own __init__ (lazy public names) is loaded before anything else.
        if source in (None, "", PACKAGE) or target in (None, "", PACKAGE) or source == target:
            continue
        edges[source].add(target)
        witnesses.setdefault((source, target), item)
    problems = []
    for component in _strongly_connected(edges):
        members = set(component)
        links = [str(w) for (s, t), w in sorted(witnesses.items()) if s in members and t in members]
        problems.append(f"import cycle between {', '.join(component)}:\n    " + "\n    ".join(links))
    return problems


@pytest.fixture(scope="module")
def package() -> tuple[dict[str, Path], list[Import]]:
    return package_imports()


def test_the_scan_sees_the_package(package: tuple[dict[str, Path], list[Import]]) -> None:
    modules, found = package
    assert f"{PACKAGE}.ros.core" in modules and f"{PACKAGE}.tools.demo" in modules
    # a top-level and a nested (function-level) import are both seen
    demo = {item.target for item in found if item.importer == f"{PACKAGE}.tools.demo"}
    assert f"{PACKAGE}.config" in demo and f"{PACKAGE}.tools.recorder" in demo
    assert len(found) > 500


def test_layers_import_only_downwards(package: tuple[dict[str, Path], list[Import]]) -> None:
    problems = rule_violations(package[1])
    assert not problems, "import rules broken:\n" + "\n".join(problems)


def test_no_cycle_between_subpackages(package: tuple[dict[str, Path], list[Import]]) -> None:
    problems = cycle_violations(package[1], key="unit")
    assert not problems, "\n".join(problems)


def test_no_cycle_between_modules(package: tuple[dict[str, Path], list[Import]]) -> None:
    problems = cycle_violations(package[1], key="module")
    assert not problems, "\n".join(problems)


# The checker itself: each rule fails on a package that breaks it.


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / PACKAGE / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / PACKAGE


CLEAN = {
    "__init__.py": "",
    "errors.py": "class Error(Exception): ...\n",
    "models/__init__.py": "from seg_perception.errors import Error\n",
    "inference/__init__.py": "",
    "inference/engine.py": "from seg_perception.models import Error\n",
    "ros/__init__.py": "",
    "ros/core.py": "import rclpy\nfrom seg_perception.inference.engine import Error\n",
    "tools/__init__.py": "",
    "tools/demo.py": "from seg_perception.ros import core\nCOMMAND = 'seg_perception.ros.core'\n",
}


def _check(tmp_path: Path, extra: Mapping[str, str]) -> list[str]:
    _, found = package_imports(_write(tmp_path, {**CLEAN, **extra}))
    return (
        rule_violations(found) + cycle_violations(found, key="unit") + cycle_violations(found, key="module")
    )


def test_checker_passes_a_clean_package(tmp_path: Path) -> None:
    assert _check(tmp_path, {}) == []


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        # ROS in a layer without it, also inside a function
        (
            "models/net.py",
            "def f():\n    import rclpy\n",
            "models/net.py:2: seg_perception.models.net imports rclpy",
        ),
        (
            "inference/ros_use.py",
            "from sensor_msgs.msg import Image\n",
            "'inference' layer must not import ROS",
        ),
        (
            "postprocess/x.py",
            "from ..ros import core\n",
            "seg_perception.postprocess.x imports seg_perception.ros.core",
        ),
        ("data/x.py", "import seg_perception.msg\n", "'data' layer must not import ROS"),
        # the node calling up into an application, also only for type checking
        (
            "ros/node.py",
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from seg_perception.tools.demo import x\n",
            "'ros' must not import the application 'tools'",
        ),
        (
            "ros/cmd.py",
            "CMD = ['python', '-m', 'seg_perception.tools.demo']\n",
            "'ros' must not import the application",
        ),
        # rclpy in an application that is not a ROS tool
        ("bags/out.py", "from rclpy.serialization import serialize_message\n", "may import rclpy"),
        # a cycle between modules of one subpackage
        (
            "ros/worker.py",
            "from seg_perception.ros.node2 import x\n",
            "import cycle between seg_perception.ros.node2",
        ),
    ],
)
def test_checker_fails_on_a_violation(tmp_path: Path, name: str, text: str, expected: str) -> None:
    extra = {name: text}
    if name == "ros/worker.py":
        extra["ros/node2.py"] = "from seg_perception.ros import worker\n"
    problems = _check(tmp_path, extra)
    assert any(expected in problem for problem in problems), problems
    assert any(name in problem for problem in problems), problems  # the offending file is named


def test_checker_finds_a_cycle_between_subpackages(tmp_path: Path) -> None:
    problems = _check(tmp_path, {"models/back.py": "from seg_perception.inference import engine\n"})
    cycles = [problem for problem in problems if "import cycle between inference, models" in problem]
    assert cycles and "models/back.py:1" in cycles[0] and "inference/engine.py:1" in cycles[0], problems
