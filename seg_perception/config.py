"""Scenario configuration: class maps, colours, post-processing and defaults from ``config/<scenario>.yaml``.

The YAML files are ROS 2 parameter files. Everything outside the ROS layer reads
the same ``ros__parameters`` block through :func:`load_scenario`, so a class map
is defined once. Scenarios are discovered: every ``config/*.yaml`` with a ``class_names``
parameter is one, named by its file (:func:`scenario_names`).

What a scenario *does* is configuration too, never a class name in code:

- ``postprocess``: the kind of geometry extracted from the mask, one of :data:`POSTPROCESS_KINDS`;
- ``roles``: which class plays which part in it (:data:`ROLES`), e.g. ``lane_paint: lane_marking``;
- ``synthetic.scene``: the procedural scene the data generator renders (:data:`SYNTHETIC_SCENES`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from seg_perception.errors import ConfigError

PACKAGE_NAME = "seg_perception"
#: The scenario of ``SegmentationPipeline.load()`` and of the node when none is given.
DEFAULT_SCENARIO = "highway"

#: ``postprocess`` kinds: what is extracted from the mask besides one polygon per region.
POSTPROCESS_KINDS: Mapping[str, str] = {
    "regions": "one polygon per connected region of each non-background class, nothing else",
    "lanes": "lane boundaries (fitted, typed, tracked), the ego lane, stop lines and crosswalks",
    "parking_slots": "parking slots (entrance, corners, occupancy, tracked ids) from slot lines, "
    "free space and, when the model has them, marking points",
}
#: Class roles: ``roles.<role>`` names the class (or, for ``background``, classes) playing it.
ROLES: Mapping[str, str] = {
    "background": "classes without polygons or markers (default: class 0)",
    "lane_paint": "lane-line paint; lane boundaries are fitted to it, stop lines are its transverse bars",
    "stop_line": "stop-line paint when it has a class of its own (else part of lane_paint)",
    "crosswalk": "crosswalk stripes",
    "slot_line": "parking-slot line paint",
    "free_space": "the free (unoccupied) area of a parking slot",
}
#: Roles a ``postprocess`` kind cannot work without.
REQUIRED_ROLES: Mapping[str, tuple[str, ...]] = {
    "regions": (),
    "lanes": ("lane_paint",),
    "parking_slots": ("slot_line", "free_space"),
}
#: Roles that may name several classes (the others name exactly one).
MULTI_CLASS_ROLES = frozenset({"background"})
#: ``synthetic.scene`` values: the procedural scenes of ``seg_perception.data.synthetic``.
SYNTHETIC_SCENES: Mapping[str, str] = {
    "highway": "front camera, highway: curved multi-lane roads",
    "urban": "front camera, urban road: junctions with stop lines and crosswalks",
    "parking": "AVM bird's-eye view of a parking lot",
}


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


def config_dir() -> Path:
    """The folder of the scenario YAML files (``<share>/config``)."""
    return share_dir() / "config"


def config_path(scenario: str) -> Path:
    """Path of the shipped parameter file of ``scenario``."""
    return config_dir() / f"{scenario}.yaml"


def scenario_names() -> tuple[str, ...]:
    """Every scenario in :func:`config_dir`, sorted: the stems of the YAML files with ``class_names``.

    Multi-camera parameter files (``drive.yaml``) name no classes and are not scenarios.
    """
    names = []
    for path in sorted(config_dir().glob("*.yaml")):
        try:
            params = read_parameters(path)
        except ConfigError:
            continue  # not a parameter file (e.g. a half-edited copy); load_scenario says why
        if "class_names" in params:
            names.append(path.stem)
    return tuple(names)


def default_model_path(scenario: str) -> Path:
    """Path of the shipped ONNX model of ``scenario``."""
    return share_dir() / "weights" / f"{scenario}.onnx"


#: A scenario's (and a node camera's) model keys for CUDA devices and for every other device
CUDA_MODEL_KEY, CPU_MODEL_KEY = "cuda_model_file", "cpu_model_file"


def is_cuda_device(device: str | None) -> bool:
    """``cuda`` or ``cuda:N``."""
    return str(device or "").partition(":")[0] == "cuda"


def device_model_key(device: str | None) -> str:
    """The per-device model key that applies on ``device``."""
    return CUDA_MODEL_KEY if is_cuda_device(device) else CPU_MODEL_KEY


def scenario_model_path(scenario: ScenarioConfig, device: str | None = None) -> Path:
    """The model a scenario runs on ``device`` when no model file is given on the command line.

    The scenario's ``model_file`` when set (any device); else, on a CUDA device, its
    ``cuda_model_file`` when set (a larger model that a GPU runs in real time but a CPU does
    not), and on any other device its ``cpu_model_file`` when set (e.g. an int8 copy made by
    ``seg-perception quantize``); a bare file name is looked up in ``<share>/weights``. Else the
    shipped ``<share>/weights/<scenario>.onnx``.
    """
    explicit = scenario.params.get("model_file")
    if explicit:
        return Path(str(explicit))
    for_device = str(scenario.params.get(device_model_key(device)) or "")
    if for_device:
        path = Path(for_device)
        return share_dir() / "weights" / path if path.name == for_device else path
    return default_model_path(scenario.name)


def camera_image_size(block: Mapping[str, Any]) -> tuple[int, int] | None:
    """A camera block's ``image_size`` (the frame size its ground geometry is for) as (height, width);
    None when it has none."""
    size = block.get("image_size")
    if not (isinstance(size, list | tuple) and len(size) == 2):
        return None
    return int(size[0]), int(size[1])


def parse_hex_color(text: str) -> tuple[int, int, int]:
    """Parse ``#RRGGBB`` into an (R, G, B) tuple.

    Raises:
        ConfigError: the text is not a six-digit hex colour.
    """
    value = text.strip().lstrip("#")
    if len(value) != 6:
        raise ConfigError(f"colour {text!r} is not of the form #RRGGBB")
    try:
        return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
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
class ClassRoles:
    """Class ids by role (see :data:`ROLES`), resolved against one class map.

    A role whose class is absent from the map (e.g. a node given another ``class_names``)
    is unset, as is a role the scenario does not name.
    """

    ids: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def get(self, role: str) -> int | None:
        """The class id of a one-class role, or None when unset."""
        found = self.ids.get(role, ())
        return found[0] if found else None

    def all(self, role: str) -> tuple[int, ...]:
        """Every class id of ``role`` (empty when unset)."""
        return self.ids.get(role, ())

    def require(self, role: str) -> int:
        """The class id of a one-class role.

        Raises:
            ConfigError: the role is unset.
        """
        found = self.get(role)
        if found is None:
            raise ConfigError(f"no class plays the role {role!r}; set roles.{role} in the scenario YAML")
        return found


def _role_classes(role: str, value: Any, where: str) -> list[str]:
    """The class names a ``roles.<role>`` entry gives: a name or a list of names."""
    names = [value] if isinstance(value, str) else value
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names) or not names:
        raise ConfigError(
            f"{where}: roles.{role} must be a class name or a list of class names, got {value!r}"
        )
    if len(names) > 1 and role not in MULTI_CLASS_ROLES:
        raise ConfigError(f"{where}: roles.{role} names one class, got {names}")
    return names


def validate_behaviour(params: Mapping[str, Any], classes: ClassMap, where: str) -> None:
    """Check ``postprocess``, ``roles`` and ``synthetic.scene`` of a scenario's parameters.

    Args:
        params: The ``ros__parameters`` block.
        classes: Its class map.
        where: The file (or scenario) named in messages.

    Raises:
        ConfigError: an unknown post-processing kind, role or synthetic scene; a role naming a
            class that is not in ``class_names``, a class with two roles, or a role the
            post-processing needs that is missing.
    """
    kind = params.get("postprocess", "regions")
    if kind not in POSTPROCESS_KINDS:
        raise ConfigError(
            f"{where}: unknown postprocess {kind!r}; choose one of {', '.join(POSTPROCESS_KINDS)}"
        )
    roles = params.get("roles") or {}
    if not isinstance(roles, Mapping):
        raise ConfigError(f"{where}: roles must be a mapping of role to class name, got {roles!r}")
    owner: dict[str, str] = {}
    for role, value in roles.items():
        if role not in ROLES:
            raise ConfigError(f"{where}: unknown role {role!r}; roles are {', '.join(ROLES)}")
        for name in _role_classes(role, value, where):
            if name not in classes.names:
                raise ConfigError(
                    f"{where}: roles.{role} names class {name!r}, which is not in class_names "
                    f"{list(classes.names)}"
                )
            if name in owner:
                raise ConfigError(f"{where}: class {name!r} has two roles, {owner[name]} and {role}")
            owner[name] = role
    missing = [role for role in REQUIRED_ROLES[kind] if role not in roles]
    if missing:
        raise ConfigError(
            f"{where}: postprocess {kind} needs the role(s) {', '.join(missing)} "
            f"(e.g. roles: {{{missing[0]}: <one of {list(classes.names)}>}})"
        )
    synthetic = params.get("synthetic") or {}
    scene = synthetic.get("scene") if isinstance(synthetic, Mapping) else None
    if scene is not None and scene not in SYNTHETIC_SCENES:
        raise ConfigError(
            f"{where}: unknown synthetic.scene {scene!r}; choose one of {', '.join(SYNTHETIC_SCENES)}"
        )


@dataclass(frozen=True)
class ScenarioConfig:
    """One scenario's parameters as read from its YAML file.

    ``postprocess``, ``roles`` and ``synthetic_scene`` are read from ``params`` when asked,
    so a scenario copied with other parameters or another class map stays consistent.
    """

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

    def with_camera_params(self, name: str, params: Mapping[str, Any]) -> ScenarioConfig:
        """A copy whose camera ``name`` block has ``params``' fields replaced (None: the field removed)."""
        block = {**self.camera(name), **params}
        block = {key: value for key, value in block.items() if value is not None}
        return dataclasses.replace(self, params={**self.params, name: block})

    @property
    def primary_camera(self) -> str:
        return self.cameras[0]

    @property
    def postprocess(self) -> str:
        """The post-processing kind (:data:`POSTPROCESS_KINDS`); ``regions`` when not set."""
        return str(self.params.get("postprocess", "regions"))

    @property
    def roles(self) -> ClassRoles:
        """Class ids of each role named in ``roles`` whose class is in this class map."""
        ids: dict[str, tuple[int, ...]] = {}
        for role, value in (self.params.get("roles") or {}).items():
            names = [value] if isinstance(value, str) else list(value)
            found = tuple(self.classes.names.index(n) for n in names if n in self.classes.names)
            if found:
                ids[role] = found
        if "background" not in (self.params.get("roles") or {}):
            ids["background"] = (0,)
        return ClassRoles(ids)

    @property
    def synthetic_scene(self) -> str:
        """The generator's scene (:data:`SYNTHETIC_SCENES`): ``synthetic.scene``, else from the
        post-processing (parking slots: ``parking``; lanes: ``urban`` with a crosswalk role,
        else ``highway``)."""
        synthetic = self.params.get("synthetic") or {}
        if isinstance(synthetic, Mapping) and synthetic.get("scene"):
            return str(synthetic["scene"])
        if self.postprocess == "parking_slots":
            return "parking"
        return "urban" if self.roles.get("crosswalk") is not None else "highway"

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
    """Load a scenario by name (a YAML file in :func:`config_dir`) or from a YAML path.

    Raises:
        ConfigError: unknown scenario, unreadable file, invalid class map, or an unknown
            post-processing kind, role or synthetic scene (the message names the file).
    """
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")):
        path = Path(text)
    elif text in scenario_names():
        path = config_path(text)
    else:
        choices = ", ".join(scenario_names())
        raise ConfigError(
            f"unknown scenario {text!r}; choose one of {choices} (the YAML files in {config_dir()}) "
            "or a YAML path"
        )
    params = read_parameters(path)
    try:
        classes = ClassMap(tuple(params["class_names"]), tuple(params["class_colors"]))
        cameras = tuple(params["cameras"])
        name = str(params["scenario"])
    except KeyError as err:
        raise ConfigError(f"{path} lacks the parameter {err.args[0]!r}") from err
    if not cameras:
        raise ConfigError(f"{path}: 'cameras' is empty")
    validate_behaviour(params, classes, str(path))
    return ScenarioConfig(name=name, classes=classes, cameras=cameras, params=params, path=path)
