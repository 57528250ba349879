"""The managed (lifecycle) variant of the segmentation node.

Same parameters, topics and per-camera machinery as
:class:`~seg_perception.ros.node.SegmentationNode` (both drive one
:class:`~seg_perception.ros.core.SegmentationCore`), with the work spread over the
standard transitions:

- ``configure``: validate parameters, load and warm up the model, create the
  (lifecycle) publishers. A failure is logged with its reason and the transition
  returns FAILURE: the node stays unconfigured and can be configured again.
- ``activate``: subscribe, start the camera workers and diagnostics; publishers publish.
  A failure is logged with its reason and the transition returns FAILURE (inactive).
- ``deactivate``: unsubscribe and stop processing after the current frame.
- ``cleanup``: destroy the publishers and release the engine (``engine.close()``).
- ``shutdown`` (from any state) and error processing: everything above, in order.

Drive it with ``ros2 lifecycle set /segmentation_node configure`` then ``activate``,
or set the parameter ``autostart:=true`` to configure and activate at start (a
failed autostart ends the process with exit code 1, like the plain node).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node

from seg_perception.errors import SegPerceptionError
from seg_perception.ros.camera_worker import CameraWorker
from seg_perception.ros.core import EngineFactory, SegmentationCore
from seg_perception.ros.errors import NodeStartError
from seg_perception.ros.node import NODE_NAME
from seg_perception.ros.runner import one_line, run_node


class LifecycleSegmentationNode(LifecycleNode):
    """A managed segmentation node (see module docstring)."""

    def __init__(
        self, *, node_name: str = NODE_NAME, engine_factory: EngineFactory | None = None, **node_options: Any
    ) -> None:
        """Create the node unconfigured; only ``autostart`` is read now.

        Args:
            node_name: ROS node name.
            engine_factory: Builds the engine from the settings (default
                :func:`~seg_perception.ros.core.default_engine_factory`).
            **node_options: ``rclpy.node.Node`` keyword arguments.
        """
        super().__init__(node_name, **node_options)
        self.autostart = bool(
            self.declare_parameter(
                "autostart",
                False,
                ParameterDescriptor(description="configure and activate at start", read_only=True),
            ).value
        )
        self.core = SegmentationCore(self, engine_factory=engine_factory)

    @property
    def workers(self) -> tuple[CameraWorker, ...]:
        return self.core.workers

    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.core.configure()
        except SegPerceptionError as err:
            self.get_logger().error(f"configure failed: {err}")
            return TransitionCallbackReturn.FAILURE
        except Exception as err:  # an unexpected error must not take the process down
            self.get_logger().error(f"configure failed with {type(err).__name__}: {one_line(err)}")
            return TransitionCallbackReturn.FAILURE
        self.get_logger().info("configured; activate to start processing")
        return super().on_configure(state)

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        result = super().on_activate(state)  # enables the lifecycle publishers
        try:
            self.core.activate()
        except Exception as err:  # e.g. a subscription rclpy refuses: stay inactive, say why
            self.get_logger().error(f"activate failed: {one_line(err)}")
            self.core.deactivate()
            super().on_deactivate(state)
            return TransitionCallbackReturn.FAILURE
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.core.deactivate()
        except Exception as err:
            self.get_logger().error(f"deactivate failed: {one_line(err)}")
            return TransitionCallbackReturn.ERROR
        self.get_logger().info("deactivated: not processing")
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            self.core.cleanup()
        except Exception as err:
            self.get_logger().error(f"cleanup failed: {one_line(err)}")
            return TransitionCallbackReturn.ERROR
        self.get_logger().info("cleaned up: engine released")
        return TransitionCallbackReturn.SUCCESS

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.core.shutdown()
        return TransitionCallbackReturn.SUCCESS

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        self.get_logger().error(f"error while in state {state.label!r}: releasing everything")
        self.core.shutdown()
        return TransitionCallbackReturn.SUCCESS

    def start(self) -> None:
        """Configure and activate when ``autostart`` is set.

        Raises:
            NodeStartError: a transition failed (its reason is already logged).
        """
        if not self.autostart:
            self.get_logger().info(
                f"unconfigured; run 'ros2 lifecycle set {self.get_fully_qualified_name()} configure' "
                "then 'activate' (or start with -p autostart:=true)"
            )
            return
        for name, trigger in (("configure", self.trigger_configure), ("activate", self.trigger_activate)):
            if trigger() != TransitionCallbackReturn.SUCCESS:
                raise NodeStartError(f"autostart: transition '{name}' failed (reason logged above)")

    def shutdown(self) -> None:
        """Release everything without a transition (process exit; idempotent)."""
        self.core.shutdown()


def _start(node: Node) -> None:
    assert isinstance(node, LifecycleSegmentationNode)
    node.start()


def main(args: Sequence[str] | None = None) -> int:
    """Entry point of ``ros2 run seg_perception lifecycle_segmentation_node``; returns the exit code."""
    return run_node(LifecycleSegmentationNode, logger_name=NODE_NAME, args=args, start=_start)


if __name__ == "__main__":
    sys.exit(main())
