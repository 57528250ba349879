"""``seg-perception soak``: flood the node's cameras for a long time and watch its memory.

Per stream (scenario, camera, frame size) it starts a segmentation node process and
a flooding camera process (:mod:`seg_perception.tools.flood_camera`) in a private
localhost ROS domain, samples the node's resident memory every ``--sample-s``
seconds, and at the end prints, per stream: RSS at warm-up end, peak and final, the
slope after warm-up (least squares, MB/s), frames sent / received / processed /
dropped / rejected / failed from ``/diagnostics`` and mask latency percentiles.

Examples:
    seg-perception soak --seconds 600 --rate 300                     # 10 min, both cameras, SHM
    seg-perception soak --seconds 600 --rate 300 --no-shm-profile    # Fast DDS default transports
    seg-perception soak --stream parking:avm:640x640 --seconds 60

A bounded memory shows as a slope near zero after warm-up; the CSV of the samples
and a JSON summary go to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seg_perception.bench.streams import DEFAULT_STREAMS, Stream
from seg_perception.errors import SegPerceptionError
from seg_perception.tools.demo import resolve_model
from seg_perception.tools.processes import ManagedProcess, ros_environment, shipped_profile

MIB = 2**20
NODE_START_S = 8.0  # model load and first DDS discovery before flooding starts
FLOOD_GRACE_S = 30.0  # the flooder's own start and report, beyond --seconds


class SoakError(SegPerceptionError):
    """A process died or a stream specification is invalid."""


def rss_bytes(pid: int) -> tuple[int, int]:
    """(anonymous, total) resident bytes of ``pid`` from ``/proc/<pid>/status``."""
    values: dict[str, int] = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            key, _, rest = line.partition(":")
            if key in ("RssAnon", "VmRSS"):
                values[key] = int(rest.split()[0]) * 1024
    return values.get("RssAnon", 0), values.get("VmRSS", 0)


def slope_mb_per_s(times_s: np.ndarray, values_bytes: np.ndarray) -> float:
    """Least-squares slope of ``values`` over ``times`` in MB/s (0 with fewer than two samples)."""
    if times_s.size < 2 or np.ptp(times_s) == 0:
        return 0.0
    slope, _ = np.polyfit(times_s, values_bytes / MIB, 1)
    return float(slope)


@dataclass
class _Run:
    stream: Stream
    node: ManagedProcess
    flooder: ManagedProcess | None
    report_path: Path
    samples: list[tuple[float, int, int]]


def _node_command(stream: Stream, extra: list[str]) -> list[str]:
    params = {
        "scenario": stream.scenario,
        "model_file": str(resolve_model(stream.scenario, None, "cpu")),  # the soak runs the node on CPU
        "cameras": f"[{stream.camera}]",
    }
    command = [sys.executable, "-m", "seg_perception.ros.node", "--ros-args"]
    for key, value in params.items():
        command += ["-p", f"{key}:={value}"]
    for item in extra:
        command += ["-p", item]
    return command


def _flood_command(stream: Stream, args: argparse.Namespace, report: Path) -> list[str]:
    height, width = stream.size
    return [
        sys.executable, "-m", "seg_perception.tools.flood_camera",
        "--scenario", stream.scenario, "--camera", stream.camera, "--size", f"{height}x{width}",
        "--rate", str(args.rate), "--seconds", str(args.seconds), "--report", str(report),
    ]  # fmt: skip


def summarize(run: _Run, warmup_s: float) -> dict[str, Any]:
    """Memory figures of one run's samples plus the flooder's report."""
    samples = np.asarray(run.samples, dtype=np.float64).reshape(-1, 3)
    times, anon, total = samples[:, 0], samples[:, 1], samples[:, 2]
    after = times >= warmup_s
    report = json.loads(run.report_path.read_text()) if run.report_path.is_file() else {}
    diagnostics = report.get("diagnostics", {})
    counts = {
        key: int(diagnostics[f"frames_{key}"])
        for key in ("received", "processed", "dropped", "rejected", "failed")
        if f"frames_{key}" in diagnostics
    }
    return {
        "stream": f"{run.stream.scenario}:{run.stream.camera}:{run.stream.size[0]}x{run.stream.size[1]}",
        "samples": int(times.size),
        "rss_anon_mb": {
            "start": round(anon[0] / MIB, 1) if anon.size else None,
            "warm": round(anon[after][0] / MIB, 1) if after.any() else None,
            "peak": round(anon.max() / MIB, 1) if anon.size else None,
            "end": round(anon[-1] / MIB, 1) if anon.size else None,
            "slope_mb_per_s": round(slope_mb_per_s(times[after], anon[after]), 4),
        },
        "rss_total_mb": {
            "peak": round(total.max() / MIB, 1) if total.size else None,
            "slope_mb_per_s": round(slope_mb_per_s(times[after], total[after]), 4),
        },
        "sent": report.get("sent"),
        "frames": counts,
        "accounting_exact": bool(report.get("accounting_exact")),  # the flooder's last status, settled
        "mask_latency_ms": report.get("mask_latency_ms", {}),
        "outputs_received": report.get("received", {}),
    }


def run_soak(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Start every stream, sample memory until the flooders end, stop everything, summarize.

    Raises:
        SoakError: a node or flooder exited early.
    """
    profile = None if args.no_shm_profile else shipped_profile()
    env = ros_environment(profile=profile, domain_id=args.domain_id)
    if profile is None:
        env.pop("FASTDDS_DEFAULT_PROFILES_FILE", None)
    args.out.mkdir(parents=True, exist_ok=True)
    runs = []
    for stream in args.stream:
        tag = f"{stream.scenario}_{stream.camera}"
        node = ManagedProcess(
            f"node {tag}",
            _node_command(stream, args.node_param),
            log_path=args.out / f"{tag}_node.log",
            env=env,
        )
        runs.append(_Run(stream, node, None, args.out / f"{tag}_flood.json", []))
    try:
        time.sleep(NODE_START_S)
        for run in runs:
            if run.node.exited() is not None:
                raise SoakError(f"{run.node.name} exited with {run.node.exited()}:\n{run.node.log_tail()}")
            tag = f"{run.stream.scenario}_{run.stream.camera}"
            run.flooder = ManagedProcess(
                f"flood {tag}", _flood_command(run.stream, args, run.report_path),
                log_path=args.out / f"{tag}_flood.log", env=env,
            )  # fmt: skip
        start = time.monotonic()
        next_print = start
        while any(run.flooder is not None and run.flooder.exited() is None for run in runs):
            elapsed = time.monotonic() - start
            if elapsed > args.seconds + FLOOD_GRACE_S:
                break
            for run in runs:
                if run.node.exited() is not None:
                    raise SoakError(
                        f"{run.node.name} exited with {run.node.exited()}:\n{run.node.log_tail()}"
                    )
                anon, total = rss_bytes(run.node.process.pid)
                run.samples.append((elapsed, anon, total))
            if time.monotonic() >= next_print:
                next_print += args.print_every
                line = "  ".join(f"{r.stream.camera} {r.samples[-1][1] / MIB:.0f} MB" for r in runs)
                print(f"t={elapsed:6.0f} s  node RSS (anon): {line}", flush=True)
            time.sleep(args.sample_s)
    finally:
        for run in runs:
            if run.flooder is not None:
                run.flooder.stop()
            run.node.stop()
    results = [summarize(run, args.warmup) for run in runs]
    for run in runs:
        csv = args.out / f"{run.stream.scenario}_{run.stream.camera}_rss.csv"
        rows = [f"{t:.2f},{a},{b}" for t, a, b in run.samples]
        csv.write_text("seconds,rss_anon_bytes,rss_bytes\n" + "\n".join(rows) + "\n")
    summary = {
        "seconds": args.seconds,
        "rate_hz": args.rate,
        "warmup_s": args.warmup,
        "shm_profile": profile is not None,
        "streams": results,
    }
    (args.out / "soak.json").write_text(json.dumps(summary, indent=2))
    return results


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stream",
        type=Stream.parse,
        action="append",
        metavar="SCENARIO:CAMERA:HxW",
        help="a flooded camera, repeatable (default: highway:front:540x960 and "
        "parking:avm:640x640, one node each)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="flood duration (default 60)")
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="frames per second per camera (default 300, about 10x the CPU processing rate)",
    )
    parser.add_argument(
        "--warmup", type=float, default=30.0, help="seconds excluded from the slope (default 30)"
    )
    parser.add_argument("--sample-s", type=float, default=1.0, help="RSS sampling period (default 1)")
    parser.add_argument("--print-every", type=float, default=30.0, help="progress line period (default 30)")
    parser.add_argument(
        "--no-shm-profile",
        action="store_true",
        help="Fast DDS default transports instead of the shipped shared-memory profile",
    )
    parser.add_argument(
        "--node-param",
        action="append",
        default=[],
        metavar="NAME:=VALUE",
        help="extra node parameter, repeatable",
    )
    parser.add_argument("--domain-id", type=int, default=None, help="ROS domain (default: private, 101..200)")
    parser.add_argument("--out", type=Path, default=Path("out/soak"), help="output folder (default out/soak)")


def run(args: argparse.Namespace) -> int:
    if args.seconds <= 0 or args.rate <= 0 or args.sample_s <= 0 or args.warmup < 0:
        raise SoakError("--seconds, --rate and --sample-s must be > 0 and --warmup >= 0")
    args.stream = args.stream or list(DEFAULT_STREAMS)
    if args.domain_id is None:
        args.domain_id = 101 + os.getpid() % 100
    results = run_soak(args)
    print(
        f"{'stream':28} {'warm':>7} {'peak':>7} {'end':>7} {'slope MB/s':>10} {'recv':>7} {'proc':>6} "
        f"{'drop':>7} {'rej':>4} {'fail':>4} {'exact':>5} {'p50':>7} {'p99':>7}"
    )
    for r in results:
        mem, frames, lat = r["rss_anon_mb"], r["frames"], r["mask_latency_ms"]
        print(
            f"{r['stream']:28} {mem['warm']!s:>7} {mem['peak']!s:>7} {mem['end']!s:>7} "
            f"{mem['slope_mb_per_s']:>10.4f} {frames.get('received', '-')!s:>7} "
            f"{frames.get('processed', '-')!s:>6} {frames.get('dropped', '-')!s:>7} "
            f"{frames.get('rejected', '-')!s:>4} {frames.get('failed', '-')!s:>4} "
            f"{r['accounting_exact']!s:>5} {lat.get('p50', '-')!s:>7} {lat.get('p99', '-')!s:>7}"
        )
    print(f"report: {args.out / 'soak.json'}")
    return 0
