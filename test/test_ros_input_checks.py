"""The node says why a camera is silent: pure advice first, then the live node's log (DDS)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from seg_perception.ros.input_checks import (
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    LARGE_FRAME_BYTES,
    PublisherInfo,
    diagnose_silent_input,
    shared_memory_advice,
)

TOPIC = "/camera/front/image_raw"


def advice(transport="raw", reliability="best_effort", idle_s=None, topic=TOPIC, **publishers):
    by_topic = {name.replace("_", "/"): pubs for name, pubs in publishers.items()}
    return diagnose_silent_input(
        camera="front",
        topic=topic,
        transport=transport,
        subscription_reliability=reliability,
        publishers={**by_topic},
        image_topics=["/other/image"],
        idle_s=idle_s,
        domain_id="7",
    )


def pub(topic_type=IMAGE_TYPE, reliability="reliable"):
    return PublisherInfo(node="cam", topic_type=topic_type, reliability=reliability)


def test_compressed_sibling_topic_names_the_transport_fix():
    text = diagnose_silent_input(
        camera="front",
        topic=TOPIC,
        transport="raw",
        subscription_reliability="best_effort",
        publishers={TOPIC: [], TOPIC + "/compressed": [pub(COMPRESSED_TYPE)]},
        idle_s=None,
    )
    assert text.startswith(f"front: no frame on {TOPIC} since start")
    assert f"{TOPIC}/compressed has 1 publisher ({COMPRESSED_TYPE})" in text
    assert f"set front.transport:=compressed front.topic:={TOPIC}/compressed" in text


def test_raw_publisher_while_compressed_is_asked_for():
    text = diagnose_silent_input(
        camera="front",
        topic=TOPIC + "/compressed",
        transport="compressed",
        subscription_reliability="best_effort",
        publishers={TOPIC: [pub(), pub()]},
        idle_s=3.0,
    )
    assert "for 3.0 s" in text and f"{TOPIC} has 2 publishers ({IMAGE_TYPE})" in text
    assert "set front.transport:=raw" in text


def test_no_publisher_names_the_domain_and_other_image_topics():
    text = diagnose_silent_input(
        camera="front",
        topic=TOPIC,
        transport="raw",
        subscription_reliability="best_effort",
        publishers={},
        image_topics=["/usb_cam/image_raw", TOPIC],
        idle_s=None,
        domain_id="7",
    )
    assert (
        "no publisher on ROS_DOMAIN_ID 7" in text and "image topics on the graph: /usb_cam/image_raw" in text
    )


def test_wrong_message_type_on_the_topic():
    text = diagnose_silent_input(
        camera="front",
        topic=TOPIC,
        transport="raw",
        subscription_reliability="best_effort",
        publishers={TOPIC: [pub(COMPRESSED_TYPE)]},
        idle_s=None,
    )
    assert "expects sensor_msgs/msg/Image: set front.transport:=compressed" in text


def test_qos_mismatch_is_reported_with_the_parameter_to_set():
    text = diagnose_silent_input(
        camera="front",
        topic=TOPIC,
        transport="raw",
        subscription_reliability="reliable",
        publishers={TOPIC: [pub(reliability="best_effort")]},
        idle_s=None,
    )
    assert "QoS mismatch" in text and "set qos.reliability:=best_effort" in text


def test_publisher_present_but_silent_points_at_the_transport_profile():
    text = diagnose_silent_input(
        camera="front",
        topic=TOPIC,
        transport="raw",
        subscription_reliability="best_effort",
        publishers={TOPIC: [pub()]},
        idle_s=None,
    )
    assert "shared-memory profile" in text


def test_shared_memory_advice_only_for_large_frames_on_fast_dds_without_the_profile():
    share = Path("/opt/share/seg_perception")
    big = LARGE_FRAME_BYTES
    line = shared_memory_advice(big, {}, share)
    assert (
        line is not None
        and "export FASTDDS_DEFAULT_PROFILES_FILE=/opt/share/seg_perception/config/fastdds_shm.xml" in line
    )
    assert shared_memory_advice(big - 1, {}, share) is None
    assert shared_memory_advice(big, {"FASTDDS_DEFAULT_PROFILES_FILE": "/x.xml"}, share) is None
    assert shared_memory_advice(big, {"RMW_IMPLEMENTATION": "rmw_cyclonedds_cpp"}, share) is None


# ------------------------------------------------------------------ the live node (DDS)

rclpy = pytest.importorskip("rclpy")

from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from rosgraph_msgs.msg import Clock  # noqa: E402
from sensor_msgs.msg import CompressedImage, Image  # noqa: E402

from seg_perception.ros.background_spin import BackgroundSpin  # noqa: E402
from seg_perception.ros.node import SegmentationNode  # noqa: E402

DOMAIN_ID = 123  # unique per test module: no cross-talk with other DDS tests


def wait_for(condition, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def running(ros_context, tiny_onnx_model):
    """Start a node with parameter overrides; a client node shares the executor."""
    started = []

    def start(*overrides):
        model = tiny_onnx_model("highway", kind="threshold", input_size=(32, 48))
        node = SegmentationNode(
            context=ros_context,
            parameter_overrides=[
                Parameter("scenario", value="highway"),
                Parameter("model_file", value=str(model)),
                Parameter("diagnostics_period_s", value=0.1),
                Parameter("stale_timeout_s", value=0.3),
                *overrides,
            ],
        )
        client = Node("input_checks_client", context=ros_context)
        executor = SingleThreadedExecutor(context=ros_context)
        executor.add_node(node)
        executor.add_node(client)
        started.append((node, client, executor, BackgroundSpin(executor)))
        return node, client

    yield start
    for node, client, executor, spinner in started:
        assert spinner.stop(), "the executor's thread did not stop"
        executor.shutdown()
        node.shutdown()
        node.destroy_node()
        client.destroy_node()


def warnings_of(worker, original):
    seen = []

    def check(**kwargs):
        message = original(**kwargs)
        if message:
            seen.append(message)
        return message

    worker.check_input = check
    return seen


def test_node_warns_that_the_camera_publishes_compressed(running):
    node, client = running()
    worker = node.workers[0]
    seen = warnings_of(worker, worker.check_input)
    client.create_publisher(CompressedImage, TOPIC + "/compressed", 5)
    wait_for(lambda: any("transport:=compressed" in m for m in seen), "the transport warning")
    assert f"{TOPIC}/compressed has 1 publisher (sensor_msgs/msg/CompressedImage)" in seen[-1]
    count = len(seen)
    time.sleep(0.5)  # diagnostics every 0.1 s: the warning is throttled, not repeated
    assert len(seen) == count


def test_node_reports_a_qos_mismatch(running):
    node, client = running(Parameter("qos.reliability", value="reliable"))
    worker = node.workers[0]
    seen = warnings_of(worker, worker.check_input)
    client.create_publisher(Image, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.BEST_EFFORT))
    wait_for(lambda: any("QoS mismatch" in m for m in seen), "the QoS warning")


def test_sim_time_latency_is_measured_from_arrival_not_zero(running):
    node, client = running(Parameter("use_sim_time", value=True), Parameter("stale_timeout_s", value=30.0))
    clock = client.create_publisher(Clock, "/clock", 10)
    images = client.create_publisher(
        Image, TOPIC, QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    )
    wait_for(lambda: images.get_subscription_count() > 0, "the node's subscription")
    worker = node.workers[0]
    for second in range(1, 6):
        stamp = Clock()
        stamp.clock.sec = 1000 + second
        clock.publish(stamp)
        target = (1000 + second) * 10**9
        wait_for(lambda target=target: node.get_clock().now().nanoseconds >= target, "/clock")
        msg = Image(height=32, width=48, encoding="bgr8", step=48 * 3)
        msg.header.stamp = stamp.clock
        msg.data = np.full((32, 48, 3), 200, np.uint8).tobytes()
        images.publish(msg)
        time.sleep(0.05)
    wait_for(lambda: worker.stats.snapshot().processed >= 3, "processed frames")
    snapshot = worker.stats.snapshot()
    assert snapshot.latency_ms.p50 > 0.0  # p50: arrival to published, never the sim clock's 0.00
    assert snapshot.latency_ms.p50 >= snapshot.processing_ms.p50
