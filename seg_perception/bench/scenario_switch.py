"""Whole car under a 30 Hz stream, with a scenario switch: what one node delivers per camera.

``python -m seg_perception.bench.scenario_switch [--seconds 8] [--rate 30] [--switch-at 4] [--to road]``

Starts the drive node (``config/drive.yaml``: front with the highway lane model, AVM with
the parking model) in its own process, on a private localhost ROS domain with the shipped
Fast DDS shared-memory profile, streams synthetic front (960x540) and AVM (640x640) frames
at ``--rate`` from this process, and at ``--switch-at`` seconds sets ``front.scenario`` through
the node's parameter service (as ``ros2 param set`` does). It prints, per camera: frames
sent, masks received, masks missing (and how many of them within half a second of the
switch), output fps and latency percentiles (mask reception minus input stamp, system clock),
plus how long the switch request took and the node's log line about it.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import Any

from seg_perception.config import load_scenario, share_dir
from seg_perception.metrics.latency import summarize_latencies
from seg_perception.tools.processes import (
    ManagedProcess,
    ros_environment,
    shipped_profile,
    temporary_environment,
)

NODE = "segmentation_node"
CAMERAS = {"front": "highway", "avm": "parking"}
DISTINCT_FRAMES = 30
SWITCH_WINDOW_S = 0.5


def _frames(scenario: str, camera: str, count: int, rate_hz: float) -> list[Any]:
    from std_msgs.msg import Header

    from seg_perception.data.synthetic import generate_drive
    from seg_perception.ros.image_conversion import bgr_to_msg

    config = load_scenario(scenario)
    size = config.image_size(camera)
    return [
        bgr_to_msg(sample.image, Header(frame_id=f"{camera}_camera"))
        for sample in generate_drive(config, 7, count, size=size, fps=rate_hz)
    ]


def _latency(values_ms: list[float]) -> dict[str, float | int]:
    """Latency statistics of the values (metrics.latency), to 0.1 ms; empty without values."""
    return summarize_latencies(values_ms).to_json(digits=1) if values_ms else {}


def run(args: argparse.Namespace) -> dict[str, Any]:
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from sensor_msgs.msg import Image

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    profile = shipped_profile()
    env = ros_environment(profile=profile, domain_id=args.domain_id)
    print(f"generating {DISTINCT_FRAMES} frames per camera ...", flush=True)
    frames = {
        camera: _frames(scenario, camera, DISTINCT_FRAMES, args.rate) for camera, scenario in CAMERAS.items()
    }
    command = [
        sys.executable,
        "-m",
        "seg_perception.ros.node",
        "--ros-args",
        "--params-file",
        str(share_dir() / "config" / "drive.yaml"),
    ]
    node_process = ManagedProcess("node", command, log_path=out / "node.log", env=env)
    context = Context()
    shared = {k: env[k] for k in ("RMW_IMPLEMENTATION", "ROS_AUTOMATIC_DISCOVERY_RANGE")}
    if profile is not None:
        shared["FASTDDS_DEFAULT_PROFILES_FILE"] = str(profile)
    with temporary_environment(shared):
        context.init(domain_id=args.domain_id)
    node = Node("switch_bench", context=context)
    reliable = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    publishers = {c: node.create_publisher(Image, f"/camera/{c}/image_raw", reliable) for c in CAMERAS}
    received: dict[str, list[tuple[int, int]]] = {c: [] for c in CAMERAS}  # (stamp ns, arrival ns)
    for camera in CAMERAS:
        node.create_subscription(
            Image,
            f"/{camera}/mask",
            lambda msg, c=camera: received[c].append(
                (msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec, time.time_ns())
            ),
            reliable,
        )
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    stop = threading.Event()

    def spin() -> None:
        while not stop.is_set():
            executor.spin_once(timeout_sec=0.05)

    spinner = threading.Thread(target=spin)
    spinner.start()
    sent: dict[str, list[int]] = {c: [] for c in CAMERAS}
    result: dict[str, Any] = {}
    try:
        deadline = time.monotonic() + args.startup_timeout
        while not all(
            p.get_subscription_count() >= 1 and node.count_publishers(f"/{c}/mask") >= 1
            for c, p in publishers.items()
        ):
            if node_process.exited() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the node did not come up; see {node_process.log_path}")
            time.sleep(0.1)
        client = AsyncParameterClient(node, NODE)
        client.wait_for_services(timeout_sec=args.startup_timeout)
        time.sleep(1.0)  # discovery of the mask subscriptions on the node's side
        print(
            f"streaming {args.seconds:g} s at {args.rate:g} Hz on front and avm; "
            f"front.scenario -> {args.to} at {args.switch_at:g} s",
            flush=True,
        )
        period = 1.0 / args.rate
        start = time.monotonic()
        future = None
        switch: dict[str, float] = {}
        index = 0
        while (now := time.monotonic()) - start < args.seconds:
            if future is None and now - start >= args.switch_at:
                switch["requested_ns"] = time.time_ns()
                future = client.set_parameters([Parameter("front.scenario", value=args.to)])
            if future is not None and "replied_ns" not in switch and future.done():
                switch["replied_ns"] = time.time_ns()
            stamp_ns = time.time_ns()
            for camera, publisher in publishers.items():
                msg = frames[camera][index % DISTINCT_FRAMES]
                msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp_ns, 10**9)
                publisher.publish(msg)
                sent[camera].append(stamp_ns)
            index += 1
            time.sleep(max(0.0, start + index * period - time.monotonic()))
        time.sleep(1.5)  # in-flight masks
        if future is not None and "replied_ns" not in switch and future.done():
            switch["replied_ns"] = time.time_ns()
        response = future.result() if future is not None and future.done() else None
        reply = response.results[0] if response is not None else None
        for camera in CAMERAS:
            stamps = {stamp for stamp, _ in received[camera]}
            missing = [s for s in sent[camera] if s not in stamps]
            near = [
                s
                for s in missing
                if ("requested_ns" in switch and abs(s - switch["requested_ns"]) <= SWITCH_WINDOW_S * 1e9)
                or ("replied_ns" in switch and abs(s - switch["replied_ns"]) <= SWITCH_WINDOW_S * 1e9)
            ]
            arrivals = sorted(arrival for _, arrival in received[camera])
            span_s = (arrivals[-1] - arrivals[0]) / 1e9 if len(arrivals) > 1 else 0.0
            result[camera] = {
                "scenario": CAMERAS[camera],
                "frames_sent": len(sent[camera]),
                "masks_received": len(stamps),
                "masks_missing": len(missing),
                "missing_near_switch": len(near),
                "output_fps": round((len(arrivals) - 1) / span_s, 2) if span_s else 0.0,
                "latency_ms": _latency([(a - s) / 1e6 for s, a in received[camera]]),
            }
        result["switch"] = {
            "to": args.to,
            "successful": bool(reply.successful) if reply is not None else None,
            "reason": reply.reason if reply is not None else "no reply",
            "request_to_reply_ms": round((switch["replied_ns"] - switch["requested_ns"]) / 1e6, 1)
            if "replied_ns" in switch
            else None,
        }
    finally:
        stop.set()
        spinner.join()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        context.try_shutdown()
        result["node_exit_code"] = node_process.stop()
    log = (out / "node.log").read_text(errors="replace")
    result["switch_log"] = [
        line for line in log.splitlines() if re.search(r"switched from|switch refused", line)
    ]
    (out / "switch_bench.json").write_text(json.dumps(result, indent=2))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=8.0, help="stream length (default 8)")
    parser.add_argument("--rate", type=float, default=30.0, help="frames per second per camera (default 30)")
    parser.add_argument("--switch-at", type=float, default=4.0, help="seconds into the stream (default 4)")
    parser.add_argument("--to", default="road", help="front camera's new scenario (default road)")
    parser.add_argument("--domain-id", type=int, default=90, help="private ROS domain (default 90)")
    parser.add_argument("--startup-timeout", type=float, default=90.0, help="seconds for the node to start")
    parser.add_argument("--out", type=Path, default=Path("out/switch_bench"), help="log and JSON folder")
    result = run(parser.parse_args(argv))
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
