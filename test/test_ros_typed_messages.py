"""Frame results → LaneBoundaryArray / ParkingSlotArray / SegmentationInfo (no DDS needed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

pytest.importorskip("rclpy")

from std_msgs.msg import Header

import seg_perception.msg as generated
from seg_perception.geometry import ParkingSlot
from seg_perception.interfaces import MESSAGE_CONSTANTS, Occupancy, SlotType
from seg_perception.msg import LaneBoundary as LaneBoundaryMsg
from seg_perception.msg import ParkingSlot as ParkingSlotMsg
from seg_perception.postprocess.lanes import EgoLane, LaneBoundary, LaneResult
from seg_perception.ros.projection import GroundProjection
from seg_perception.ros.typed_messages import (
    classify_slot,
    parking_slot_array,
    segmentation_info,
    slot_measures,
    tracked_lane_array,
)

HEADER = Header(frame_id="base_link")
AVM = GroundProjection.from_parameters(metres_per_pixel=0.02, origin_px=[100, 100])
# 20 x 50 px = 0.4 x 1.0 m, entrance (corners 0 -> 1) at the top, clockwise on screen.
SLOT_PX = np.array([[10, 10], [30, 10], [30, 60], [10, 60]], np.float32)


def test_parking_slot_array_metric_fields_follow_the_calibration() -> None:
    slots = [
        ParkingSlot(SLOT_PX, free=False, instance_id=4),
        ParkingSlot(SLOT_PX + 50, free=True, instance_id=5),
    ]
    msg = parking_slot_array(header=HEADER, projection=AVM, image_size=(200, 300), slots=slots)
    assert msg.header.frame_id == "base_link" and msg.metric
    assert (msg.image_width, msg.image_height) == (300, 200)
    first = msg.slots[0]
    assert first.id == 4 and first.occupancy == ParkingSlotMsg.OCCUPANCY_OCCUPIED
    assert msg.slots[1].occupancy == ParkingSlotMsg.OCCUPANCY_FREE
    assert first.type == ParkingSlotMsg.TYPE_PERPENDICULAR  # classified: short entrance, square corners
    assert [(p.x, p.y) for p in first.corner_pixels] == [tuple(map(float, c)) for c in SLOT_PX]
    # x = (v0 - v)·s forward, y = (u0 - u)·s left
    assert (first.corners[0].x, first.corners[0].y) == pytest.approx((1.8, 1.8))
    assert (first.width, first.depth) == pytest.approx((0.4, 1.0))
    assert first.angle == pytest.approx(math.pi / 2)
    assert (first.entrance_center.x, first.entrance_center.y) == pytest.approx((1.8, 1.6))
    assert abs(first.entrance_heading) == pytest.approx(math.pi)  # into the slot = image down = vehicle -x


def test_parking_slot_array_without_calibration_has_nan_metres_and_pixel_angle() -> None:
    msg = parking_slot_array(
        header=HEADER, projection=GroundProjection(), image_size=(200, 300), slots=[ParkingSlot(SLOT_PX)]
    )
    slot = msg.slots[0]
    assert not msg.metric
    assert all(math.isnan(p.x) for p in slot.corners)
    assert math.isnan(slot.width) and math.isnan(slot.entrance_heading)
    assert slot.angle == pytest.approx(math.pi / 2)


@pytest.mark.parametrize(
    ("corners", "expected"),
    [
        ([[0, 0], [20, 0], [20, 50], [0, 50]], SlotType.PERPENDICULAR),
        ([[0, 0], [50, 0], [50, 20], [0, 20]], SlotType.PARALLEL),
        ([[0, 0], [20, 0], [40, 50], [20, 50]], SlotType.ANGLED),
    ],
)
def test_slot_type_is_classified_from_the_corners(corners, expected) -> None:
    width, depth, angle = slot_measures(np.array(corners, np.float64))
    assert classify_slot(width[0], depth[0], angle[0]) == expected


def test_a_known_slot_type_is_kept() -> None:
    slot = ParkingSlot(SLOT_PX, slot_type=SlotType.PARALLEL, confidence=0.75)
    msg = parking_slot_array(header=HEADER, projection=AVM, image_size=(200, 300), slots=[slot]).slots[0]
    assert msg.type == ParkingSlotMsg.TYPE_PARALLEL and msg.confidence == pytest.approx(0.75)
    assert Occupancy.FREE == ParkingSlotMsg.OCCUPANCY_FREE


def test_a_held_slot_says_how_many_frames_it_was_missed() -> None:
    detected, held = ParkingSlot(SLOT_PX), ParkingSlot(SLOT_PX, missed_frames=3)
    array = parking_slot_array(header=HEADER, projection=AVM, image_size=(200, 300), slots=[detected, held])
    assert [msg.missed_frames for msg in array.slots] == [0, 3]
    assert held.to_json()["missed_frames"] == 3 and detected.to_json()["missed_frames"] == 0


def _boundary(u: float, *, index: int, metric: bool, **values) -> LaneBoundary:
    v = np.linspace(199, 100, 10)
    pixels = np.column_stack([np.full_like(v, u), v]).astype(np.float32)
    ground = np.column_stack([np.linspace(2, 20, 10), np.full(10, (100 - u) * 0.035)]).astype(np.float32)
    coefficients = np.array([(100 - u) * 0.035, 0.0, 0.001, 0.0]) if metric else np.array([u, 0.0, 0.0])
    fields = {
        "id": 7,
        "position": {1: "ego_left", -1: "ego_right", 2: "left_1"}.get(index, f"left_{index - 1}"),
        "position_index": index,
        "line_type": "solid",
        "color": "white",
        "confidence": 0.8,
        "metric": metric,
        "coefficients": coefficients,
        "valid_range": (2.0, 20.0) if metric else (100.0, 199.0),
        "image_points": pixels,
        "ground_points": ground if metric else None,
        "plane_coefficients": coefficients,
        "plane_range": (2.0, 20.0),
        **values,
    }
    return LaneBoundary(**fields)


def test_metric_lanes_carry_ground_points_curves_and_the_ego_lane() -> None:
    left = _boundary(60.0, index=1, metric=True, line_type="dashed", color="yellow")
    right = _boundary(160.0, index=-1, metric=True, id=8)
    outer = _boundary(10.0, index=2, metric=True, id=9)
    far = _boundary(0.0, index=3, metric=True, id=10, line_type="double")
    ego = EgoLane(
        width=3.5, lateral_offset=0.35, heading_rad=0.02, curvature=0.001, left_id=7, right_id=8, metric=True
    )
    lanes = LaneResult(boundaries=[left, right, outer, far], ego_lane=ego, metric=True)
    msg = tracked_lane_array(header=HEADER, image_size=(200, 320), lanes=lanes)
    assert msg.metric and (msg.image_width, msg.image_height) == (320, 200)
    assert [b.id for b in msg.boundaries] == [7, 8, 9, 10]
    assert [b.position for b in msg.boundaries] == [
        LaneBoundaryMsg.POSITION_EGO_LEFT,
        LaneBoundaryMsg.POSITION_EGO_RIGHT,
        LaneBoundaryMsg.POSITION_ADJACENT_LEFT,
        LaneBoundaryMsg.POSITION_OTHER,
    ]
    first = msg.boundaries[0]
    assert (first.type, first.color) == (LaneBoundaryMsg.TYPE_DASHED, LaneBoundaryMsg.COLOR_YELLOW)
    assert (
        msg.boundaries[1].type == LaneBoundaryMsg.TYPE_SOLID
        and msg.boundaries[1].color == LaneBoundaryMsg.COLOR_WHITE
    )
    assert msg.boundaries[3].type == LaneBoundaryMsg.TYPE_DOUBLE_SOLID
    assert first.confidence == pytest.approx(0.8)
    assert len(first.points) == len(first.pixels) == 10
    assert (first.points[0].x, first.points[0].y, first.points[0].z) == pytest.approx((2.0, 40 * 0.035, 0.0))
    assert first.has_curve and first.has_image_curve  # u(v) fitted to the pixels as well
    assert first.image_curve_coefficients[0] == pytest.approx(60.0, abs=1e-6)
    assert list(first.curve_coefficients) == pytest.approx([40 * 0.035, 0.0, 0.001, 0.0])
    assert (first.curve_x_min, first.curve_x_max) == pytest.approx((2.0, 20.0))
    assert msg.ego_lane_valid
    assert (msg.ego_lane_width, msg.lateral_offset, msg.heading, msg.curvature) == pytest.approx(
        (3.5, 0.35, -0.02, 0.001)  # heading: the lane's direction relative to the vehicle
    )


def test_image_space_lanes_carry_pixels_and_u_of_v_only() -> None:
    boundary = _boundary(50.0, index=-1, metric=False, line_type="unknown", color="unknown")
    ego = EgoLane(
        width=1.0, lateral_offset=0.0, heading_rad=0.0, curvature=0.0, left_id=1, right_id=2, metric=False
    )
    lanes = LaneResult(boundaries=[boundary], ego_lane=ego, metric=False)
    msg = tracked_lane_array(header=HEADER, image_size=(200, 200), lanes=lanes)
    assert not msg.metric
    assert not msg.ego_lane_valid and math.isnan(msg.ego_lane_width)  # pseudo-metres are not metres
    lane = msg.boundaries[0]
    assert (lane.type, lane.color) == (LaneBoundaryMsg.TYPE_UNKNOWN, LaneBoundaryMsg.COLOR_UNKNOWN)
    assert len(lane.points) == 0 and len(lane.pixels) == 10 and not lane.has_curve
    assert lane.has_image_curve and list(lane.image_curve_coefficients) == pytest.approx([50.0, 0, 0, 0])
    assert (lane.image_curve_v_min, lane.image_curve_v_max) == pytest.approx((100.0, 199.0))


def test_segmentation_info_carries_the_class_map() -> None:
    msg = segmentation_info(
        header=HEADER,
        camera="avm",
        scenario="parking",
        model="icnet_lite",
        model_file="/w/parking.onnx",
        engine="onnxruntime",
        providers=["CPUExecutionProvider"],
        input_size=(256, 320),
        class_names=("background", "slot_line", "free_slot"),
        colors_rgb=[[0, 0, 0], [255, 255, 255], [48, 224, 96]],
    )
    assert [(c.id, c.name) for c in msg.classes] == [(0, "background"), (1, "slot_line"), (2, "free_slot")]
    assert msg.classes[2].color.g == pytest.approx(224 / 255) and msg.classes[2].color.a == 1.0
    assert (msg.input_width, msg.input_height) == (320, 256)


@pytest.mark.parametrize("enum", list(MESSAGE_CONSTANTS))
def test_generated_message_classes_have_the_enumerations_constants(enum) -> None:
    message, prefix = MESSAGE_CONSTANTS[enum]
    cls = getattr(generated, message)
    constants = {name[len(prefix) :]: getattr(cls, name) for name in dir(cls) if name.startswith(prefix)}
    assert constants == {member.name: int(member) for member in enum}
