"""The package's own message interfaces (``msg/*.msg``), seen from code that does not import ROS.

- the enumerations of the messages' named constants (``LaneBoundary.TYPE_DASHED`` is
  :attr:`LaneType.DASHED`), for post-processing code that fills the plain data types of
  :mod:`seg_perception.geometry` without importing rclpy (a test checks they match the
  generated message classes);
- the ``pkg/msg/Type`` names and topic suffixes;
- the ``.msg`` definitions, read from the installed share folder (``make install`` or a colcon
  install) or from the source checkout, and :func:`register_types`, which adds them to a
  ``rosbags`` type store so bags with the typed messages are written with their schemas and read
  back without ROS.
"""

from __future__ import annotations

import os
import sys
from enum import IntEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

PACKAGE = "seg_perception"
MESSAGE_NAMES = (
    "ClassInfo",
    "LaneBoundary",
    "LaneBoundaryArray",
    "ParkingSlot",
    "ParkingSlotArray",
    "SegmentationInfo",
)
LANE_BOUNDARY_ARRAY_MSGTYPE = f"{PACKAGE}/msg/LaneBoundaryArray"
PARKING_SLOT_ARRAY_MSGTYPE = f"{PACKAGE}/msg/ParkingSlotArray"
SEGMENTATION_INFO_MSGTYPE = f"{PACKAGE}/msg/SegmentationInfo"

# Topics relative to the camera's namespace (<camera>/lanes, ...), as the node publishes them.
LANES_TOPIC = "lanes"
SLOTS_TOPIC = "slots"
SEGMENTATION_INFO_TOPIC = "segmentation_info"

_SOURCE_MSG_DIR = Path(__file__).resolve().parents[1] / "msg"


class InterfaceDefinitionError(RuntimeError):
    """A ``.msg`` definition of this package cannot be found."""


class LanePosition(IntEnum):
    """``LaneBoundary.POSITION_*``: where a boundary lies relative to the ego vehicle."""

    UNKNOWN = 0
    EGO_LEFT = 1
    EGO_RIGHT = 2
    ADJACENT_LEFT = 3
    ADJACENT_RIGHT = 4
    OTHER = 5


class LaneType(IntEnum):
    """``LaneBoundary.TYPE_*``: the marking's pattern."""

    UNKNOWN = 0
    SOLID = 1
    DASHED = 2
    DOUBLE_SOLID = 3
    SOLID_DASHED = 4
    DASHED_SOLID = 5
    ROAD_EDGE = 6


class LaneColor(IntEnum):
    """``LaneBoundary.COLOR_*``: the marking's paint."""

    UNKNOWN = 0
    WHITE = 1
    YELLOW = 2
    BLUE = 3
    OTHER = 4


class SlotType(IntEnum):
    """``ParkingSlot.TYPE_*``: the slot's layout relative to its entrance."""

    UNKNOWN = 0
    PERPENDICULAR = 1
    PARALLEL = 2
    ANGLED = 3


class Occupancy(IntEnum):
    """``ParkingSlot.OCCUPANCY_*``."""

    UNKNOWN = 0
    FREE = 1
    OCCUPIED = 2


# Enumeration → (message, constant prefix): the pairs a test compares with the generated classes.
MESSAGE_CONSTANTS: dict[type[IntEnum], tuple[str, str]] = {
    LanePosition: ("LaneBoundary", "POSITION_"),
    LaneType: ("LaneBoundary", "TYPE_"),
    LaneColor: ("LaneBoundary", "COLOR_"),
    SlotType: ("ParkingSlot", "TYPE_"),
    Occupancy: ("ParkingSlot", "OCCUPANCY_"),
}


def msgtype(name: str) -> str:
    """``seg_perception/msg/<name>``."""
    return f"{PACKAGE}/msg/{name}"


def definition_dirs() -> list[Path]:
    """Folders searched for the ``.msg`` files, first match wins.

    The share folders of ``AMENT_PREFIX_PATH`` and of this interpreter's prefix (where
    ``make install`` and colcon put them), then the source checkout's ``msg/``.
    """
    prefixes = [p for p in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep) if p]
    prefixes.append(sys.prefix)
    dirs = [Path(prefix) / "share" / PACKAGE / "msg" for prefix in dict.fromkeys(prefixes)]
    dirs.append(_SOURCE_MSG_DIR)
    return dirs


@lru_cache(maxsize=1)
def message_definitions() -> dict[str, str]:
    """``seg_perception/msg/<Name>`` → ``.msg`` text, for every message of the package.

    Raises:
        InterfaceDefinitionError: a definition is in none of :func:`definition_dirs`.
    """
    definitions = {}
    searched = definition_dirs()
    for name in MESSAGE_NAMES:
        path = next((d / f"{name}.msg" for d in searched if (d / f"{name}.msg").is_file()), None)
        if path is None:
            where = ", ".join(str(d) for d in searched)
            raise InterfaceDefinitionError(
                f"{name}.msg not found in {where}: install the package (make install) or run from a checkout"
            )
        definitions[msgtype(name)] = path.read_text()
    return definitions


def register_types(typestore: Any) -> None:
    """Add the package's messages to a ``rosbags`` type store (idempotent).

    Raises:
        InterfaceDefinitionError: see :func:`message_definitions`.
    """
    from rosbags.typesys import get_types_from_msg

    types: dict[str, Any] = {}
    for name, text in message_definitions().items():
        types.update(get_types_from_msg(text, name))
    missing = {name: value for name, value in types.items() if name not in typestore.fielddefs}
    if missing:
        typestore.register(missing)
