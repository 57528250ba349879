"""The demo recorder over real DDS: outputs matched to ground truth by stamp, latency measured."""

import os
import time

import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from builtin_interfaces.msg import Time  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue  # noqa: E402
from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Float32, Header  # noqa: E402

from seg_perception.ros.image_conversion import bgr_to_msg, mask_to_msg  # noqa: E402
from seg_perception.tools.recorder import OutputRecorder, OutputTopics, mono8_view, stamp_ns  # noqa: E402

pytestmark = pytest.mark.ros


def test_output_topics_follow_the_node_layout():
    topics = OutputTopics.for_camera("front", input_topic="/camera/front/image_raw")
    assert topics.mask == "/front/mask" and topics.overlay == "/front/overlay"
    assert topics.processing_time == "/front/processing_time_ms"
    assert (topics.lanes, topics.slots) == ("/front/lanes", "/front/slots")
    assert topics.ground_truth == "/camera/front/image_raw/ground_truth"
    assert OutputTopics.for_camera("avm", input_topic="/x", namespace="/car/").mask == "/car/avm/mask"


def test_mono8_view_drops_row_padding():
    msg = Image(height=2, width=3, step=4, encoding="mono8")
    msg.data = bytes([1, 2, 3, 99, 4, 5, 6, 99])
    np.testing.assert_array_equal(mono8_view(msg), [[1, 2, 3], [4, 5, 6]])
    assert stamp_ns(Time(sec=2, nanosec=5)) == 2_000_000_005


def _wait(executor, condition, timeout_s=15.0):
    deadline = time.monotonic() + timeout_s
    while not condition() and time.monotonic() < deadline:
        executor.spin_once(timeout_sec=0.02)
    return condition()


def test_recorder_matches_masks_to_ground_truth_and_measures_latency():
    context = Context()
    context.init(domain_id=150 + (os.getpid() + 7) % 50)
    topics = OutputTopics.for_camera("front", input_topic="/camera/front/image_raw")
    recorder = OutputRecorder(topics, overlay_every=2, context=context)
    fake = Node("fake_segmentation_node", context=context)
    reliable = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
    publishers = {
        name: fake.create_publisher(Image, getattr(topics, name), reliable)
        for name in ("mask", "overlay", "ground_truth")
    }
    time_pub = fake.create_publisher(Float32, topics.processing_time, reliable)
    diag_pub = fake.create_publisher(DiagnosticArray, topics.diagnostics, reliable)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(recorder)
    try:
        assert _wait(executor, lambda: recorder.node_output_matched and recorder.ground_truth_matched)
        assert _wait(executor, lambda: publishers["mask"].get_subscription_count() > 0)
        truth = np.zeros((6, 8), np.uint8)
        truth[:, :4] = 1
        sent = []
        for index in range(6):
            stamp = fake.get_clock().now()
            header = Header(stamp=stamp.to_msg(), frame_id="front_camera")
            sent.append(stamp.nanoseconds)
            publishers["ground_truth"].publish(mask_to_msg(truth, header))
            time.sleep(0.02)  # the "inference" time the recorder must measure
            if index != 3:  # frame 3 is dropped by the fake node
                publishers["mask"].publish(mask_to_msg(truth if index else 1 - truth, header))
                publishers["overlay"].publish(bgr_to_msg(np.full((6, 8, 3), index, np.uint8), header))
                time_pub.publish(Float32(data=5.0))
        values = [KeyValue(key="providers", value="CPU")]
        status = DiagnosticStatus(name="segmentation_node: front", values=values)
        diag_pub.publish(DiagnosticArray(status=[status]))
        recording = recorder.recording
        assert _wait(
            executor,
            lambda: (
                len(recording.predictions) == 5
                and len(recording.ground_truth) == 6
                and recorder.diagnostics
                and len(recording.overlays) == 3
            ),
        )
    finally:
        executor.shutdown()
        recorder.destroy_node()
        fake.destroy_node()
        context.try_shutdown()

    assert recording.matched_stamps == [s for i, s in enumerate(sent) if i != 3]
    latencies = recording.latencies_ms()
    assert all(15.0 < value < 1000.0 for value in latencies), latencies
    assert recording.counts(frames_sent=6)["dropped"] == 1
    score = recording.score(["background", "lane"])
    assert score["frames_scored"] == 5
    # 4 right frames (24 lane px each) and 1 inverted one (24 missed + 24 false): 96 / (96 + 24 + 24)
    assert score["per_class_iou"]["lane"] == pytest.approx(96 / 144)
    assert [int(image[0, 0, 0]) for _, image in recording.overlays] == [0, 2, 5]  # every 2nd kept
    assert recorder.processing_ms == [5.0] * 5
    assert recorder.camera_diagnostics("front")["values"]["providers"] == "CPU"
    assert recorder.camera_diagnostics("avm") == {}
