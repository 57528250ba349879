"""The package's message definitions: constants, rosbags registration, and their Python enumerations."""

from __future__ import annotations

import numpy as np
import pytest
from rosbags.typesys import Stores, get_typestore

from seg_perception import interfaces
from seg_perception.geometry import Polygon
from seg_perception.interfaces import LanePosition
from seg_perception.postprocess.lane_boundaries import (
    boundaries_from_polygons,
    centre_line,
    ego_lane,
    fit_ground_curve,
)


def _typestore():
    store = get_typestore(Stores.ROS2_JAZZY)
    interfaces.register_types(store)
    return store


def test_every_message_has_a_definition_with_units_in_comments() -> None:
    definitions = interfaces.message_definitions()
    assert sorted(definitions) == sorted(interfaces.msgtype(name) for name in interfaces.MESSAGE_NAMES)
    for name in ("LaneBoundary", "LaneBoundaryArray", "ParkingSlot", "ParkingSlotArray"):
        text = definitions[interfaces.msgtype(name)]
        assert "metres" in text and "pixels" in text, name


@pytest.mark.parametrize("enum", list(interfaces.MESSAGE_CONSTANTS))
def test_python_enumerations_equal_the_message_constants(enum) -> None:
    message, prefix = interfaces.MESSAGE_CONSTANTS[enum]
    constants = {
        name[len(prefix) :]: value
        for name, _type, value in _typestore().fielddefs[interfaces.msgtype(message)][0]
        if name.startswith(prefix)
    }
    assert constants == {member.name: int(member) for member in enum}


def test_registered_types_round_trip_through_cdr() -> None:
    store = _typestore()
    interfaces.register_types(store)  # idempotent
    types = store.types
    point = types["geometry_msgs/msg/Point"]
    point32 = types["geometry_msgs/msg/Point32"]
    slot = types["seg_perception/msg/ParkingSlot"](
        id=7,
        type=interfaces.SlotType.ANGLED,
        occupancy=interfaces.Occupancy.FREE,
        confidence=0.5,
        occupancy_confidence=0.25,
        corners=[point(x=float(i), y=-1.0, z=0.0) for i in range(4)],
        corner_pixels=[point32(x=float(i), y=2.0, z=0.0) for i in range(4)],
        entrance_center=point(x=0.5, y=-1.0, z=0.0),
        entrance_heading=1.5,
        width=2.5,
        depth=5.0,
        angle=1.2,
    )
    header = types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=3, nanosec=4), frame_id="f"
    )
    array = types["seg_perception/msg/ParkingSlotArray"](
        header=header, metric=True, image_width=640, image_height=480, slots=[slot]
    )
    msgtype = interfaces.PARKING_SLOT_ARRAY_MSGTYPE
    decoded = store.deserialize_cdr(store.serialize_cdr(array, msgtype), msgtype)
    assert decoded.slots[0].id == 7 and decoded.slots[0].corners[3].x == 3.0
    assert decoded.header.stamp.nanosec == 4 and decoded.image_height == 480


def test_definitions_missing_everywhere_name_the_folders(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(interfaces, "definition_dirs", lambda: [tmp_path])
    interfaces.message_definitions.cache_clear()
    try:
        with pytest.raises(interfaces.InterfaceDefinitionError, match=str(tmp_path)):
            interfaces.message_definitions()
    finally:
        interfaces.message_definitions.cache_clear()


# ------------------------------------------------------------------ interim lane boundaries


def _band(u_bottom: float, u_top: float, v_bottom: float, v_top: float, half: float = 3.0) -> np.ndarray:
    return np.array(
        [
            [u_bottom - half, v_bottom],
            [u_bottom + half, v_bottom],
            [u_top + half, v_top],
            [u_top - half, v_top],
        ],
        np.float32,
    )


def test_centre_line_runs_bottom_to_top_through_the_middle() -> None:
    line = centre_line(_band(100, 140, 200, 100))
    assert line[0, 1] > line[-1, 1]
    assert np.allclose(line[:, 0], 100 + (200 - line[:, 1]) * 0.4, atol=1e-3)


def test_dashes_of_one_line_merge_and_sides_get_ego_positions() -> None:
    height, width = 240, 320
    polygons = [
        Polygon(1, "lane_marking", _band(100, 110, 239, 200)),  # left line, near dash
        Polygon(1, "lane_marking", _band(120, 130, 160, 120)),  # left line, far dash
        Polygon(1, "lane_marking", _band(230, 220, 239, 150)),  # right line
        Polygon(1, "lane_marking", _band(20, 60, 239, 150)),  # further left
        Polygon(2, "crosswalk", _band(160, 160, 239, 200)),  # other class: ignored
    ]
    boundaries = boundaries_from_polygons(polygons, (height, width), class_ids=[1])
    assert len(boundaries) == 3
    positions = {b.position for b in boundaries}
    assert positions == {LanePosition.EGO_LEFT, LanePosition.EGO_RIGHT, LanePosition.ADJACENT_LEFT}
    ego_left = next(b for b in boundaries if b.position == LanePosition.EGO_LEFT)
    assert len(ego_left.points) > 16  # both dashes
    assert np.all(np.diff(ego_left.points[:, 1]) <= 0)  # near (bottom) to far
    assert len({b.instance_id for b in boundaries}) == 3


def test_ego_lane_from_parallel_straight_boundaries() -> None:
    xs = np.linspace(5, 30, 10)
    left = fit_ground_curve(np.column_stack([xs, np.full_like(xs, 1.5)]))
    right = fit_ground_curve(np.column_stack([xs, np.full_like(xs, -2.0)]))
    lane = ego_lane(left[0], right[0])
    assert lane.valid
    assert lane.width == pytest.approx(3.5)
    assert lane.lateral_offset == pytest.approx(0.25)  # centre at y = -0.25: vehicle left of it
    assert lane.heading == pytest.approx(0.0, abs=1e-9) and lane.curvature == pytest.approx(0.0, abs=1e-9)
    assert not ego_lane(left[0], None).valid
