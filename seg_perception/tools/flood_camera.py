"""A camera stand-in for soak runs: floods one topic with real-size frames and watches the outputs.

Run by ``seg-perception soak`` (:mod:`seg_perception.bench.soak`) as its own process,
one per camera. It publishes a few distinct synthetic frames of the camera's scenario
in a loop at ``--rate`` Hz with sensor-data QoS, stamping each with the current time,
and subscribes to every topic under ``/<camera>/`` that the node offers (mask,
overlay, markers, geometry, ...) so the node builds all its outputs. Mask latency
(stamp to reception) and ``/diagnostics`` of the camera are written as JSON on exit.

Usage: python -m seg_perception.tools.flood_camera --scenario parking --camera avm
    --size 640x640 --rate 300 --seconds 600 --report out/soak/avm_flood.json
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image

from seg_perception.cli_args import add_size_argument
from seg_perception.data.synthetic import generate_drive
from seg_perception.metrics.latency import summarize_latencies
from seg_perception.ros.background_spin import BackgroundSpin

SETTLE_S = 2.5  # after the flood: last masks arrive, and a /diagnostics status (1 s period) of the idle node
# ...and until a status accounts for every frame (none still in the mailbox or the worker); a loaded
# machine once needed longer than SETTLE_S for the last two of 1937 frames
SETTLE_TIMEOUT_S = 30.0
ACCOUNTED = ("processed", "dropped", "rejected", "failed")
DISTINCT_FRAMES = 8  # enough for varied post-processing, little memory in the flooder
TOPIC_DISCOVERY_S = 1.0  # how often new output topics are looked for
LATENCY_KEEP = 100_000  # mask latencies kept for percentiles (bounded: the flooder must not grow either)


def _message_class(type_name: str) -> Any:
    """``pkg/msg/Name`` → the Python class (only message types, which is all topics carry)."""
    package, kind, name = type_name.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


class FloodCamera:
    """Publishes frames as fast as ``rate_hz`` allows and counts what comes back."""

    def __init__(self, context: Context, *, args: argparse.Namespace) -> None:
        self.node = rclpy.create_node("soak_flood_camera", context=context)
        self.camera = args.camera
        self.publisher = self.node.create_publisher(Image, args.topic, qos_profile_sensor_data)
        height, width = args.size
        self.frames = [
            self._image_msg(sample.image)
            for sample in generate_drive(args.scenario, args.seed, DISTINCT_FRAMES, size=(height, width))
        ]
        self.subscribed: dict[str, Any] = {}
        self.received: dict[str, int] = {}
        self.latencies_ms: list[float] = []
        self.diagnostics: dict[str, str] = {}
        self.sent = 0
        self._lock = threading.Lock()
        self.node.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 10)
        self.node.create_timer(TOPIC_DISCOVERY_S, self._subscribe_outputs)

    @staticmethod
    def _image_msg(bgr: np.ndarray) -> Image:
        height, width = bgr.shape[:2]
        msg = Image(height=height, width=width, encoding="bgr8", step=width * 3)
        msg.data = np.ascontiguousarray(bgr).tobytes()
        return msg

    def _subscribe_outputs(self) -> None:
        prefix = f"/{self.camera}/"
        for topic, types in self.node.get_topic_names_and_types():
            if not topic.startswith(prefix) or topic in self.subscribed or not types:
                continue
            callback = self._on_mask if topic == f"{prefix}mask" else self._counter(topic)
            # Reliable depth 1: the node's outputs are reliable; one kept message bounds our memory.
            self.subscribed[topic] = self.node.create_subscription(
                _message_class(types[0]), topic, callback, 1
            )

    def _counter(self, topic: str) -> Any:
        def count(_msg: Any) -> None:
            with self._lock:
                self.received[topic] = self.received.get(topic, 0) + 1

        return count

    def _on_mask(self, msg: Image) -> None:
        now = self.node.get_clock().now().nanoseconds
        stamp = msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec
        with self._lock:
            self.received[f"/{self.camera}/mask"] = self.received.get(f"/{self.camera}/mask", 0) + 1
            if len(self.latencies_ms) < LATENCY_KEEP:
                self.latencies_ms.append((now - stamp) / 1e6)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith(f": {self.camera}"):
                with self._lock:
                    self.diagnostics = {kv.key: kv.value for kv in status.values}

    def publish_next(self) -> None:
        msg = self.frames[self.sent % len(self.frames)]
        msg.header.stamp = self.node.get_clock().now().to_msg()
        self.publisher.publish(msg)
        self.sent += 1

    def settled(self) -> bool:
        """Whether the latest /diagnostics status accounts for every frame the node received."""
        with self._lock:
            values = dict(self.diagnostics)
        try:
            counts = {key: int(values[f"frames_{key}"]) for key in ("received", *ACCOUNTED)}
        except (KeyError, ValueError):
            return False
        return counts["received"] == sum(counts[key] for key in ACCOUNTED)

    def report(self) -> dict[str, Any]:
        accounting_exact = self.settled()
        with self._lock:
            latency = summarize_latencies(self.latencies_ms).to_json(digits=2) if self.latencies_ms else {}
            return {
                "sent": self.sent,
                "received": dict(self.received),
                "mask_latency_ms": latency,
                "diagnostics": dict(self.diagnostics),
                "accounting_exact": accounting_exact,
            }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seg_perception.tools.flood_camera", description=__doc__)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--camera", required=True, help="the node's camera name (its outputs' prefix)")
    parser.add_argument("--topic", help="image topic (default /camera/<camera>/image_raw)")
    add_size_argument(parser, "--size", "frame size", required=True)
    parser.add_argument("--rate", type=float, required=True, help="frames per second to publish")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--seed", type=int, default=200_000)
    parser.add_argument("--report", type=Path, required=True, help="JSON written at the end")
    args = parser.parse_args(argv)
    args.topic = args.topic or f"/camera/{args.camera}/image_raw"

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    context = Context()
    rclpy.init(context=context, signal_handler_options=rclpy.signals.SignalHandlerOptions.NO)
    camera = FloodCamera(context, args=args)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(camera.node)
    spinner = BackgroundSpin(executor, name="flood_spin")
    period = 1.0 / args.rate
    start = next_at = time.monotonic()
    while not stop.is_set() and time.monotonic() - start < args.seconds:
        camera.publish_next()
        next_at += period
        delay = next_at - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        else:
            next_at = time.monotonic()  # behind: publish at full speed, never in a burst
    stop.wait(SETTLE_S)
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while not stop.is_set() and not camera.settled() and time.monotonic() < deadline:
        stop.wait(0.1)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(json.dumps(camera.report(), indent=2))
    if spinner.stop():  # joined first: nothing may be destroyed under a wait in progress
        executor.shutdown(timeout_sec=1.0)
        camera.node.destroy_node()
    rclpy.try_shutdown(context=context)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
