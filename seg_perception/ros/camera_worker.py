"""One camera's subscription, mailbox, worker thread and publishers.

The subscription takes frames serialized (``raw``) and its callback only stores the newest in a
one-slot :class:`~seg_perception.ros.mailbox.LatestMailbox` (overwriting an unprocessed one is
a counted drop); the worker thread deserializes, converts, segments and publishes. So a frame
overwritten unseen costs one copy of its bytes, not a deserialization (2 ms for a 960x540
colour image, in a thread that holds the interpreter lock meanwhile). Every received
frame ends in exactly one counter: processed, dropped, rejected (``rejected.<reason>``)
or failed (engine or publishing error), so ``received = processed + dropped +
rejected + failed`` once the camera is idle.

The mask and the processing time are always published, the mask as soon as the engine returns
(before the post-processing: planners wait for it); the tracked lane boundaries
(``<camera>/lanes``, ``seg_perception/LaneBoundaryArray``, front cameras), the parking slots
(``<camera>/slots``, ``seg_perception/ParkingSlotArray``) and the opt-in polygon cloud are only
built while their topic has a subscriber; the overlay and the markers (pictures for people) only
while subscribed and at most ``visualization_rate_hz`` times a second. Each output's build and
publish time goes to the ``stage_ms.publish_<output>`` diagnostics. ``<camera>/segmentation_info`` (model
and class map) is published once on activation with a latched QoS.
Before the first output of each model (at start and after every scenario switch) the worker
republishes ``segmentation_info`` stamped with that frame, and announces on the latched
``<camera>/model`` topic (JSON) which scenario and model produce the outputs from that stamp on.

A frame whose stamp is unset or further than ``stamp_window_s`` from the node clock is
processed as usual but counted as ``clock_mismatch`` and kept out of the latency
statistics (its "latency" would be the offset between two clocks); under sim time latency
is measured from the frame's arrival, so stamps are not compared with the clock.

Failures never stop the thread: a bad frame is rejected with a warning throttled per
reason, an engine exception is logged once per exception type (diagnostics stay ERROR
until a frame succeeds again), and the next frame is processed normally.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import Any, Protocol, TypeVar

import numpy as np
import rclpy
from builtin_interfaces.msg import Time
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.node import Node
from rclpy.qos import QoSProfile
from rclpy.serialization import deserialize_message
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Float32, Header, String

from seg_perception.errors import SegPerceptionError
from seg_perception.inference.pipeline import FrameResult, SegmentationPipeline
from seg_perception.postprocess.scene_cut import StampGap
from seg_perception.ros.dds_limits import frame_size_limit
from seg_perception.ros.errors import ImageConversionError
from seg_perception.ros.frame_messages import FrameMessages
from seg_perception.ros.image_conversion import (
    compressed_msg_to_bgr,
    image_msg_to_bgr,
    image_msg_with_buffer,
)
from seg_perception.ros.input_checks import (
    COMPRESSED_SUFFIX,
    COMPRESSED_TYPE,
    IMAGE_TYPE,
    PublisherInfo,
    diagnose_silent_input,
)
from seg_perception.ros.log_limits import KeyedThrottle, OncePerKey
from seg_perception.ros.mailbox import LatestMailbox
from seg_perception.ros.markers import MarkerStyle
from seg_perception.ros.outputs import (
    CAMERA_OUTPUTS,
    LANES,
    MARKERS,
    MASK,
    MODEL,
    OVERLAY,
    POLYGONS,
    PROCESSING_TIME,
    SEGMENTATION_INFO,
    SLOTS,
    output_frame_id,
)
from seg_perception.ros.parameters import CameraSettings, NodeSettings
from seg_perception.ros.projection import camera_info_projection
from seg_perception.ros.qos import output_profile
from seg_perception.ros.stats import CameraStats, PerceptionSample
from seg_perception.ros.typed_messages import segmentation_info

_Result = TypeVar("_Result")
WARN_THROTTLE_S = 5.0
SILENT_INPUT_WARN_PERIOD_S = 30.0
WORKER_POLL_S = 0.2


class WorkerHost(Protocol):
    """What a camera worker uses of the node's :class:`~seg_perception.ros.core.SegmentationCore`.

    A protocol rather than an import, so the core imports its workers and not the other way round.
    """

    node: Node
    settings: NodeSettings | None
    input_qos: QoSProfile
    marker_scale: float
    overlay_alpha: float
    visualization_rate_hz: float

    def create_publisher(self, msg_type: type, topic: str, qos: QoSProfile | int) -> Any: ...

    def destroy_publisher(self, publisher: Any) -> None: ...

    def check_frame_size(self, frame_bytes: int) -> None: ...

    def sim_time_active(self) -> bool: ...

    def latency_ms(self, stamp: Time) -> float | None: ...

    def clock_mismatch(self, latency_ms: float | None) -> str | None: ...


class CameraWorker:
    """Publishers (created at once), and subscription plus thread (between :meth:`start` and :meth:`stop`)."""

    def __init__(self, *, core: WorkerHost, camera: CameraSettings, pipeline: SegmentationPipeline) -> None:
        self.core = core
        self.camera = camera
        self.projection = camera.projection  # replaced once a CameraInfo message calibrates the camera
        self.info_subscription: Any = None
        self.pipeline = pipeline
        self.stats = CameraStats()
        self.mailbox: LatestMailbox[Any] = LatestMailbox()
        self.mailbox.close()  # opened by start()
        self.subscription: Any = None
        self.thread: threading.Thread | None = None
        self._warnings = KeyedThrottle(WARN_THROTTLE_S)
        self._silent_warnings = KeyedThrottle(SILENT_INPUT_WARN_PERIOD_S)
        self._faults = OncePerKey()
        self._consecutive_failures = 0
        self.size_limit = frame_size_limit(os.environ)
        self._large_frame_warned = False
        self._last_visualization: float | None = None  # time.monotonic() of the last overlay/markers
        self._messages: dict[str, tuple[tuple[int, int], Image, np.ndarray]] = {}  # reused, per output
        settings = self.settings
        self.style = self._marker_style(pipeline, settings.marker_scale)
        # The frame lock is held while a frame is processed: a scenario switch swaps the
        # pipeline between two frames. The announced pipeline is the one <camera>/model names.
        self._frame_lock = threading.Lock()
        self._announced: SegmentationPipeline | None = None
        self.model_switches = 0
        self._stamp_gap = StampGap(settings.tracking_gap_s)  # stamps that jump restart the trackers
        self.tracking_restarts = 0
        self.scene_cuts = 0  # frames that did not continue the last one (the pipeline restarted its trackers)
        # Frames are delivered in their own callback group, so a multi-threaded executor keeps
        # them flowing while a parameter request loads a new model.
        self.callback_group = MutuallyExclusiveCallbackGroup()
        # One publisher per row of the outputs table (the polygon cloud only when asked for).
        self.outputs: dict[str, Any] = {
            output.name: core.create_publisher(
                output.message_class(),
                output.relative_topic(camera.name),
                output_profile(output.qos, settings.qos_depth),
            )
            for output in CAMERA_OUTPUTS
            if output is not POLYGONS or settings.publish_polygon_cloud
        }
        self.mask_pub = self.outputs[MASK.name]
        self.overlay_pub = self.outputs[OVERLAY.name]
        self.markers_pub = self.outputs[MARKERS.name]
        self.lanes_pub = self.outputs[LANES.name]
        self.slots_pub = self.outputs[SLOTS.name]
        self.info_pub = self.outputs[SEGMENTATION_INFO.name]
        self.polygons_pub = self.outputs.get(POLYGONS.name)
        self.time_pub = self.outputs[PROCESSING_TIME.name]
        self.model_pub = self.outputs[MODEL.name]
        self.publishers = tuple(self.outputs.values())
        compressed = camera.transport == "compressed"
        self.message_type: type = CompressedImage if compressed else Image
        self.convert: Callable[..., Any] = compressed_msg_to_bgr if compressed else image_msg_to_bgr

    @property
    def settings(self) -> NodeSettings:
        """The node's settings (a worker exists only while its node is configured)."""
        settings = self.core.settings
        assert settings is not None, "camera worker of an unconfigured node"
        return settings

    @staticmethod
    def _marker_style(pipeline: SegmentationPipeline, line_width: float) -> MarkerStyle:
        return MarkerStyle.for_scenario(pipeline.camera, pipeline.scenario, line_width)

    def model_info(self) -> dict[str, str]:
        """Which scenario and model the camera runs (diagnostics and ``<camera>/model``)."""
        pipeline, model = self.pipeline, self.camera.model
        return {
            "scenario": model.scenario.name,
            "model_file": str(model.model_file),
            "model": pipeline.engine.metadata.model,
            "classes": ", ".join(model.scenario.classes.names),
            "providers": ", ".join(pipeline.engine.providers),
            # 1 unless the scenario mirrors frames for their marking points (cuda_test_time_flips)
            "test_time_flips": str(len(pipeline.point_flips)),
            "model_switches": str(self.model_switches),
        }

    def swap(self, pipeline: SegmentationPipeline, camera: CameraSettings) -> Any:
        """Run ``pipeline`` (with ``camera``'s new model) from the next frame on; returns the old engine.

        Waits only for the frame in progress, so no frame is lost to the swap itself.
        """
        with self._frame_lock:
            old, self.pipeline, self.camera = self.pipeline, pipeline, camera
            self.style = self._marker_style(pipeline, self.core.marker_scale)
            self.model_switches += 1
        return old.engine

    def _announce(self, header: Header) -> None:
        """Publish on ``<camera>/model`` which model produces the outputs from ``header.stamp`` on."""
        info = {
            "camera": self.camera.name,
            **self.model_info(),
            "class_colors": list(self.pipeline.scenario.classes.colors_hex),
            "first_stamp": {"sec": int(header.stamp.sec), "nanosec": int(header.stamp.nanosec)},
        }
        self.model_pub.publish(String(data=json.dumps(info)))
        if self.model_switches:  # at start, activation already published it
            self.publish_info(header)
        self._announced = self.pipeline

    @property
    def topic(self) -> str:
        """The resolved input topic while subscribed, else the configured one."""
        return self.subscription.topic_name if self.subscription is not None else self.camera.topic

    @property
    def running(self) -> bool:
        return self.thread is not None and self.thread.is_alive()

    def start(self) -> None:
        """Subscribe and start the worker thread (idempotent)."""
        if self.running:
            return
        self.mailbox = LatestMailbox()
        node = self.core.node
        self.subscription = node.create_subscription(
            self.message_type,
            self.camera.topic,
            self._on_message,
            self.core.input_qos,
            callback_group=self.callback_group,
            raw=True,
        )
        if self.camera.camera_info_topic and self.projection.homography is None:
            self.info_subscription = node.create_subscription(
                CameraInfo, self.camera.camera_info_topic, self._on_camera_info, self.core.input_qos
            )
        with self._frame_lock:  # an activation starts a new stream: nothing tracked before it holds
            self.pipeline.reset_tracking()
            self._stamp_gap.reset()
        self.thread = threading.Thread(target=self._run, name=f"seg_{self.camera.name}", daemon=True)
        self.thread.start()
        self.publish_info()

    def publish_info(self, header: Header | None = None) -> None:
        """Publish the latched ``SegmentationInfo`` (model, engine, class map) of this camera.

        ``header``: the first frame the running model produces (after a switch); default now.
        """
        settings, engine, scenario = self.settings, self.pipeline.engine, self.pipeline.scenario
        metadata = engine.metadata
        if header is None:
            header = Header(stamp=self.core.node.get_clock().now().to_msg(), frame_id=self.camera.frame_id)
        self.info_pub.publish(
            segmentation_info(
                header=header,
                camera=self.camera.name,
                scenario=scenario.name,
                model=metadata.model,
                model_file=str(engine.model_file),
                engine=settings.engine,
                providers=list(engine.providers),
                input_size=(int(metadata.input_size[0]), int(metadata.input_size[1])),
                class_names=scenario.classes.names,
                colors_rgb=scenario.classes.colors_rgb,
            )
        )

    def stop(self) -> None:
        """Unsubscribe, let the current frame finish and join the thread (idempotent).

        A frame still waiting in the mailbox is counted as dropped.
        """
        if self.subscription is not None:
            self.core.node.destroy_subscription(self.subscription)
            self.subscription = None
        if self.info_subscription is not None:
            self.core.node.destroy_subscription(self.info_subscription)
            self.info_subscription = None
        if self.mailbox.close():
            self.stats.on_dropped()
        if self.thread is not None:
            if self.thread is not threading.current_thread():
                self.thread.join()
            self.thread = None

    def destroy(self) -> None:
        """Stop and destroy the publishers."""
        self.stop()
        for publisher in self.publishers:
            self.core.destroy_publisher(publisher)
        self.publishers = ()

    def check_input(self, *, seconds_since_start: float, stale_timeout_s: float) -> str | None:
        """Warn (throttled) with the likely cause when no frame came since start or for ``stale_timeout_s``.

        Returns:
            The warning when one was logged, else None.
        """
        if self.subscription is None:
            return None
        idle = self.stats.snapshot().seconds_since_frame
        if (idle if idle is not None else seconds_since_start) <= stale_timeout_s:
            return None
        if self._silent_warnings.allow(self.camera.name) is None:
            return None
        node, topic = self.core.node, self.topic
        sibling = (
            topic[: -len(COMPRESSED_SUFFIX)]
            if topic.endswith(COMPRESSED_SUFFIX)
            else topic + COMPRESSED_SUFFIX
        )
        publishers = {
            name: [
                PublisherInfo(
                    node=info.node_name,
                    topic_type=info.topic_type,
                    reliability=str(getattr(info.qos_profile.reliability, "name", "")).lower(),
                )
                for info in node.get_publishers_info_by_topic(name)
            ]
            for name in (topic, sibling)
        }
        image_topics = [
            name
            for name, types in node.get_topic_names_and_types()
            if IMAGE_TYPE in types or COMPRESSED_TYPE in types
        ]
        reliability = str(getattr(self.core.input_qos.reliability, "name", "")).lower()
        message = diagnose_silent_input(
            camera=self.camera.name,
            topic=topic,
            transport=self.camera.transport,
            subscription_reliability=reliability,
            publishers=publishers,
            image_topics=image_topics,
            idle_s=idle,
            domain_id=str(node.context.get_domain_id()),
        )
        node.get_logger().warning(message)
        return message

    def _on_camera_info(self, msg: Any) -> None:
        """The first CameraInfo plus the mounting parameter calibrates the camera (markers, lanes)."""
        if self.projection.homography is not None:
            return
        logger = self.core.node.get_logger()
        try:
            projection = camera_info_projection(
                msg, self.camera.mounting, self.projection, rectified=self.camera.rectified
            )
        except SegPerceptionError as err:
            if self._faults.first(("camera_info", type(err).__name__)):
                logger.warning(
                    f"camera '{self.camera.name}': cannot use {self.camera.camera_info_topic}: {err}"
                )
            return
        self.projection = projection
        self.pipeline.set_ground(projection.ground_mapper())
        lens = "rectified" if self.camera.rectified else msg.distortion_model or "no"
        logger.info(
            f"camera '{self.camera.name}': ground projection from {self.camera.camera_info_topic} "
            f"({msg.width}x{msg.height}, {lens} lens model) and mounting {list(self.camera.mounting)}"
        )

    def _on_message(self, serialized: bytes) -> None:
        # The arrival time goes with the frame: under sim time it is where latency is measured from.
        if not self._large_frame_warned and self.size_limit is not None:
            self._check_frame_bytes(len(serialized))
        self.stats.on_received(dropped=self.mailbox.put((serialized, time.perf_counter())))

    def _check_frame_bytes(self, size: int) -> None:
        """Warn once when frames come near what the transport delivers (larger ones vanish unseen)."""
        limit = self.size_limit
        if limit is None or size < limit.warn_bytes:
            return
        self._large_frame_warned = True
        self.core.node.get_logger().warning(
            f"camera '{self.camera.name}': frames of {size / 2**20:.1f} MiB on {self.topic} are near the "
            f"transport's limit ({limit.source}): larger or faster frames are lost before they reach "
            f"this node, unseen by its counters. Fix: {limit.advice}; see docs/reliability.md"
        )

    def _run(self) -> None:
        mailbox = self.mailbox
        while not mailbox.closed:
            item = mailbox.take(WORKER_POLL_S)
            if item is not None:
                serialized, arrived = item
                msg = self._deserialize(serialized)
                if msg is not None:
                    self.process(msg, arrived=arrived)

    def _deserialize(self, serialized: bytes) -> Any:
        """The message of a raw frame, or None (counted as ``rejected.undecodable_message``)."""
        try:
            return deserialize_message(serialized, self.message_type)
        except Exception as err:  # a malformed payload must not kill the camera
            self._reject("undecodable_message", f"{type(err).__name__}: {err}")
            return None

    def process(self, msg: Any, *, arrived: float | None = None) -> None:
        """Convert, segment and publish one message; every failure is counted, none escapes.

        Args:
            arrived: ``time.perf_counter()`` when the message reached the node (default: now).
                Latency is measured from the input stamp on the node clock, except under sim
                time (stamps and /clock from a bag), where it is measured from the arrival.
        """
        with self._frame_lock:
            self._process(msg, arrived=arrived)

    def _process(self, msg: Any, *, arrived: float | None = None) -> None:
        start = time.perf_counter()
        arrived = start if arrived is None else arrived
        image = self._convert(msg)
        if image is None:
            return
        self._restart_tracking_on_a_jump(msg.header.stamp)
        # once per frame size: a bird's-eye camera's frames not the size its metres_per_pixel is for
        if (note := self.pipeline.new_ground_geometry_note(image.shape[:2])) is not None:
            self.core.node.get_logger().warning(note)
        converted = time.perf_counter()
        self.core.check_frame_size(len(msg.data))
        segmentation = self._run_stage(self.pipeline.segment, image)
        if segmentation is None:
            return
        segmented = time.perf_counter()
        stages: dict[str, float] = {}
        try:
            header = self._output_header(msg.header)
            if self._announced is not self.pipeline:
                self._announce(header)
            # the mask first: planners wait for it, not for the geometry or the pictures
            mask = segmentation.mask
            mask_msg, mask_pixels = self._image_message("mask", header, mask.shape[:2], "mono8")
            np.copyto(mask_pixels, mask)  # the one copy of the mask into a message
            self.mask_pub.publish(mask_msg)
            mask_sent = time.perf_counter()
            # decided once, before the post-processing: it traces polygons only for a frame that draws
            # them (subscriber counts fail like a publish when the context shuts down under us)
            overlay, markers = self._pictures_due()
            cloud = self.polygons_pub is not None and self.polygons_pub.get_subscription_count() > 0
        except Exception as err:  # e.g. the context is shutting down under us
            self._publish_failed(err)
            return
        postprocess = partial(self.pipeline.postprocess, polygons=markers or cloud)
        result = self._run_stage(postprocess, segmentation)
        if result is None:
            return
        self._recovered()
        if result.scene_cut:
            self._on_scene_cut()
        processed = time.perf_counter()
        try:
            self._publish(header, image, result, stages, overlay=overlay, markers=markers, cloud=cloud)
            end = time.perf_counter()
            processing_ms = (end - start) * 1e3
            self.time_pub.publish(Float32(data=float(processing_ms)))
        except Exception as err:
            self._publish_failed(err)
            return
        stages |= {k: v for k, v in result.timings_ms.items() if k != "total"}
        stages |= {
            "conversion": (converted - start) * 1e3,
            "pipeline": (segmented - converted + processed - mask_sent) * 1e3,
            "publish_mask": (mask_sent - segmented) * 1e3,
            "publish": (mask_sent - segmented + end - processed) * 1e3,
            "mask_ready": (mask_sent - start) * 1e3,
        }
        latency_ms, mismatch = self._latency(msg.header.stamp, arrived=arrived, end=end)
        self.stats.on_processed(
            latency_ms=latency_ms,
            processing_ms=processing_ms,
            stages_ms=stages,
            clock_mismatch=mismatch,
            perception=self._perception(result),
        )

    def _latency(self, stamp: Time, *, arrived: float, end: float) -> tuple[float | None, str | None]:
        """``(latency ms or None, why the stamp does not fit the clock or None)`` of a frame sent at ``end``.

        From the input stamp on the node clock, warning when the two clocks disagree; under sim time
        (stamps and /clock from a bag) from the frame's arrival.
        """
        if self.core.sim_time_active():
            return (end - arrived) * 1e3, None
        latency_ms = self.core.latency_ms(stamp)
        mismatch = self.core.clock_mismatch(latency_ms)
        if mismatch is not None:
            self._warn_clock_mismatch(mismatch)
        return latency_ms, mismatch

    def _restart_tracking_on_a_jump(self, stamp: Time) -> None:
        """Forget tracked lanes and slots when the input stamps go back (a bag played again) or pause
        for longer than ``tracking_gap_s``: what was tracked no longer says where things are now."""
        jump = self._stamp_gap.jump(int(stamp.sec) * 10**9 + int(stamp.nanosec))
        if jump is None:
            return
        self.pipeline.reset_tracking()
        self.tracking_restarts += 1
        self.core.node.get_logger().info(
            f"camera '{self.camera.name}': input stamps {jump}: lane and slot tracking start afresh"
        )

    def _on_scene_cut(self) -> None:
        """Count a frame the pipeline found unrelated to the last one, and say so (throttled: a folder
        of stills published as a stream cuts on every picture)."""
        self.scene_cuts += 1
        if self._warnings.allow("scene_cut") is None:
            return
        settings = self.pipeline.scene_cut_settings
        below = f" below {settings.min_detail_correlation:g}" if settings is not None else ""
        self.core.node.get_logger().info(
            f"camera '{self.camera.name}': a frame does not continue the last one (detail correlation"
            f"{below}; the scenario's scene_cut block): lane and slot tracking start afresh "
            f"({self.scene_cuts} such frames so far)"
        )

    def _perception(self, result: FrameResult) -> PerceptionSample:
        """What ``result`` found, for the diagnostics."""
        lanes = result.lanes
        return PerceptionSample(
            ego_lane=None if lanes is None else lanes.ego_lane is not None,
            boundaries=0 if lanes is None else len(lanes.boundaries),
            slots=None if self.pipeline.slot_method == "none" else len(result.slots),
            marking_points=len(result.marking_points),
        )

    def _warn_clock_mismatch(self, detail: str) -> None:
        suppressed = self._warnings.allow("clock_mismatch")
        if suppressed is not None:
            more = f" ({suppressed} more since the last warning)" if suppressed else ""
            self.core.node.get_logger().warning(
                f"camera '{self.camera.name}': frame stamp does not fit the node clock: {detail}{more}; "
                "processed, counted in diagnostics as clock_mismatch and kept out of the latency statistics"
            )

    def _convert(self, msg: Any) -> Any:
        try:
            image = self.convert(msg, max_pixels=self.settings.max_image_pixels)
        except ImageConversionError as err:
            self._reject(err.reason, str(err))
            return None
        except Exception as err:  # a converter bug must not kill the camera
            self._reject("conversion_error", f"{type(err).__name__}: {err}")
            return None
        size = (int(image.shape[0]), int(image.shape[1]))
        previous = self.stats.on_frame_size(size)
        if previous is not None and self._warnings.allow("size_change") is not None:
            self.core.node.get_logger().info(
                f"camera '{self.camera.name}': frame size changed from {previous[1]}x{previous[0]} to "
                f"{size[1]}x{size[0]}; processing at the new size (polygons are in the new pixel frame)"
            )
        return image

    def _reject(self, reason: str, detail: str) -> None:
        suppressed = self._warnings.allow(("rejected", reason))
        if suppressed is not None:
            more = f" ({suppressed} more since the last warning)" if suppressed else ""
            self.core.node.get_logger().warning(
                f"camera '{self.camera.name}': rejected frame on {self.topic}: {detail}{more}; "
                f"counted in diagnostics as rejected.{reason}"
            )
        self.stats.on_rejected(reason)  # counted last: a frame accounted for is also logged

    def _run_stage(self, stage: Callable[[Any], _Result], argument: Any) -> _Result | None:
        """``stage(argument)`` (the pipeline's segmentation or post-processing); an exception is an
        engine error: logged once per type, counted, None returned."""
        try:
            result = stage(argument)
        except Exception as err:
            self._consecutive_failures += 1
            self._log_fault_once("inference", err)
            self.stats.on_engine_error(f"{type(err).__name__}: {err}")
            return None
        return result

    def _recovered(self) -> None:
        if self._consecutive_failures:
            self.core.node.get_logger().info(
                f"camera '{self.camera.name}': inference recovered after "
                f"{self._consecutive_failures} failed frame(s)"
            )
            self._consecutive_failures = 0

    def _publish_failed(self, err: Exception) -> None:
        if rclpy.ok(context=self.core.node.context):
            self._log_fault_once("publish", err)
        self.stats.on_publish_error()

    def _log_fault_once(self, stage: str, err: Exception) -> None:
        kind = type(err).__name__
        if self._faults.first((stage, kind)):
            self.core.node.get_logger().error(
                f"camera '{self.camera.name}': {stage} failed with {kind}: {err}. The frame is skipped and "
                f"the next one processed; further {kind} errors are only counted in diagnostics"
            )

    def _output_header(self, header: Header) -> Header:
        frame_id = output_frame_id(self.camera.frame_id, header.frame_id)
        return header if frame_id == header.frame_id else Header(stamp=header.stamp, frame_id=frame_id)

    def _publish(
        self,
        header: Header,
        image: Any,
        result: FrameResult,
        stages_ms: dict[str, float],
        *,
        overlay: bool,
        markers: bool,
        cloud: bool,
    ) -> None:
        """Everything but the mask: lanes and slots while someone subscribes; the polygon ``cloud``,
        ``overlay`` and ``markers`` where asked (:meth:`_pictures_due`, decided before the post-processing).

        A message published without a matched subscriber reaches nobody, so building it
        is pure overhead (the overlay, the marker points and their conversion to C cost
        more than the polygon extraction itself). The time of each output built goes to
        ``stages_ms`` as ``publish_<output>`` (build, serialisation and hand-over to DDS).
        """
        style = self.style
        if style.line_width != self.core.marker_scale:
            style = self.style = dataclasses.replace(style, line_width=self.core.marker_scale)
        messages = FrameMessages(style, self.projection)
        clock = time.perf_counter
        if result.lanes is not None and self.lanes_pub.get_subscription_count() > 0:
            begin = clock()
            self.lanes_pub.publish(messages.lanes(header, result))
            stages_ms["publish_lanes"] = (clock() - begin) * 1e3
        if self.slots_pub.get_subscription_count() > 0:
            begin = clock()
            self.slots_pub.publish(messages.slots(header, result))
            stages_ms["publish_slots"] = (clock() - begin) * 1e3
        if cloud and self.polygons_pub is not None:
            begin = clock()
            self.polygons_pub.publish(messages.cloud(header, result))
            stages_ms["publish_polygons"] = (clock() - begin) * 1e3
        if overlay:
            begin = clock()
            overlay_msg, pixels = self._image_message("overlay", header, result.mask.shape[:2], "bgr8")
            self.pipeline.overlay(
                image, result.mask, self.core.overlay_alpha, out=pixels, lanes=result.lanes
            )  # drawn straight into the message: no extra copy
            self.overlay_pub.publish(overlay_msg)
            stages_ms["publish_overlay"] = (clock() - begin) * 1e3
        if markers:
            begin = clock()
            self.markers_pub.publish(messages.markers(header, result))
            stages_ms["publish_markers"] = (clock() - begin) * 1e3

    def _image_message(
        self, output: str, header: Header, size: tuple[int, int], encoding: str
    ) -> tuple[Image, np.ndarray]:
        """This camera's ``output`` image message and a writable view of its pixels, reused frame after
        frame while the size stays (``publish`` converts the message synchronously, so its buffer is
        free again when it returns): no frame-sized allocation per frame."""
        cached = self._messages.get(output)
        if cached is None or cached[0] != size:
            msg, pixels = image_msg_with_buffer(header, size[0], size[1], encoding)
            self._messages[output] = (size, msg, pixels)
            return msg, pixels
        _, msg, pixels = cached
        msg.header = header
        return msg, pixels

    def _pictures_due(self) -> tuple[bool, bool]:
        """Whether this frame's overlay and markers go out: subscribed and due (visualization_rate_hz)."""
        overlay = self.overlay_pub.get_subscription_count() > 0
        markers = self.markers_pub.get_subscription_count() > 0
        if (overlay or markers) and self._visualization_due():
            return overlay, markers
        return False, False

    def _visualization_due(self) -> bool:
        """True when overlay and markers may go out now (``visualization_rate_hz``; 0: every frame)."""
        rate = self.core.visualization_rate_hz
        now = time.monotonic()
        if rate > 0 and self._last_visualization is not None and now - self._last_visualization < 1.0 / rate:
            return False
        self._last_visualization = now
        return True
