"""Timing loops and memory readings for one engine."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from seg_perception.bench.stats import throughput_fps
from seg_perception.metrics.latency import LatencyStats, summarize_latencies

NVIDIA_SMI_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class LoopResult:
    """Timed calls of one function.

    Attributes:
        latencies_ms: Duration of every timed call.
        wall_s: Wall time of the timed calls together.
        stopped_early: The time budget ended the loop before ``iterations`` calls.
    """

    latencies_ms: tuple[float, ...]
    wall_s: float
    stopped_early: bool = False

    @property
    def fps(self) -> float:
        return throughput_fps(len(self.latencies_ms), self.wall_s)

    @property
    def latency(self) -> LatencyStats:
        return summarize_latencies(self.latencies_ms)

    def to_json(self) -> dict[str, Any]:
        return {
            "iterations": len(self.latencies_ms),
            "wall_s": self.wall_s,
            "fps": self.fps,
            "latency_ms": self.latency.to_json(),
            "stopped_early": self.stopped_early,
        }


def time_loop(
    call: Callable[[], Any],
    *,
    iterations: int,
    warmup: int,
    max_seconds: float | None = None,
    min_iterations: int = 3,
    clock: Callable[[], float] = time.perf_counter,
) -> LoopResult:
    """Call ``call`` ``warmup`` times untimed, then up to ``iterations`` times timed.

    Args:
        call: Must finish its work before returning (engines copy results to the host).
        iterations: Timed calls wanted.
        warmup: Untimed calls first (allocations, TensorRT builds, caches).
        max_seconds: Stop the timed calls after this long, once ``min_iterations`` ran,
            so a slow configuration (a big model on CPU) still finishes in seconds.
        min_iterations: Calls always timed, whatever the budget.
        clock: Seconds, monotonic (tests inject a fake one).
    """
    for _ in range(max(0, warmup)):
        call()
    latencies: list[float] = []
    start = clock()
    stopped_early = False
    for index in range(max(1, iterations)):
        before = clock()
        call()
        after = clock()
        latencies.append((after - before) * 1e3)
        out_of_time = max_seconds is not None and after - start >= max_seconds
        if out_of_time and index + 1 >= min_iterations and index + 1 < iterations:
            stopped_early = True
            break
    return LoopResult(tuple(latencies), clock() - start, stopped_early)


def random_frame(size: tuple[int, int], *, seed: int = 0) -> np.ndarray:
    """A (H, W, 3) uint8 noise frame: the networks' speed does not depend on content."""
    return np.random.default_rng(seed).integers(0, 256, size=(*size, 3), dtype=np.uint8)


def rss_mb() -> float | None:
    """Resident memory of this process in MiB (Linux ``/proc``; None elsewhere)."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def gpu_process_memory_mb(pid: int | None = None) -> float | None:
    """GPU memory used by a process according to ``nvidia-smi`` (MiB), or None when unknown."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return None
    pid = os.getpid() if pid is None else pid
    try:
        output = subprocess.run(
            [executable, "--query-compute-apps=pid,used_memory", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return parse_compute_apps(output).get(pid)


def parse_compute_apps(text: str) -> dict[int, float]:
    """``pid, used_memory`` CSV lines of nvidia-smi → {pid: MiB} (summed over GPUs)."""
    usage: dict[int, float] = {}
    for line in text.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            try:
                usage[int(parts[0])] = usage.get(int(parts[0]), 0.0) + float(parts[1])
            except ValueError:
                continue
    return usage


class TorchCudaMemory:
    """Peak ``torch.cuda.max_memory_allocated`` over a block (None where CUDA is absent)."""

    def __init__(self) -> None:
        self.peak_mb: float | None = None
        self._torch: Any = None
        try:
            import torch

            if torch.cuda.is_available():
                self._torch = torch
        except ImportError:
            self._torch = None

    def __enter__(self) -> TorchCudaMemory:
        if self._torch is not None:
            self._torch.cuda.synchronize()
            self._torch.cuda.reset_peak_memory_stats()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._torch is not None:
            self._torch.cuda.synchronize()
            self.peak_mb = self._torch.cuda.max_memory_allocated() / 2**20
