"""The segmentation node: camera images in; mask, overlay, markers, polygons and diagnostics out.

Threading: each camera's subscription callback only stores the newest message in a
one-slot :class:`~seg_perception.ros.mailbox.LatestMailbox` (overwriting an
unprocessed one counts as a drop), and a worker thread per camera converts,
segments and publishes. The executor never waits for inference and memory is
bounded by one pending message per camera. The per-camera machinery lives in
:mod:`seg_perception.ros.core` and :mod:`seg_perception.ros.camera_worker`, shared
with the managed variant :mod:`seg_perception.ros.lifecycle_node`.

Outputs per camera, relative names under ``<camera>/`` (remappable), every one
stamped with the input header (``<camera>.frame_id`` overrides its frame):
``mask`` (mono8 class ids), ``overlay`` (bgr8, computed only while subscribed),
``markers`` (MarkerArray), ``lanes`` (``seg_perception/LaneBoundaryArray``), ``slots``
(``seg_perception/ParkingSlotArray``), ``segmentation_info`` (``seg_perception/SegmentationInfo``,
latched), ``processing_time_ms`` (Float32), and with ``publish_polygon_cloud`` ``polygons``
(PointCloud2, see :mod:`seg_perception.ros.polygon_cloud`); plus ``/diagnostics``
(DiagnosticArray, one status per camera).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from builtin_interfaces.msg import Time
from rclpy.node import Node

from seg_perception.ros.camera_worker import CameraWorker
from seg_perception.ros.core import EngineFactory, SegmentationCore, SerializedEngine
from seg_perception.ros.parameters import NodeSettings
from seg_perception.ros.runner import run_node

NODE_NAME = "segmentation_node"


class SegmentationNode(Node):
    """Segments every enabled camera's images with the scenario's model (see module docstring)."""

    def __init__(
        self, *, node_name: str = NODE_NAME, engine_factory: EngineFactory | None = None, **node_options: Any
    ) -> None:
        """Declare and validate parameters, load the engine and start one worker per camera.

        Args:
            node_name: ROS node name.
            engine_factory: Builds the engine from the settings (default
                :func:`~seg_perception.ros.core.default_engine_factory`).
            **node_options: ``rclpy.node.Node`` keyword arguments.

        Raises:
            SegPerceptionError: invalid parameter, missing or wrong model file, CUDA
                absent under ``cuda_policy: fail``. The node is destroyed first.
        """
        super().__init__(node_name, **node_options)
        self.core = SegmentationCore(self, engine_factory=engine_factory)
        try:
            self.core.configure()
            self.core.activate()
        except BaseException:
            self.core.shutdown()
            self.destroy_node()
            raise

    @property
    def settings(self) -> NodeSettings:
        assert self.core.settings is not None
        return self.core.settings

    @property
    def engine(self) -> SerializedEngine | None:
        return self.core.engine

    @property
    def workers(self) -> tuple[CameraWorker, ...]:
        return self.core.workers

    def latency_ms(self, stamp: Time) -> float | None:
        """Milliseconds from the input stamp to now (node clock); None for an unset stamp."""
        return self.core.latency_ms(stamp)

    def publish_diagnostics(self) -> None:
        """Publish one ``DiagnosticStatus`` per camera on ``/diagnostics``."""
        self.core.publish_diagnostics()

    def shutdown(self) -> None:
        """Stop and join the workers, then release the engine (idempotent)."""
        self.core.shutdown()


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run seg_perception segmentation_node``; returns the exit code."""
    return run_node(SegmentationNode, logger_name=NODE_NAME, args=args)


if __name__ == "__main__":
    sys.exit(main())
