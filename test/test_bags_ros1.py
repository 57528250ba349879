"""ROS 1 bags: read as ROS 2 bags are, their messages converted to the ROS 2 wire format."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from rosbags.rosbag1 import Writer as Ros1Writer
from rosbags.typesys import Stores, get_types_from_msg, get_typestore

from seg_perception.bags import messages
from seg_perception.bags.errors import BagError
from seg_perception.bags.storage import BagReader, is_ros1_bag
from seg_perception.cli import main

ROS1 = get_typestore(Stores.ROS1_NOETIC)
TOPIC = "/camera/avm/image_raw"
FRAMES = 4
HEIGHT, WIDTH = 48, 64


def frame(index: int) -> np.ndarray:
    image = np.full((HEIGHT, WIDTH, 3), 30, np.uint8)
    image[:, 8 * index : 8 * index + 6] = 255  # a bright stripe that moves: frames differ
    return image


def write_ros1_bag(path: Path) -> Path:
    """A ROS 1 bag of ``FRAMES`` bgr8 images (headers with a ``seq``) and one message of a ROS 1-only type."""
    header, stamp = ROS1.types["std_msgs/msg/Header"], ROS1.types["builtin_interfaces/msg/Time"]
    image_type = ROS1.types["sensor_msgs/msg/Image"]
    ROS1.register(get_types_from_msg("string note", "ros1_only_msgs/msg/Note"))
    with Ros1Writer(path) as writer:
        images = writer.add_connection(TOPIC, "sensor_msgs/msg/Image", typestore=ROS1)
        notes = writer.add_connection("/notes", "ros1_only_msgs/msg/Note", typestore=ROS1)
        for index in range(FRAMES):
            pixels = frame(index)
            msg = image_type(
                header=header(seq=index, stamp=stamp(sec=100 + index, nanosec=7), frame_id="avm_camera"),
                height=HEIGHT,
                width=WIDTH,
                encoding="bgr8",
                is_bigendian=0,
                step=WIDTH * 3,
                data=pixels.reshape(-1),
            )
            timestamp = (100 + index) * 10**9 + 7
            writer.write(images, timestamp, ROS1.serialize_ros1(msg, "sensor_msgs/msg/Image"))
        note = ROS1.types["ros1_only_msgs/msg/Note"](note="hello")
        writer.write(notes, 99 * 10**9, ROS1.serialize_ros1(note, "ros1_only_msgs/msg/Note"))
    return path


@pytest.fixture(scope="module")
def ros1_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_ros1_bag(tmp_path_factory.mktemp("ros1") / "drive.bag")


def test_a_ros1_bag_reads_like_a_ros2_one(ros1_bag: Path) -> None:
    assert is_ros1_bag(ros1_bag) and not is_ros1_bag(ros1_bag.parent)
    with BagReader(ros1_bag) as reader:
        assert reader.topics == {
            "/camera/avm/image_raw": "sensor_msgs/msg/Image",
            "/notes": "ros1_only_msgs/msg/Note",
        }
        assert reader.message_counts[TOPIC] == FRAMES
        read = list(reader.messages([TOPIC]))
    assert [m.timestamp_ns for m in read] == [(100 + i) * 10**9 + 7 for i in range(FRAMES)]
    for index, message in enumerate(read):
        msg = message.decode()  # CDR of the ROS 2 type: the header without its seq
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec, msg.header.frame_id) == (
            100 + index,
            7,
            "avm_camera",
        )
        image = messages.decode_image(msg, msgtype=message.msgtype)
        np.testing.assert_array_equal(image, frame(index))


def test_a_ros1_only_type_is_a_one_line_error(ros1_bag: Path) -> None:
    with BagReader(ros1_bag) as reader, pytest.raises(BagError, match="no ROS 2 counterpart"):
        list(reader.messages(["/notes"]))


def test_process_runs_on_a_ros1_bag(
    ros1_bag: Path, tmp_path: Path, tiny_onnx_model: Callable[..., Path]
) -> None:
    model = tiny_onnx_model("parking", kind="brightness")
    out = tmp_path / "out"
    argv = ["process", str(ros1_bag), "--scenario", "parking", "--model", str(model), "--out", str(out)]
    assert main([*argv, "--topics", TOPIC, "--video", "none"]) == 0
    with BagReader(out / "bag") as result:
        masks = [m.decode() for m in result.messages(["/avm/mask"])]
    assert [(m.header.stamp.sec, m.header.stamp.nanosec) for m in masks] == [
        (100 + i, 7) for i in range(FRAMES)
    ]
    assert len({bytes(m.data) for m in masks}) == FRAMES  # each frame's own mask
