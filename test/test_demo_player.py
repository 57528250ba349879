"""The synthetic camera over real DDS: frames arrive at the requested rate with their ground truth."""

import json
import os
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest

rclpy = pytest.importorskip("rclpy")

from rclpy.context import Context  # noqa: E402
from rclpy.executors import SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import QoSProfile, ReliabilityPolicy, qos_profile_sensor_data  # noqa: E402
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402

from seg_perception.tools.processes import ros_environment, shipped_profile, temporary_environment  # noqa: E402
from seg_perception.tools.synthetic_camera import (  # noqa: E402
    PlayerError,
    SyntheticCameraPlayer,
    camera_info_topic,
    ground_truth_topic,
)

pytestmark = pytest.mark.ros

RATE_HZ = 30.0
TOPIC = "/camera/front/image_raw"


def _domain(offset: int) -> int:
    # A private domain per test process, so parallel test runs do not hear each other.
    return 150 + (os.getpid() + offset) % 50


def _stamp(msg) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def play_and_listen(
    tmp_path, *, frames: int, domain: int, transport: str = "raw", start_after_s: float = 0.0
):
    """Run the player process once; return (images, ground truths, player stats).

    ``start_after_s`` > 0: the player waits for a start file, created once it has generated its
    frames and that many seconds have passed (the stats then hold ``start_file_ns``).
    """
    env = ros_environment(profile=shipped_profile(), domain_id=domain)
    context = Context()
    keys = ("RMW_IMPLEMENTATION", "ROS_AUTOMATIC_DISCOVERY_RANGE", "FASTDDS_DEFAULT_PROFILES_FILE")
    with temporary_environment({k: env[k] for k in keys if k in env}):
        context.init(domain_id=domain)
    node = Node("player_test_listener", context=context)
    images, truths, infos = [], [], []
    node.create_subscription(CameraInfo, camera_info_topic(TOPIC), infos.append, qos_profile_sensor_data)
    if transport == "raw":
        node.create_subscription(Image, TOPIC, images.append, qos_profile_sensor_data)
    else:
        compressed_topic = TOPIC + "/compressed"
        node.create_subscription(CompressedImage, compressed_topic, images.append, qos_profile_sensor_data)
    reliable = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Image, ground_truth_topic(TOPIC), truths.append, reliable)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stats_file = tmp_path / f"stats_{transport}.json"
    params = {
        "scenario": "highway",
        "num_frames": frames,
        "loop": "false",
        "rate_hz": RATE_HZ,
        "image_size": "[90,160]",
        "transport": transport,
        "wait_for_subscribers": 1,
        "wait_for_ground_truth_subscribers": 1,
        "wait_timeout_s": 30.0,
        "stats_file": stats_file,
        "ready_file": tmp_path / f"ready_{transport}.json",
    }
    start_file = tmp_path / f"start_{transport}"
    if start_after_s > 0:
        params["start_file"] = start_file
    command = [sys.executable, "-m", "seg_perception.tools.synthetic_camera", "--ros-args"]
    for key, value in params.items():
        command += ["-p", f"{key}:={value}"]
    player = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 45
        ready_at = None
        while player.poll() is None and time.monotonic() < deadline:
            executor.spin_once(timeout_sec=0.02)
            if start_after_s > 0 and not start_file.exists() and params["ready_file"].exists():
                ready_at = ready_at or time.monotonic()
                if time.monotonic() - ready_at >= start_after_s:
                    start_file.touch()
                    start_file_ns = time.time_ns()
        drain_end = time.monotonic() + 1.0  # frames still in flight when the player exits
        while len(truths) < frames and time.monotonic() < drain_end:
            executor.spin_once(timeout_sec=0.02)
    finally:
        if player.poll() is None:
            player.kill()
        output = player.communicate(timeout=10)[0]
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()
    assert player.returncode == 0, output
    stats = json.loads(stats_file.read_text())
    if start_after_s > 0:
        stats["start_file_ns"] = start_file_ns
    stats["camera_infos"] = infos
    return images, truths, stats


def test_player_streams_frames_and_ground_truth_at_the_rate(tmp_path):
    frames = 30
    images, truths, stats = play_and_listen(tmp_path, frames=frames, domain=_domain(0))
    assert stats["frames_sent"] == frames
    # said once every frame was generated, for harnesses that start the node only then
    assert json.loads((tmp_path / "ready_raw.json").read_text()) == {"frames_generated": frames}
    assert len(images) >= frames - 2, f"only {len(images)} of {frames} frames arrived"
    assert len(truths) == frames
    first = images[0]
    assert (first.width, first.height, first.encoding, first.step) == (160, 90, "bgr8", 480)
    assert first.header.frame_id == "front_camera"
    stamps = [_stamp(msg) for msg in images]
    assert np.all(np.diff(stamps) > 0), "stamps must increase"
    truth_stamps = [_stamp(msg) for msg in truths]
    assert set(stamps) <= set(truth_stamps)  # every frame has its ground truth, same stamp
    assert np.median(np.diff(truth_stamps) / 1e9) == pytest.approx(1 / RATE_HZ, rel=0.15)
    span_s = (truth_stamps[-1] - truth_stamps[0]) / 1e9
    assert (len(truth_stamps) - 1) / span_s == pytest.approx(RATE_HZ, rel=0.15)
    mask = np.frombuffer(truths[0].data, np.uint8)
    assert truths[0].encoding == "mono8" and mask.size == 90 * 160 and mask.max() == 1  # lane pixels
    # the true camera beside the frames, as a driver publishes it, stamped like them
    infos = stats["camera_infos"]
    assert camera_info_topic(TOPIC) == "/camera/front/camera_info" and len(infos) >= frames - 2
    assert {_stamp(info) for info in infos} <= set(truth_stamps)
    from seg_perception.data.synthetic import generate_drive
    from seg_perception.postprocess.camera_model import CameraModel

    meta = next(generate_drive("highway", 0, 1, size=(90, 160), fps=RATE_HZ)).meta["camera_model"]
    true = CameraModel.from_generator_meta(meta, (90, 160))
    first_info = infos[0]
    assert (first_info.width, first_info.height, first_info.distortion_model) == (160, 90, "plumb_bob")
    np.testing.assert_allclose(first_info.k, [true.fx, 0, true.cx, 0, true.fy, true.cy, 0, 0, 1])
    assert tuple(first_info.d) == true.distortion


def test_player_compressed_transport_publishes_jpeg_and_waits_for_its_start_file(tmp_path):
    images, truths, stats = play_and_listen(
        tmp_path, frames=5, domain=_domain(1), transport="compressed", start_after_s=1.0
    )
    assert stats["first_stamp_ns"] >= stats["start_file_ns"]  # nothing streamed before the file
    assert stats["topic"] == TOPIC + "/compressed"
    assert len(images) >= 4 and len(truths) == 5
    assert "jpeg" in images[0].format
    decoded = cv2.imdecode(np.frombuffer(images[0].data, np.uint8), cv2.IMREAD_COLOR)
    assert decoded.shape == (90, 160, 3)


def test_player_rejects_bad_parameters():
    context = Context()
    context.init(domain_id=_domain(2))
    try:
        for name, value in (("num_frames", 0), ("transport", "h264"), ("rate_hz", 0.0)):
            with pytest.raises(PlayerError, match=name):
                SyntheticCameraPlayer(
                    context=context, parameter_overrides=[rclpy.parameter.Parameter(name, value=value)]
                )
    finally:
        context.try_shutdown()
