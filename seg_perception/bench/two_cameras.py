"""Two cameras on one device: which way of sharing it gives the most frames, and at what latency.

Three policies, each free-running (both cameras always have a frame ready):

- ``serialized``: one engine, one thread per camera, a lock around each ``predict_masks``
  (the node's :class:`~seg_perception.ros.core.SerializedEngine`). The lock here is
  first-come-first-served, so neither free-running camera starves the other.
- ``parallel``: two engine instances (own ONNX Runtime session / CUDA stream each), one
  thread per camera, no lock.
- ``batched``: one engine, one thread, ``predict_masks_batch([front, avm])`` per tick.

A camera's frame latency runs from the moment its thread asks for the mask to the moment
it has it, so under ``serialized`` it includes waiting for the other camera, and under
``batched`` both cameras see the batch call's duration. Engines are injected (anything
with ``predict_masks`` / ``predict_masks_batch``), so the threading is testable without a model.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from seg_perception.bench.measure import random_frame, time_loop
from seg_perception.bench.stats import finite
from seg_perception.metrics.latency import summarize_latencies

SERIALIZED, PARALLEL, BATCHED = "serialized", "parallel", "batched"
POLICIES = (SERIALIZED, PARALLEL, BATCHED)
CAMERAS = ("front", "avm")
DEFAULT_TWO_CAMERA_SIZES = ((540, 960), (640, 640))
THREAD_JOIN_TIMEOUT_S = 3600.0  # a hung runtime must not hang the benchmark forever
Clock = Callable[[], float]


@dataclass(frozen=True)
class LoopBudget:
    """How long each policy runs (the ``time_loop`` settings of the rest of bench).

    Attributes:
        iterations: Timed frames per camera (timed batch calls for ``batched``).
        warmup: Untimed frames per camera first.
        max_seconds: Stop after this long once every camera has ``min_iterations`` frames.
        min_iterations: Frames per camera always timed, whatever the budget.
    """

    iterations: int
    warmup: int
    max_seconds: float | None = None
    min_iterations: int = 3


@dataclass(frozen=True)
class PolicyResult:
    """Timed frames of one policy.

    Attributes:
        policy: ``serialized``, ``parallel`` or ``batched``.
        engines: Engine instances the policy used.
        latencies_ms: Per camera, the latency of every timed frame.
        wall_s: Wall time from the common start to the last camera's last mask.
        stopped_early: The time budget ended the run before ``iterations`` frames.
    """

    policy: str
    engines: int
    latencies_ms: Mapping[str, tuple[float, ...]]
    wall_s: float
    stopped_early: bool = False

    @property
    def frames(self) -> dict[str, int]:
        return {camera: len(values) for camera, values in self.latencies_ms.items()}

    @property
    def pairs(self) -> float:
        """Frame pairs done: the cameras' frames together, over the number of cameras."""
        frames = self.frames
        return sum(frames.values()) / len(frames) if frames else 0.0

    @property
    def pairs_per_s(self) -> float:
        """Aggregate throughput in frame pairs per second of wall time (NaN without time or frames)."""
        return self.pairs / self.wall_s if self.pairs > 0 and self.wall_s > 0 else float("nan")

    def to_json(self) -> dict[str, Any]:
        return {
            "status": "ok",
            "engines": self.engines,
            "frames": self.frames,
            "pairs": self.pairs,
            "wall_s": self.wall_s,
            "pairs_per_s": self.pairs_per_s,
            "camera_fps": {
                camera: count / self.wall_s if self.wall_s > 0 else float("nan")
                for camera, count in self.frames.items()
            },
            "latency_ms": {
                camera: summarize_latencies(values).to_json() for camera, values in self.latencies_ms.items()
            },
            "stopped_early": self.stopped_early,
        }


class FifoLock:
    """A lock handed over in arrival order (``threading.Lock`` lets the releasing thread barge back in)."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> FifoLock:
        with self._condition:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._condition.wait_for(lambda: self._serving == ticket)
        return self

    def __exit__(self, *exc: object) -> None:
        with self._condition:
            self._serving += 1
            self._condition.notify_all()


def run_camera_threads(
    calls: Mapping[str, Callable[[], Any]], *, budget: LoopBudget, clock: Clock = time.perf_counter
) -> tuple[dict[str, tuple[float, ...]], float, bool]:
    """Run every camera's call in its own thread, free-running, with a common start.

    Each thread makes ``budget.warmup`` untimed calls, waits for the others, then times
    up to ``budget.iterations`` calls. Once ``budget.max_seconds`` have passed and a
    camera has ``budget.min_iterations`` frames, all cameras stop at their next frame.

    Returns:
        Latencies per camera (ms), wall time (s) and whether the time budget stopped the run.

    Raises:
        Exception: the first error a camera's call raised (the other cameras stop).
    """
    start: list[float] = []
    barrier = threading.Barrier(len(calls), action=lambda: start.append(clock()))
    stop, out_of_time = threading.Event(), threading.Event()
    latencies: dict[str, list[float]] = {camera: [] for camera in calls}
    errors: list[BaseException] = []
    wanted = max(1, budget.iterations)

    def camera_loop(camera: str, call: Callable[[], Any]) -> None:
        timed = latencies[camera]
        try:
            for _ in range(max(0, budget.warmup)):
                call()
            barrier.wait()
            while len(timed) < wanted:
                # Out of time: stop once this camera has its minimum; another camera failed: stop now.
                if stop.is_set() and (not out_of_time.is_set() or len(timed) >= budget.min_iterations):
                    break
                before = clock()
                call()
                after = clock()
                timed.append((after - before) * 1e3)
                if budget.max_seconds is not None and after - start[0] >= budget.max_seconds:
                    out_of_time.set()
                    stop.set()
        except threading.BrokenBarrierError:
            return  # another camera failed during its warm-up; its error is reported
        except Exception as err:  # handed to the caller, which re-raises it
            errors.append(err)
            stop.set()
            barrier.abort()

    threads = [
        threading.Thread(target=camera_loop, args=(camera, call), name=f"bench-{camera}", daemon=True)
        for camera, call in calls.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(THREAD_JOIN_TIMEOUT_S)
    end = clock()
    if errors:
        raise errors[0]
    result = {camera: tuple(values) for camera, values in latencies.items()}
    stopped_early = out_of_time.is_set() and any(len(values) < wanted for values in result.values())
    return result, end - start[0], stopped_early


def run_serialized(
    engine: Any, frames: Mapping[str, np.ndarray], *, budget: LoopBudget, clock: Clock = time.perf_counter
) -> PolicyResult:
    """One engine, one thread per camera, one ``predict_masks`` at a time."""
    lock = FifoLock()

    def locked_call(frame: np.ndarray) -> Callable[[], Any]:
        def call() -> Any:
            with lock:
                return engine.predict_masks(frame)

        return call

    calls = {camera: locked_call(frame) for camera, frame in frames.items()}
    latencies, wall_s, stopped = run_camera_threads(calls, budget=budget, clock=clock)
    return PolicyResult(SERIALIZED, 1, latencies, wall_s, stopped)


def run_parallel(
    engines: Sequence[Any],
    frames: Mapping[str, np.ndarray],
    *,
    budget: LoopBudget,
    clock: Clock = time.perf_counter,
) -> PolicyResult:
    """One engine instance and one thread per camera, no lock.

    Raises:
        ValueError: not exactly one engine per camera, or the same instance twice.
    """
    if len(engines) != len(frames) or len({id(engine) for engine in engines}) != len(engines):
        raise ValueError(f"parallel needs {len(frames)} distinct engine instances, got {len(engines)}")
    calls = {
        camera: (lambda engine=engine, frame=frame: engine.predict_masks(frame))
        for (camera, frame), engine in zip(frames.items(), engines, strict=True)
    }
    latencies, wall_s, stopped = run_camera_threads(calls, budget=budget, clock=clock)
    return PolicyResult(PARALLEL, len(engines), latencies, wall_s, stopped)


def run_batched(
    engine: Any, frames: Mapping[str, np.ndarray], *, budget: LoopBudget, clock: Clock = time.perf_counter
) -> PolicyResult:
    """One engine, one thread: ``predict_masks_batch`` with every camera's frame per tick."""
    batch = list(frames.values())
    loop = time_loop(
        lambda: engine.predict_masks_batch(batch),
        iterations=budget.iterations,
        warmup=budget.warmup,
        max_seconds=budget.max_seconds,
        min_iterations=budget.min_iterations,
        clock=clock,
    )
    # Both masks come back from the same call: each camera's frame waited the whole batch.
    latencies = {camera: loop.latencies_ms for camera in frames}
    return PolicyResult(BATCHED, 1, latencies, loop.wall_s, loop.stopped_early)


def camera_frames(sizes: Sequence[tuple[int, int]]) -> dict[str, np.ndarray]:
    """Noise frames for the cameras (front, then AVM), one size each."""
    if len(sizes) != len(CAMERAS):
        raise ValueError(f"need {len(CAMERAS)} frame sizes ({', '.join(CAMERAS)}), got {len(sizes)}")
    return {
        camera: random_frame((int(size[0]), int(size[1])), seed=index)
        for index, (camera, size) in enumerate(zip(CAMERAS, sizes, strict=True))
    }


def best_policy(policies: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The measured policy with the most frame pairs per second (None when none was measured)."""
    measured = {
        name: result["pairs_per_s"]
        for name, result in policies.items()
        if result.get("status") == "ok" and finite(result.get("pairs_per_s"))
    }
    return max(measured, key=measured.__getitem__) if measured else None


def measure_two_cameras(
    engine: Any,
    *,
    make_engine: Callable[[], Any],
    sizes: Sequence[tuple[int, int]] = DEFAULT_TWO_CAMERA_SIZES,
    budget: LoopBudget,
    policies: Sequence[str] = POLICIES,
    clock: Clock = time.perf_counter,
) -> dict[str, Any]:
    """Every policy on ``engine`` (plus a second instance from ``make_engine`` for ``parallel``).

    A policy that raises is listed as ``failed`` with the error; the others still run.

    Args:
        engine: The row's engine (``serialized`` and ``batched`` use it alone).
        make_engine: Builds another instance like ``engine``; closed after ``parallel``.
        sizes: Frame (height, width) of the front and the AVM camera.
        budget: Warm-up, timed frames and time limit of each policy.
        policies: Which policies to run, in order.
        clock: Seconds, monotonic (tests inject a fake one).

    Returns:
        ``cameras`` (name → frame size), ``policies`` (name → :meth:`PolicyResult.to_json`
        or ``{"status": "failed", "reason": ...}``) and ``best`` (see :func:`best_policy`).
    """
    frames = camera_frames(sizes)
    results: dict[str, dict[str, Any]] = {}
    for policy in policies:
        try:
            result = _run_policy(policy, engine, make_engine, frames, budget=budget, clock=clock)
            results[policy] = result.to_json()
        except Exception as err:  # one policy failing (e.g. no memory for a second engine) is a result
            results[policy] = {"status": "failed", "reason": f"{type(err).__name__}: {err}"}
    return {
        "cameras": {camera: list(frame.shape[:2]) for camera, frame in frames.items()},
        "policies": results,
        "best": best_policy(results),
    }


def _run_policy(
    policy: str,
    engine: Any,
    make_engine: Callable[[], Any],
    frames: Mapping[str, np.ndarray],
    *,
    budget: LoopBudget,
    clock: Clock,
) -> PolicyResult:
    if policy == SERIALIZED:
        return run_serialized(engine, frames, budget=budget, clock=clock)
    if policy == BATCHED:
        return run_batched(engine, frames, budget=budget, clock=clock)
    if policy != PARALLEL:
        raise ValueError(f"unknown policy {policy!r}; choose from {', '.join(POLICIES)}")
    second = make_engine()
    try:
        return run_parallel([engine, second], frames, budget=budget, clock=clock)
    finally:
        close = getattr(second, "close", None)
        if close is not None:
            close()
