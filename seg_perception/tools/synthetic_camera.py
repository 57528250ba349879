"""A synthetic camera: publishes a generated drive at a steady rate, with its ground truth.

``ros2 run seg_perception synthetic_camera --ros-args -p scenario:=parking`` stands in
for a real camera: frames of :func:`seg_perception.data.synthetic.generate_drive` go
out as ``sensor_msgs/Image`` (bgr8) on the scenario's camera topic, or with
``transport:=compressed`` as ``CompressedImage`` JPEG on ``<topic>/compressed`` (the
image_transport convention), looping until Ctrl-C unless ``loop:=false``. The exact
label mask of every frame goes out as a ``mono8`` image with the same header on
``<topic>/ground_truth`` (reliable), so a scorer can match predictions by stamp. A front
camera also publishes its true ``sensor_msgs/CameraInfo`` (intrinsics and lens) beside its
images, on ``camera_info`` in the image topic's namespace, as a camera driver does; it logs the
mounting to give the node with it (``front_camera_info_topic:=... front_mounting:=...``).

Every frame is generated and serialised before the first one is published: the
generator costs ~60 ms a 960x540 frame on one core, which would otherwise cap the rate.
Stamps are taken from the node clock at publish time, so ``receive time - stamp``
is the end-to-end latency of whoever consumes the frames.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from seg_perception.config import load_scenario
from seg_perception.data.synthetic import generate_drive
from seg_perception.errors import SegPerceptionError
from seg_perception.postprocess.camera_model import CameraModel
from seg_perception.ros.background_spin import BackgroundSpin
from seg_perception.ros.image_conversion import bgr_to_msg, mask_to_msg
from seg_perception.ros.runner import ARGUMENT_ERRORS, one_line

NODE_NAME = "synthetic_camera"
GROUND_TRUTH_SUFFIX = "/ground_truth"
CAMERA_INFO_NAME = "camera_info"  # image_transport's sibling of the image topic
WAIT_POLL_S = 0.05


class PlayerError(SegPerceptionError):
    """The player cannot start (bad parameter) or its subscribers never appeared."""


@dataclass
class PlaybackStats:
    """What the player did; written as JSON to ``stats_file`` for the demo's report."""

    scenario: str
    topic: str
    ground_truth_topic: str
    image_size: tuple[int, int]
    requested_rate_hz: float
    frames_generated: int = 0
    frames_sent: int = 0
    late_frames: int = 0
    generate_s: float = 0.0
    stream_s: float = 0.0
    achieved_rate_hz: float = 0.0
    first_stamp_ns: int = 0
    last_stamp_ns: int = 0
    publish_ms_mean: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def camera_info_topic(topic: str) -> str:
    """The CameraInfo topic beside an image topic (``/cam/front/image_raw``: ``/cam/front/camera_info``)."""
    namespace = topic.rstrip("/").rsplit("/", 1)[0]
    return f"{namespace}/{CAMERA_INFO_NAME}"


def camera_info_message(camera: CameraModel, header: Header) -> CameraInfo:
    """``camera`` as a ``sensor_msgs/CameraInfo`` (``P`` = ``K [I | 0]``: the raw frames' camera)."""
    info = camera.camera_info()
    return CameraInfo(
        header=header,
        width=camera.width,
        height=camera.height,
        distortion_model=camera.distortion_model,
        d=list(camera.distortion),
        k=info["camera_matrix"]["data"],
        r=info["rectification_matrix"]["data"],
        p=info["projection_matrix"]["data"],
    )


def ground_truth_topic(topic: str) -> str:
    """The ground-truth topic paired with a camera topic."""
    return topic.rstrip("/") + GROUND_TRUTH_SUFFIX


class SyntheticCameraPlayer(Node):
    """Publishes pre-generated synthetic frames (see the module docstring).

    Parameters (all read-only): ``scenario``, ``seed``, ``num_frames``, ``rate_hz``,
    ``camera`` / ``topic`` (base topic) / ``image_size`` (default: the scenario config),
    ``transport`` (raw | compressed), ``jpeg_quality``, ``frame_id`` (default
    ``<camera>_camera``), ``publish_ground_truth``, ``loop`` (default true; the demo
    plays once), ``wait_for_subscribers`` and ``wait_for_ground_truth_subscribers``
    (subscriber counts to wait for before streaming), ``wait_timeout_s``,
    ``start_delay_s``, ``stats_file``, ``ready_file`` (written once every frame is generated:
    a harness with several cameras starts the node after all of them, so that no camera's
    frame generation competes with another camera's stream) and ``start_file`` (streaming
    waits, after the subscribers, until this file exists: the harness creates it to start all
    its cameras at once).
    """

    def __init__(self, *, node_name: str = NODE_NAME, **node_options: Any) -> None:
        super().__init__(node_name, **node_options)
        declare = self.declare_parameter
        self.scenario = load_scenario(declare("scenario", "highway").value)
        self.seed = int(declare("seed", 0).value)
        self.num_frames = int(declare("num_frames", 180).value)
        self.rate_hz = float(declare("rate_hz", 30.0).value)
        camera: str = declare("camera", "").value or self.scenario.primary_camera
        block = self.scenario.camera(camera)
        self.camera: str = camera
        self.topic: str = declare("topic", "").value or str(block.get("topic", f"/camera/{camera}/image_raw"))
        size: list[int] = list(declare("image_size", Parameter.Type.INTEGER_ARRAY).value or [])
        self.image_size: tuple[int, int] = (
            (int(size[0]), int(size[1])) if len(size) == 2 else self.scenario.image_size(camera)
        )
        self.transport: str = declare("transport", "raw").value
        self.jpeg_quality = int(declare("jpeg_quality", 90).value)
        self.frame_id: str = declare("frame_id", "").value or f"{camera}_camera"
        self.publish_ground_truth = bool(declare("publish_ground_truth", True).value)
        self.loop = bool(declare("loop", True).value)
        self.wait_for_subscribers = int(declare("wait_for_subscribers", 0).value)
        self.wait_for_gt_subscribers = int(declare("wait_for_ground_truth_subscribers", 0).value)
        self.wait_timeout_s = float(declare("wait_timeout_s", 60.0).value)
        self.start_delay_s = float(declare("start_delay_s", 0.5).value)
        self.stats_file: str = declare("stats_file", "").value
        self.ready_file: str = declare("ready_file", "").value
        self.start_file: str = declare("start_file", "").value
        self._validate()

        compressed: bool = self.transport == "compressed"
        self.image_topic = f"{self.topic.rstrip('/')}/compressed" if compressed else self.topic
        self.image_pub = self.create_publisher(
            CompressedImage if compressed else Image, self.image_topic, qos_profile_sensor_data
        )
        self.gt_topic = ground_truth_topic(self.topic)
        # Reliable with a deep history: every frame's truth reaches the scorer even
        # when its process is busy for a moment.
        gt_qos = QoSProfile(
            history=QoSHistoryPolicy.KEEP_LAST, depth=64, reliability=QoSReliabilityPolicy.RELIABLE
        )
        self.gt_pub = (
            self.create_publisher(Image, self.gt_topic, gt_qos) if self.publish_ground_truth else None
        )
        self.info_topic = camera_info_topic(self.topic)
        self.info_pub: Any = None  # created for a front camera, once generate() knows it has a lens
        self._info_msg: CameraInfo | None = None
        self.stats = PlaybackStats(
            scenario=self.scenario.name,
            topic=self.image_topic,
            ground_truth_topic=self.gt_topic if self.gt_pub else "",
            image_size=self.image_size,
            requested_rate_hz=self.rate_hz,
        )
        self._frames: list[tuple[Any, Image | None]] = []
        self._stop = threading.Event()

    def _validate(self) -> None:
        if self.num_frames < 1:
            raise PlayerError(f"parameter 'num_frames' = {self.num_frames}: must be >= 1")
        if not 0 < self.rate_hz <= 1000:
            raise PlayerError(f"parameter 'rate_hz' = {self.rate_hz}: must be in (0, 1000]")
        if self.transport not in ("raw", "compressed"):
            raise PlayerError(
                f"parameter 'transport' = {self.transport!r}: allowed values are raw, compressed"
            )
        if min(self.image_size) < 16:
            raise PlayerError(
                f"parameter 'image_size' = {list(self.image_size)}: needs at least 16x16 pixels"
            )

    def generate(self) -> None:
        """Generate and serialise every frame (and its ground truth) ahead of streaming."""
        start = time.perf_counter()
        header = Header(frame_id=self.frame_id)
        self.get_logger().info(
            f"generating {self.num_frames} {self.scenario.name} frames of "
            f"{self.image_size[1]}x{self.image_size[0]} (seed {self.seed})"
        )
        frames = generate_drive(
            self.scenario, self.seed, self.num_frames, size=self.image_size, fps=self.rate_hz
        )
        for sample in frames:
            if self._stop.is_set():
                return
            if self._info_msg is None and "camera_model" in sample.meta:
                self._announce_camera(
                    CameraModel.from_generator_meta(sample.meta["camera_model"], self.image_size)
                )
            image_msg = self._image_message(sample.image, header)
            gt_msg = mask_to_msg(sample.mask, header) if self.gt_pub is not None else None
            self._frames.append((image_msg, gt_msg))
        self.stats.frames_generated = len(self._frames)
        self.stats.generate_s = time.perf_counter() - start
        self.get_logger().info(f"generated {len(self._frames)} frames in {self.stats.generate_s:.1f} s")
        if self.ready_file:
            path = Path(self.ready_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            partial = path.with_name(path.name + ".partial")  # renamed: a reader never sees half a file
            partial.write_text(json.dumps({"frames_generated": len(self._frames)}))
            partial.replace(path)

    def _announce_camera(self, camera: CameraModel) -> None:
        """Publish the drive's true camera as its CameraInfo from now on, and say where it is mounted."""
        self._info_msg = camera_info_message(camera, Header(frame_id=self.frame_id))
        self.info_pub = self.create_publisher(CameraInfo, self.info_topic, qos_profile_sensor_data)
        mounting = ",".join(f"{v:.4f}" for v in camera.mounting.values())
        self.get_logger().info(
            f"camera info on {self.info_topic}; this drive's camera is mounted at {mounting} (height m, "
            f"pitch, roll, yaw deg, x, y m): front_camera_info_topic:={self.info_topic} "
            f"front_mounting:={mounting}"
        )

    def _image_message(self, image: np.ndarray, header: Header) -> Any:
        if self.transport == "raw":
            return bgr_to_msg(image, header)
        ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality])
        if not ok:
            raise PlayerError("OpenCV cannot encode JPEG here; use transport:=raw")
        msg = CompressedImage(header=header, format="bgr8; jpeg compressed bgr8")
        msg.data = encoded.tobytes()
        return msg

    def wait_for_consumers(self) -> None:
        """Block until the requested subscribers are matched, then ``start_delay_s`` more.

        Raises:
            PlayerError: they did not appear within ``wait_timeout_s``.
        """
        wanted = [(self.image_pub, self.wait_for_subscribers, self.image_topic)]
        if self.gt_pub is not None:
            wanted.append((self.gt_pub, self.wait_for_gt_subscribers, self.gt_topic))
        deadline = time.monotonic() + self.wait_timeout_s
        for publisher, count, topic in wanted:
            if count <= 0:
                continue
            self.get_logger().info(f"waiting for {count} subscriber(s) on {topic}")
            while publisher.get_subscription_count() < count:
                if self._stop.is_set():
                    return
                if time.monotonic() > deadline:
                    raise PlayerError(
                        f"{publisher.get_subscription_count()} of {count} subscriber(s) on {topic} "
                        f"after {self.wait_timeout_s:.0f} s"
                    )
                time.sleep(WAIT_POLL_S)
        if self.start_file:
            self.get_logger().info(f"waiting for {self.start_file}")
            while not Path(self.start_file).exists():
                if time.monotonic() > deadline:
                    raise PlayerError(f"{self.start_file} did not appear within {self.wait_timeout_s:.0f} s")
                if self._stop.wait(WAIT_POLL_S):
                    return
        # Matching is per side: give the subscribers a moment to match this writer too,
        # or the first best-effort frames are discarded.
        self._stop.wait(self.start_delay_s)

    def play(self) -> PlaybackStats:
        """Publish the frames at ``rate_hz`` (forever with ``loop``, until :meth:`stop`)."""
        period = 1.0 / self.rate_hz
        publish_s = 0.0
        start = time.monotonic()
        first_stamp = last_stamp = 0
        index = 0
        self.get_logger().info(f"streaming on {self.image_topic} at {self.rate_hz:g} Hz")
        while not self._stop.is_set() and self.context.ok():
            position = index % len(self._frames)
            if index and position == 0 and not self.loop:
                break
            target = start + index * period
            delay = target - time.monotonic()
            if delay > 0:
                if self._stop.wait(delay):
                    break
            elif delay < -period:
                # Late by more than a frame: count it and keep the rate rather than burst.
                self.stats.late_frames += 1
                start -= delay
            image_msg, gt_msg = self._frames[position]
            stamp = self.get_clock().now()
            tick = time.perf_counter()
            image_msg.header.stamp = stamp.to_msg()
            if self._info_msg is not None:  # before its frame, as drivers do: the frame finds it there
                self._info_msg.header.stamp = image_msg.header.stamp
                self.info_pub.publish(self._info_msg)
            self.image_pub.publish(image_msg)
            if gt_msg is not None and self.gt_pub is not None:
                gt_msg.header.stamp = image_msg.header.stamp
                self.gt_pub.publish(gt_msg)
            publish_s += time.perf_counter() - tick
            last_stamp = stamp.nanoseconds
            first_stamp = first_stamp or last_stamp
            index += 1
        self.stats.frames_sent = index
        self.stats.stream_s = time.monotonic() - start
        self.stats.first_stamp_ns, self.stats.last_stamp_ns = first_stamp, last_stamp
        if index > 1:
            self.stats.achieved_rate_hz = (index - 1) / ((last_stamp - first_stamp) / 1e9)
            self.stats.publish_ms_mean = 1e3 * publish_s / index
        self.get_logger().info(
            f"sent {index} frames in {self.stats.stream_s:.2f} s ({self.stats.achieved_rate_hz:.1f} Hz, "
            f"{self.stats.late_frames} late)"
        )
        return self.stats

    def stop(self) -> None:
        """Ask :meth:`generate`, :meth:`wait_for_consumers` and :meth:`play` to return."""
        self._stop.set()

    def write_stats(self) -> None:
        """Write :attr:`stats` as JSON to ``stats_file`` when one was given."""
        if self.stats_file:
            path = Path(self.stats_file)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(asdict(self.stats), indent=2))


STOP_ERRORS: tuple[type[BaseException], ...] = (SegPerceptionError, *ARGUMENT_ERRORS)


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run seg_perception synthetic_camera``; returns the exit code."""
    try:
        rclpy.init(args=list(args) if args is not None else None)
    except ARGUMENT_ERRORS as err:
        rclpy.logging.get_logger(NODE_NAME).error(f"invalid arguments: {one_line(err)}")
        return 1
    player: SyntheticCameraPlayer | None = None
    executor = SingleThreadedExecutor()
    spinner: BackgroundSpin | None = None
    try:
        player = SyntheticCameraPlayer()
        # Spin (parameter services, graph) in the background; the main thread keeps the rate.
        executor.add_node(player)
        spinner = BackgroundSpin(executor, name="player_spin")
        player.generate()
        player.wait_for_consumers()
        player.play()
        player.write_stats()
    except STOP_ERRORS as err:
        if not rclpy.ok():
            return 0  # a signal during start-up
        rclpy.logging.get_logger(NODE_NAME).error(one_line(err))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        if player is not None:
            player.stop()
            player.write_stats()
    except Exception:
        if rclpy.ok():
            raise  # a bug: keep its traceback
        # SIGINT/SIGTERM shut the context down under a publish: that is the end of the stream
        if player is not None:
            player.stop()
            player.write_stats()
    finally:
        # joined first: nothing may be destroyed under a wait in progress
        stopped = spinner is None or spinner.stop()
        executor.shutdown(timeout_sec=1.0)
        if player is not None and stopped:
            player.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
