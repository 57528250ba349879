"""Typed messages in bags: process writes them with schemas, rosbags and rclpy read them, so does eval-bag.

The shipped parking weights (not a toy model) so that the frames hold parking slots.
"""

import json

import numpy as np
import pytest
from rclpy.serialization import deserialize_message
from rosbags.rosbag2 import Reader
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from sensor_msgs.msg import Image

from seg_perception.bags.storage import BagReader, BagWriter
from seg_perception.cli import main
from seg_perception.config import default_model_path, load_scenario
from seg_perception.inference.engine import create_engine
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.msg import LaneBoundaryArray, ParkingSlotArray
from seg_perception.ros.image_conversion import image_msg_to_bgr

TYPED = {
    "/avm/slots": "seg_perception/msg/ParkingSlotArray",
    "/front/lanes": "seg_perception/msg/LaneBoundaryArray",
}
SIZE = (320, 320)
FRONT_SIZE = (270, 480)


def _process(tmp_path_factory, synthetic_bag, scenario, size):
    bag = synthetic_bag(scenario, seconds=0.2, size=f"{size[0]}x{size[1]}", seed=3)
    out = tmp_path_factory.mktemp(f"typed_{scenario}") / "out"
    argv = ["process", str(bag), "--scenario", scenario, "--model", str(default_model_path(scenario))]
    assert main([*argv, "--out", str(out), "--video", "none"]) == 0
    return bag, out, default_model_path(scenario)


@pytest.fixture(scope="module")
def processed(tmp_path_factory, synthetic_bag):
    return _process(tmp_path_factory, synthetic_bag, "parking", SIZE)


@pytest.fixture(scope="module")
def processed_front(tmp_path_factory, synthetic_bag):
    return _process(tmp_path_factory, synthetic_bag, "highway", FRONT_SIZE)


def test_mcap_schemas_alone_decode_the_typed_messages(processed, processed_front):
    """A reader that knows nothing of seg_perception (like Foxglove) decodes them from the bag's schemas."""
    decoded = []
    for _, out, _ in (processed, processed_front):
        with Reader(out / "bag") as reader:
            connections = [c for c in reader.connections if c.topic in TYPED]
            store = get_typestore(Stores.EMPTY)
            for connection in connections:
                assert connection.msgtype == TYPED[connection.topic]
                assert connection.msgdef.data, connection.topic
                store.register(get_types_from_msg(connection.msgdef.data, connection.msgtype))
            decoded += [
                (connection.topic, store.deserialize_cdr(raw, connection.msgtype))
                for connection, _, raw in reader.messages(connections=connections)
            ]
    assert sorted({topic for topic, _ in decoded}) == sorted(TYPED)
    assert len(decoded) == 2 * 6  # two topics, 6 frames each
    sizes = {topic: set() for topic in TYPED}
    for topic, msg in decoded:
        sizes[topic].add((msg.image_height, msg.image_width))
    assert sizes == {"/avm/slots": {SIZE}, "/front/lanes": {FRONT_SIZE}}


def test_typed_slots_in_the_bag_equal_the_pipeline_and_rclpy_decodes_them(processed):
    bag, out, model = processed
    pipeline = SegmentationPipeline(create_engine(model), load_scenario("parking"), "avm")
    with BagReader(bag) as reader:
        frames = [
            image_msg_to_bgr(deserialize_message(m.rawdata, Image))
            for m in reader.messages(["/camera/avm/image_raw"])
        ]
    with BagReader(out / "bag") as reader:
        stored = list(reader.messages(["/avm/slots"]))
        lanes = list(reader.messages(["/avm/lanes"]))
    assert len(stored) == len(frames) == 6
    total = 0
    for frame, message in zip(frames, stored, strict=True):
        expected = pipeline.process(frame).slots
        via_rosbags = message.decode()
        via_rclpy = deserialize_message(message.rawdata, ParkingSlotArray)
        assert via_rosbags.metric and via_rclpy.metric  # the parking camera is calibrated (metres_per_pixel)
        assert len(via_rosbags.slots) == len(via_rclpy.slots) == len(expected)
        for slot, truth in zip(via_rosbags.slots, expected, strict=True):
            pixels = np.array([[p.x, p.y] for p in slot.corner_pixels])
            np.testing.assert_allclose(pixels, truth.corners, atol=1e-4)
            assert np.isfinite([c.x for c in slot.corners]).all()
        total += len(expected)
    assert total > 0, "no slot found: the comparison is empty"
    assert lanes == []  # no lane class: no lanes topic, as the node


def test_typed_lanes_in_the_bag_equal_the_pipeline_and_rclpy_decodes_them(processed_front):
    bag, out, model = processed_front
    pipeline = SegmentationPipeline(create_engine(model), load_scenario("highway"), "front")
    with BagReader(bag) as reader:
        inputs = reader.messages(["/camera/front/image_raw"])
        frames = [image_msg_to_bgr(deserialize_message(m.rawdata, Image)) for m in inputs]
    with BagReader(out / "bag") as reader:
        stored = list(reader.messages(["/front/lanes"]))
    assert len(stored) == len(frames) == 6
    total = 0
    for frame, message in zip(frames, stored, strict=True):
        expected = pipeline.process(frame).lanes.boundaries  # tracked in the same order: same ids
        via_rosbags = message.decode()
        via_rclpy = deserialize_message(message.rawdata, LaneBoundaryArray)
        assert [b.id for b in via_rosbags.boundaries] == [b.id for b in via_rclpy.boundaries]
        assert [b.id for b in via_rosbags.boundaries] == [b.id for b in expected]
        for lane, truth in zip(via_rosbags.boundaries, expected, strict=True):
            pixels = np.array([[p.x, p.y] for p in lane.pixels])
            np.testing.assert_allclose(pixels, truth.image_points, atol=1e-3)
            assert lane.has_curve or lane.has_image_curve
        total += len(expected)
    assert total > 0, "no lane boundary found: the comparison is empty"


def test_eval_bag_scores_the_typed_slots(processed, tmp_path):
    bag, out, _ = processed
    predictions = tmp_path / "pred"
    with BagReader(out / "bag") as reader, BagWriter(predictions) as writer:
        for message in reader.messages(["/avm/mask", "/avm/slots"]):  # no JSON: slots only as typed messages
            writer.write_raw(message.topic, message.msgtype, message.timestamp_ns, message.rawdata)
        typed = sum(len(m.decode().slots) for m in reader.messages(["/avm/slots"]))
    report_dir = tmp_path / "report"
    argv = [
        "eval-bag",
        str(predictions),
        "--gt-bag",
        str(bag),
        "--scenario",
        "parking",
        "--out",
        str(report_dir),
    ]
    assert main(argv) == 0
    report = json.loads((report_dir / "report.json").read_text())
    assert report["frames"] == 6
    assert report["slots"]["predicted"] == typed > 0
