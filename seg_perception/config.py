"""Scenario configuration: class maps, colours and defaults read from ``config/<scenario>.yaml``.

The YAML files are ROS 2 parameter files. Everything outside the ROS layer reads
the same ``ros__parameters`` block through :func:`load_scenario`, so a class map
is defined once.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seg_perception.errors import ConfigError

PACKAGE_NAME = "seg_perception"
SCENARIOS = ("highway", "road", "parking")


def share_dir() -> Path:
    """Return the directory holding ``config/``, ``launch/`` and ``weights/``.

    Order: ``$SEG_PERCEPTION_SHARE``; the source checkout this module lives in;
    the ament index (colcon installs); ``<sys.prefix>/share/seg_perception`` (pip installs).
    """
    env = os.environ.get("SEG_PERCEPTION_SHARE")
    if env:
        return Path(env)
    source_root = Path(__file__).resolve().parents[1]
    if (source_root / "config" / "highway.yaml").is_file():
        return source_root
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory(PACKAGE_NAME))
    except Exception:  # the ament index is absent or does not know the package
        return Path(sys.prefix) / "share" / PACKAGE_NAME


def config_path(scenario: str) -> Path:
    """Path of the shipped parameter file of ``scenario``."""
    return share_dir() / "config" / f"{scenario}.yaml"


def default_model_path(scenario: str) -> Path:
    """Path of the shipped ONNX model of ``scenario``."""
    return share_dir() / "weights" / f"{scenario}.onnx"


def parse_hex_color(text: str) -> tuple[int, int, int]:
    """Parse ``#RRGGBB`` into an (R, G, B) tuple.

    Raises:
        ConfigError: the text is not a six-digit hex colour.
    """
    value = text.strip().lstrip("#")
    if len(value) != 6:
        raise ConfigError(f"colour {text!r} is not of the form #RRGGBB")
    try:
        return tuple(int(value[i : i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    except ValueError as err:
        raise ConfigError(f"colour {text!r} is not of the form #RRGGBB") from err


@dataclass(frozen=True)
class ClassMap:
    """Class names and display colours; the index is the class id."""

    names: tuple[str, ...]
    colors_hex: tuple[str, ...]

    def __post_init__(self) -> None:
        if len(self.names) < 2:
            raise ConfigError("a class map needs at least two classes (background and one more)")
        if len(self.names) != len(self.colors_hex):
            raise ConfigError(f"{len(self.names)} class names but {len(self.colors_hex)} class colours")
        if len(set(self.names)) != len(self.names):
            raise ConfigError(f"class names are not unique: {list(self.names)}")
        for color in self.colors_hex:
            parse_hex_color(color)

    @property
    def num_classes(self) -> int:
        return len(self.names)

    @property
    def colors_rgb(self) -> np.ndarray:
        """(num_classes, 3) uint8 RGB colours."""
        return np.array([parse_hex_color(c) for c in self.colors_hex], dtype=np.uint8)

    @property
    def colors_bgr(self) -> np.ndarray:
        """(num_classes, 3) uint8 BGR colours, for OpenCV images."""
        return np.ascontiguousarray(self.colors_rgb[:, ::-1])

    def index(self, name: str) -> int:
        """Class id of ``name``.

        Raises:
            ConfigError: no class has that name.
        """
        try:
            return self.names.index(name)
        except ValueError as err:
            raise ConfigError(f"unknown class {name!r}; classes are {list(self.names)}") from err


@dataclass(frozen=True)
class ScenarioConfig:
    """One scenario's parameters as read from its YAML file."""

    name: str
    classes: ClassMap
    cameras: tuple[str, ...]
    params: dict[str, Any] = field(repr=False)
    path: Path | None = None

    def camera(self, name: str) -> dict[str, Any]:
        """The parameter block of camera ``name`` (e.g. ``front`` or ``avm``)."""
        block = self.params.get(name)
        if not isinstance(block, dict):
            raise ConfigError(f"scenario {self.name!r} has no parameter block for camera {name!r}")
        return block

    @property
    def primary_camera(self) -> str:
        return self.cameras[0]

    def image_size(self, camera: str | None = None) -> tuple[int, int]:
        """(height, width) of the camera's synthetic stream."""
        size = self.camera(camera or self.primary_camera).get("image_size")
        if not (isinstance(size, list) and len(size) == 2):
            raise ConfigError(f"{self.name}: image_size must be [height, width], got {size!r}")
        return int(size[0]), int(size[1])


def read_parameters(path: Path) -> dict[str, Any]:
    """Return the ``ros__parameters`` block of a ROS 2 parameter file."""
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        raise ConfigError(f"configuration file {path} does not exist") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"configuration file {path} is not valid YAML: {err}") from err
    if not isinstance(document, dict) or not document:
        raise ConfigError(f"{path} is not a ROS 2 parameter file (expected '<node>: ros__parameters:')")
    node_block = next(iter(document.values()))
    params = node_block.get("ros__parameters") if isinstance(node_block, dict) else None
    if not isinstance(params, dict):
        raise ConfigError(f"{path} has no 'ros__parameters' block")
    return params


def load_scenario(name_or_path: str | os.PathLike[str]) -> ScenarioConfig:
    """Load a scenario by name (``highway``, ``road``, ``parking``) or from a YAML path.

    Raises:
        ConfigError: unknown scenario, unreadable file or invalid class map.
    """
    text = os.fspath(name_or_path)
    if text in SCENARIOS:
        path = config_path(text)
    elif text.endswith((".yaml", ".yml")):
        path = Path(text)
    else:
        raise ConfigError(f"unknown scenario {text!r}; choose one of {', '.join(SCENARIOS)} or a YAML path")
    params = read_parameters(path)
    try:
        classes = ClassMap(tuple(params["class_names"]), tuple(params["class_colors"]))
        cameras = tuple(params["cameras"])
        name = str(params["scenario"])
    except KeyError as err:
        raise ConfigError(f"{path} lacks the parameter {err.args[0]!r}") from err
    if not cameras:
        raise ConfigError(f"{path}: 'cameras' is empty")
    return ScenarioConfig(name=name, classes=classes, cameras=cameras, params=params, path=path)
