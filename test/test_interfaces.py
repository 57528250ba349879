"""The package's message definitions: constants, rosbags registration, and their Python enumerations."""

from __future__ import annotations

import pytest
from rosbags.typesys import Stores, get_typestore

from seg_perception import interfaces


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
        missed_frames=2,
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
    assert decoded.slots[0].missed_frames == 2
    assert decoded.header.stamp.nanosec == 4 and decoded.image_height == 480


def test_definitions_missing_everywhere_name_the_folders(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(interfaces, "definition_dirs", lambda: [tmp_path])
    interfaces.message_definitions.cache_clear()
    try:
        with pytest.raises(interfaces.InterfaceDefinitionError, match=str(tmp_path)):
            interfaces.message_definitions()
    finally:
        interfaces.message_definitions.cache_clear()
