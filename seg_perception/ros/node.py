"""The segmentation node: camera images in; mask, overlay, markers, polygons and diagnostics out.

Threading: each camera's subscription callback only stores the newest message in a
one-slot :class:`~seg_perception.ros.mailbox.LatestMailbox` (overwriting an
unprocessed one counts as a drop), and a worker thread per camera converts,
segments and publishes. The executor never waits for inference and memory is
bounded by one pending message per camera.

Outputs per camera, relative names under ``<camera>/`` (remappable), every one
stamped with the input header (``<camera>.frame_id`` overrides its frame):
``mask`` (mono8 class ids), ``overlay`` (bgr8, computed only while subscribed),
``markers`` (MarkerArray), ``polygons`` (PointCloud2, see
:mod:`seg_perception.ros.polygon_cloud`), ``processing_time_ms`` (Float32); plus
``/diagnostics`` (DiagnosticArray, one status per camera).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.executors import ExternalShutdownException
from rclpy.node import Node
from rclpy.qos import QoSHistoryPolicy, QoSProfile, QoSReliabilityPolicy, qos_profile_sensor_data
from sensor_msgs.msg import CompressedImage, Image, PointCloud2
from std_msgs.msg import Float32, Header
from visualization_msgs.msg import MarkerArray

from seg_perception.errors import SegPerceptionError
from seg_perception.inference.engine import Engine, create_engine
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.ros.errors import ImageConversionError
from seg_perception.ros.image_conversion import (
    bgr_to_msg,
    compressed_msg_to_bgr,
    image_msg_to_bgr,
    mask_to_msg,
)
from seg_perception.ros.mailbox import LatestMailbox
from seg_perception.ros.markers import MarkerStyle, build_marker_array
from seg_perception.ros.parameters import CameraSettings, NodeSettings, declare_node_parameters
from seg_perception.ros.polygon_cloud import build_polygon_cloud
from seg_perception.ros.stats import CameraStats, build_status

NODE_NAME = "segmentation_node"
WARN_THROTTLE_S = 5.0
WORKER_POLL_S = 0.2


class _CameraWorker:
    """Subscription, mailbox, worker thread and publishers of one camera."""

    def __init__(
        self, node: SegmentationNode, camera: CameraSettings, pipeline: SegmentationPipeline
    ) -> None:
        self.node = node
        self.camera = camera
        self.pipeline = pipeline
        self.stats = CameraStats()
        self.mailbox: LatestMailbox[Any] = LatestMailbox()
        settings = node.settings
        self.style = MarkerStyle(
            camera=camera.name,
            class_names=settings.scenario.classes.names,
            colors_rgb=settings.scenario.classes.colors_rgb,
            line_width=settings.marker_scale,
        )
        output_qos = QoSProfile(
            history=QoSHistoryPolicy.KEEP_LAST,
            depth=settings.qos_depth,
            reliability=QoSReliabilityPolicy.RELIABLE,
        )
        prefix = camera.name
        self.mask_pub = node.create_publisher(Image, f"{prefix}/mask", output_qos)
        self.overlay_pub = node.create_publisher(Image, f"{prefix}/overlay", output_qos)
        self.markers_pub = node.create_publisher(MarkerArray, f"{prefix}/markers", output_qos)
        self.polygons_pub = node.create_publisher(PointCloud2, f"{prefix}/polygons", output_qos)
        self.time_pub = node.create_publisher(Float32, f"{prefix}/processing_time_ms", output_qos)
        compressed = camera.transport == "compressed"
        self.convert: Callable[..., Any] = compressed_msg_to_bgr if compressed else image_msg_to_bgr
        self.subscription = node.create_subscription(
            CompressedImage if compressed else Image, camera.topic, self._on_message, node.input_qos
        )
        self.thread = threading.Thread(target=self._run, name=f"seg_{camera.name}", daemon=True)

    def _on_message(self, msg: Any) -> None:
        self.stats.on_received(dropped=self.mailbox.put(msg))

    def _run(self) -> None:
        while not self.mailbox.closed:
            msg = self.mailbox.take(WORKER_POLL_S)
            if msg is not None:
                self._process(msg)

    def _process(self, msg: Any) -> None:
        logger = self.node.get_logger()
        start = time.perf_counter()
        try:
            image = self.convert(msg, max_pixels=self.node.settings.max_image_pixels)
        except ImageConversionError as err:
            self.stats.on_rejected(err.reason)
            logger.warning(
                f"camera '{self.camera.name}': rejected frame ({err})", throttle_duration_sec=WARN_THROTTLE_S
            )
            return
        converted = time.perf_counter()
        try:
            result = self.pipeline.process(image)
        except Exception as err:
            self.stats.on_engine_error(f"{type(err).__name__}: {err}")
            logger.error(
                f"camera '{self.camera.name}': inference failed: {err}", throttle_duration_sec=WARN_THROTTLE_S
            )
            return
        processed = time.perf_counter()
        header = self._output_header(msg.header)
        self._publish(header, image, result)
        end = time.perf_counter()
        processing_ms = (end - start) * 1e3
        self.time_pub.publish(Float32(data=float(processing_ms)))
        stages = {
            "conversion": (converted - start) * 1e3,
            "pipeline": (processed - converted) * 1e3,
            "publish": (end - processed) * 1e3,
        }
        self.stats.on_processed(
            latency_ms=self.node.latency_ms(msg.header.stamp), processing_ms=processing_ms, stages_ms=stages
        )

    def _output_header(self, header: Header) -> Header:
        if not self.camera.frame_id:
            return header
        return Header(stamp=header.stamp, frame_id=self.camera.frame_id)

    def _publish(self, header: Header, image: Any, result: Any) -> None:
        self.mask_pub.publish(mask_to_msg(result.mask, header))
        if self.overlay_pub.get_subscription_count() > 0:
            alpha = float(self.node.get_parameter("overlay_alpha").value)
            self.overlay_pub.publish(bgr_to_msg(self.pipeline.overlay(image, result.mask, alpha), header))
        size = result.mask.shape[:2]
        projection = self.camera.projection
        style = self.style
        if style.line_width != self.node.marker_scale:
            style = self.style = MarkerStyle(
                style.camera, style.class_names, style.colors_rgb, self.node.marker_scale
            )
        self.markers_pub.publish(
            build_marker_array(
                header=header,
                style=style,
                projection=projection,
                image_size=size,
                polygons=result.polygons,
                slots=result.slots,
            )
        )
        self.polygons_pub.publish(
            build_polygon_cloud(
                header=header,
                projection=projection,
                image_size=size,
                polygons=result.polygons,
                slots=result.slots,
            )
        )

    def stop(self) -> None:
        self.mailbox.close()
        if self.thread.is_alive():
            self.thread.join()


class SegmentationNode(Node):
    """Segments every enabled camera's images with the scenario's model (see module docstring)."""

    def __init__(self, *, node_name: str = NODE_NAME, **node_options: Any) -> None:
        """Declare and validate parameters, load the engine and start one worker per camera.

        Raises:
            SegPerceptionError: invalid parameter, missing or wrong model file, CUDA
                absent under ``cuda_policy: fail``. The node is destroyed first.
        """
        super().__init__(node_name, **node_options)
        self._workers: list[_CameraWorker] = []
        self.engine: Engine | None = None
        try:
            self.settings: NodeSettings = declare_node_parameters(self)
            self._setup()
        except BaseException:
            self.shutdown()
            self.destroy_node()
            raise

    def _setup(self) -> None:
        settings = self.settings
        self.input_qos = self._input_qos(settings)
        self.engine = create_engine(
            settings.model_file,
            engine=settings.engine,
            device=settings.device,
            providers=list(settings.providers) or None,
            fp16=settings.fp16,
            cuda_policy=settings.cuda_policy,  # type: ignore[arg-type]
        )
        pipelines = {
            camera.name: SegmentationPipeline(
                self.engine, settings.scenario, camera.name, overlay_alpha=settings.overlay_alpha
            )
            for camera in settings.enabled_cameras
        }
        self.marker_scale = settings.marker_scale
        self._started = time.monotonic()
        self._workers = [
            _CameraWorker(self, camera, pipelines[camera.name]) for camera in settings.enabled_cameras
        ]
        self.diagnostics_pub = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self.create_timer(settings.diagnostics_period_s, self.publish_diagnostics)
        self.add_on_set_parameters_callback(self._on_set_parameters)
        for worker in self._workers:
            worker.thread.start()
        cameras = ", ".join(
            f"{w.camera.name} <- {w.subscription.topic_name} ({w.camera.transport})" for w in self._workers
        )
        self.get_logger().info(
            f"scenario {settings.scenario.name}: {self.engine.describe()}; cameras: {cameras}"
        )

    @staticmethod
    def _input_qos(settings: NodeSettings) -> QoSProfile:
        if settings.qos_reliability == "best_effort":
            return QoSProfile(
                history=qos_profile_sensor_data.history,
                depth=settings.qos_depth,
                reliability=qos_profile_sensor_data.reliability,
                durability=qos_profile_sensor_data.durability,
            )
        return QoSProfile(
            history=QoSHistoryPolicy.KEEP_LAST,
            depth=settings.qos_depth,
            reliability=QoSReliabilityPolicy.RELIABLE,
        )

    def _on_set_parameters(self, parameters: Sequence[Any]) -> Any:
        from rcl_interfaces.msg import SetParametersResult

        for parameter in parameters:
            if parameter.name == "marker_scale":
                self.marker_scale = float(parameter.value)
        return SetParametersResult(successful=True)

    def latency_ms(self, stamp: Time) -> float | None:
        """Milliseconds from the input stamp to now (node clock); None for an unset stamp."""
        if stamp.sec == 0 and stamp.nanosec == 0:
            return None
        now = self.get_clock().now().nanoseconds
        return (now - (stamp.sec * 10**9 + stamp.nanosec)) / 1e6

    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticStatus`` per camera on ``/diagnostics``."""
        assert self.engine is not None
        age = time.monotonic() - self._started
        info = {
            "model_file": str(self.settings.model_file),
            "model": self.engine.metadata.model,
            "engine": self.settings.engine,
            "providers": ", ".join(self.engine.providers),
            "device": self.settings.device,
        }
        statuses = [
            build_status(
                name=f"{self.get_name()}: {worker.camera.name}",
                snapshot=worker.stats.snapshot(),
                stale_timeout_s=self.settings.stale_timeout_s,
                seconds_since_start=age,
                info={**info, "topic": worker.subscription.topic_name},
            )
            for worker in self._workers
        ]
        array = DiagnosticArray(status=statuses)
        array.header.stamp = self.get_clock().now().to_msg()
        self.diagnostics_pub.publish(array)

    @property
    def workers(self) -> tuple[_CameraWorker, ...]:
        return tuple(self._workers)

    def shutdown(self) -> None:
        """Stop and join the workers, then release the engine (idempotent)."""
        for worker in self._workers:
            worker.stop()
        if self.engine is not None:
            self.engine.close()
            self.engine = None


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run seg_perception segmentation_node``; returns the exit code."""
    rclpy.init(args=args)
    node: SegmentationNode | None = None
    try:
        node = SegmentationNode()
        rclpy.spin(node)
    except SegPerceptionError as err:
        rclpy.logging.get_logger(NODE_NAME).error(str(err))
        return 1
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        if node is not None:
            node.shutdown()
            node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
