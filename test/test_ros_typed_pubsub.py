"""Every message type of the package crosses a process boundary over DDS (publisher in a child process)."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from test_reliability_helpers import wait_for  # noqa: E402

import seg_perception.msg as generated  # noqa: E402
from seg_perception.interfaces import MESSAGE_NAMES  # noqa: E402
from seg_perception.ros.background_spin import BackgroundSpin  # noqa: E402

pytestmark = pytest.mark.ros
DOMAIN_ID = 121  # unique per test module: no cross-talk with other DDS tests
RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)

# The child fills every field with a recognisable value and publishes each type on typed/<Name>.
PUBLISHER = textwrap.dedent(
    """
    import sys, time
    import rclpy
    from geometry_msgs.msg import Point, Point32
    from std_msgs.msg import ColorRGBA, Header
    from seg_perception.msg import (ClassInfo, LaneBoundary, LaneBoundaryArray, ParkingSlot,
                                    ParkingSlotArray, SegmentationInfo)

    header = Header(frame_id="base_link")
    header.stamp.sec, header.stamp.nanosec = 42, 7
    lane = LaneBoundary(
        id=3, position=LaneBoundary.POSITION_EGO_LEFT, type=LaneBoundary.TYPE_DASHED,
        color=LaneBoundary.COLOR_YELLOW, confidence=0.75,
        points=[Point(x=5.0 + i, y=1.75, z=0.0) for i in range(3)],
        pixels=[Point32(x=100.0, y=200.0 - i, z=0.0) for i in range(3)],
        has_curve=True, curve_coefficients=[1.75, 0.01, 0.001, 0.0], curve_x_min=5.0, curve_x_max=7.0,
        has_image_curve=True, image_curve_coefficients=[100.0, 0.0, 0.0, 0.0],
        image_curve_v_min=198.0, image_curve_v_max=200.0)
    slot = ParkingSlot(
        id=9, type=ParkingSlot.TYPE_ANGLED, occupancy=ParkingSlot.OCCUPANCY_OCCUPIED,
        confidence=0.5, occupancy_confidence=0.25,
        corners=[Point(x=float(i), y=-2.0, z=0.0) for i in range(4)],
        corner_pixels=[Point32(x=float(10 * i), y=20.0, z=0.0) for i in range(4)],
        entrance_center=Point(x=0.5, y=-2.0, z=0.0), entrance_heading=3.0, width=2.5, depth=5.0, angle=1.0)
    info_class = ClassInfo(id=2, name="free_slot", color=ColorRGBA(r=0.25, g=0.5, b=0.75, a=1.0))
    messages = {
        "LaneBoundary": lane,
        "LaneBoundaryArray": LaneBoundaryArray(
            header=header, metric=True, image_width=640, image_height=480, boundaries=[lane, lane],
            ego_lane_valid=True, ego_lane_width=3.5, lateral_offset=0.1, heading=0.02, curvature=0.001),
        "ParkingSlot": slot,
        "ParkingSlotArray": ParkingSlotArray(
            header=header, metric=True, image_width=640, image_height=640, slots=[slot]),
        "ClassInfo": info_class,
        "SegmentationInfo": SegmentationInfo(
            header=header, camera="avm", scenario="parking", model="icnet_lite", model_file="/w/p.onnx",
            engine="onnxruntime", providers=["CPUExecutionProvider"], input_width=320, input_height=256,
            classes=[info_class]),
    }
    rclpy.init()
    node = rclpy.create_node("typed_publisher")
    publishers = {n: node.create_publisher(type(m), "typed/" + n, 10) for n, m in messages.items()}
    print("ready", flush=True)
    deadline = time.monotonic() + float(sys.argv[1])
    while time.monotonic() < deadline:
        for name, msg in messages.items():
            publishers[name].publish(msg)
        time.sleep(0.1)
    rclpy.shutdown()
    """
)


@pytest.fixture
def publisher_process(tmp_path) -> Iterator[subprocess.Popen]:
    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(DOMAIN_ID),
        "ROS_LOG_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-c", PUBLISHER, "60"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield process
    process.kill()
    process.wait(timeout=10)


def test_every_message_type_arrives_intact_from_another_process(
    ros_context: Context, publisher_process: subprocess.Popen
) -> None:
    node = Node("typed_subscriber", context=ros_context)
    received: dict[str, object] = {}
    lock = threading.Lock()

    def keep(name: str):
        def store(msg: object) -> None:
            with lock:
                received.setdefault(name, msg)

        return store

    for name in MESSAGE_NAMES:
        node.create_subscription(getattr(generated, name), f"typed/{name}", keep(name), RELIABLE)
    executor = SingleThreadedExecutor(context=ros_context)
    executor.add_node(node)
    spinner = BackgroundSpin(executor)
    try:
        wait_for(
            lambda: len(received) == len(MESSAGE_NAMES) or publisher_process.poll() is not None,
            "one message of every type",
            timeout=60.0,
        )
    finally:
        assert spinner.stop(), "the executor's thread did not stop"
        executor.shutdown()
        node.destroy_node()
    assert publisher_process.poll() is None, publisher_process.stdout.read()
    assert sorted(received) == sorted(MESSAGE_NAMES)

    lanes = received["LaneBoundaryArray"]
    assert (lanes.header.stamp.sec, lanes.header.stamp.nanosec, lanes.header.frame_id) == (42, 7, "base_link")
    assert lanes.ego_lane_valid and lanes.ego_lane_width == pytest.approx(3.5)
    lane = lanes.boundaries[1]
    assert (lane.id, lane.position, lane.type, lane.color) == (
        3,
        generated.LaneBoundary.POSITION_EGO_LEFT,
        generated.LaneBoundary.TYPE_DASHED,
        generated.LaneBoundary.COLOR_YELLOW,
    )
    assert [p.x for p in lane.points] == [5.0, 6.0, 7.0] and lane.pixels[2].y == pytest.approx(198.0)
    assert list(lane.curve_coefficients) == pytest.approx([1.75, 0.01, 0.001, 0.0])
    assert received["LaneBoundary"].image_curve_v_max == pytest.approx(200.0)

    slots = received["ParkingSlotArray"]
    slot = slots.slots[0]
    assert (slot.id, slot.type, slot.occupancy) == (
        9,
        generated.ParkingSlot.TYPE_ANGLED,
        generated.ParkingSlot.OCCUPANCY_OCCUPIED,
    )
    assert [c.x for c in slot.corners] == [0.0, 1.0, 2.0, 3.0] and slot.corner_pixels[3].x == 30.0
    assert slot.entrance_heading == pytest.approx(3.0) and math.isclose(slot.angle, 1.0, rel_tol=1e-6)
    assert received["ParkingSlot"].depth == pytest.approx(5.0)

    info = received["SegmentationInfo"]
    assert (info.camera, info.model, list(info.providers)) == ("avm", "icnet_lite", ["CPUExecutionProvider"])
    assert info.classes[0].name == "free_slot" and info.classes[0].color.b == pytest.approx(0.75)
    assert received["ClassInfo"].id == 2


def _readme_subscriber() -> str:
    """The subscriber example of README.md (the python block that subscribes to ParkingSlotArray)."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    blocks = text.split("```python\n")[1:]
    example = next(b.split("```")[0] for b in blocks if "create_subscription(ParkingSlotArray" in b)
    assert len(example.strip().splitlines()) <= 15, "the README promises a 15-line example"
    return example


def test_readme_subscriber_example_prints_free_slots(ros_context: Context, tmp_path) -> None:
    from geometry_msgs.msg import Point

    env = {
        **os.environ,
        "ROS_DOMAIN_ID": str(DOMAIN_ID),
        "ROS_LOG_DIR": str(tmp_path),
        "PYTHONUNBUFFERED": "1",
    }
    subscriber = subprocess.Popen(
        [sys.executable, "-c", _readme_subscriber()],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    node = Node("slot_source", context=ros_context)
    publisher = node.create_publisher(generated.ParkingSlotArray, "/avm/slots", 10)
    slot = generated.ParkingSlot(id=5, occupancy=generated.ParkingSlot.OCCUPANCY_FREE)
    slot.entrance_center = Point(x=1.25, y=-2.5, z=0.0)
    taken = generated.ParkingSlot(id=6, occupancy=generated.ParkingSlot.OCCUPANCY_OCCUPIED)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(subscriber.stdout.readline, b"")), daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: publisher.get_subscription_count() > 0 or subscriber.poll() is not None, "the example"
        )
        deadline = time.monotonic() + 30.0
        while not lines and subscriber.poll() is None and time.monotonic() < deadline:
            publisher.publish(generated.ParkingSlotArray(slots=[slot, taken]))
            time.sleep(0.2)
    finally:
        subscriber.kill()
        subscriber.wait(timeout=10)
        reader.join(timeout=5)
        node.destroy_node()
    output = b"".join(lines).decode()
    assert "free slot 5: entrance (1.25, -2.50) m" in output, output
    assert "slot 6" not in output
