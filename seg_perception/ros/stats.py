"""Per-camera counters and latency statistics, and their ``DiagnosticStatus``."""

from __future__ import annotations

import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from diagnostic_msgs.msg import DiagnosticStatus, KeyValue

from seg_perception.metrics.latency import LatencyStats, summarize_latencies

WINDOW = 300  # frames kept for percentiles (10 s at 30 fps)
FPS_WINDOW_S = 5.0
# Fewer frames received in the last FPS_WINDOW_S than this say nothing about the share dropped
# (a test's or a bag's handful of frames, a camera just started).
MIN_FRAMES_FOR_DROPPED_SHARE = 10


@dataclass(frozen=True)
class PerceptionSample:
    """What one processed frame found, as the diagnostics report it.

    Attributes:
        ego_lane: Both ego boundaries were found; None where the scenario extracts no lanes.
        boundaries: Lane boundaries published.
        slots: Parking slots published; None where the scenario extracts no slots.
        marking_points: Marking points found (models with a marking-point head).
    """

    ego_lane: bool | None = None
    boundaries: int = 0
    slots: int | None = None
    marking_points: int = 0


@dataclass
class StatsSnapshot:
    """A consistent copy of one camera's statistics."""

    fps: float
    received: int
    processed: int
    dropped: int
    rejected: dict[str, int]
    engine_errors: int
    last_engine_error: str
    publish_errors: int
    failing: bool
    seconds_since_frame: float | None
    latency_ms: LatencyStats
    processing_ms: LatencyStats
    stage_ms: dict[str, float] = field(default_factory=dict)
    frame_size: tuple[int, int] | None = None
    size_changes: int = 0
    clock_mismatch: int = 0
    clock_mismatch_detail: str = ""
    clock_mismatch_now: bool = False
    perception: PerceptionSample | None = None  # the latest processed frame's
    ego_lane_share: float | None = None  # of the frames processed in the last FPS_WINDOW_S
    # since the last frame with both ego boundaries, or since the first frame of the lane stage
    # when none had them; None before any frame of a lane stage
    seconds_without_ego_lane: float | None = None
    # of the frames received in the last FPS_WINDOW_S, the share replaced unprocessed by a newer one
    # (the model slower than the camera); None below MIN_FRAMES_FOR_DROPPED_SHARE frames
    dropped_share: float | None = None
    input_fps: float = 0.0  # frames received per second over the last FPS_WINDOW_S

    @property
    def rejected_total(self) -> int:
        return sum(self.rejected.values())

    @property
    def failed(self) -> int:
        """Frames converted but lost to an engine or publishing error."""
        return self.engine_errors + self.publish_errors

    @property
    def pending(self) -> int:
        """Frames received but not yet accounted for (waiting in the mailbox or in flight).

        Every received frame ends in exactly one of processed, dropped, rejected or
        failed, so this is 0 once the camera is idle.
        """
        return self.received - self.processed - self.dropped - self.rejected_total - self.failed


class CameraStats:
    """Thread-safe statistics updated by the subscription callback and the worker."""

    def __init__(self, *, clock: Callable[[], float] | None = None) -> None:
        self._now = clock or time.monotonic
        self._lock = threading.Lock()
        self._received = self._processed = self._dropped = self._engine_errors = 0
        self._publish_errors = self._size_changes = self._clock_mismatch = 0
        self._clock_mismatch_detail = ""
        self._clock_mismatch_now = False
        self._frame_size: tuple[int, int] | None = None
        self._rejected: Counter[str] = Counter()
        self._last_engine_error = ""
        self._failing = False
        self._last_received: float | None = None
        self._received_at: deque[tuple[float, bool]] = deque(maxlen=WINDOW)  # (time, replaced a frame)
        self._processed_at: deque[float] = deque(maxlen=WINDOW)
        self._latency_ms: deque[float] = deque(maxlen=WINDOW)
        self._processing_ms: deque[float] = deque(maxlen=WINDOW)
        self._stage_ms: dict[str, deque[float]] = {}
        self._perception: PerceptionSample | None = None
        self._ego_lane_at: deque[tuple[float, bool]] = deque(maxlen=WINDOW)
        self._last_ego_lane: float | None = None  # or the first lane frame's time, before any had one

    def on_received(self, *, dropped: bool) -> None:
        with self._lock:
            self._received += 1
            self._dropped += int(dropped)
            self._last_received = self._now()
            self._received_at.append((self._last_received, dropped))

    def on_dropped(self) -> None:
        """A received frame discarded without processing (e.g. pending when the camera stops)."""
        with self._lock:
            self._dropped += 1

    def on_publish_error(self) -> None:
        with self._lock:
            self._publish_errors += 1

    def on_frame_size(self, size: tuple[int, int]) -> tuple[int, int] | None:
        """Record a converted frame's (height, width); return the previous size when it changed."""
        with self._lock:
            previous, self._frame_size = self._frame_size, size
            if previous is None or previous == size:
                return None
            self._size_changes += 1
            return previous

    def on_rejected(self, reason: str) -> None:
        with self._lock:
            self._rejected[reason] += 1

    def on_engine_error(self, message: str) -> None:
        with self._lock:
            self._engine_errors += 1
            self._last_engine_error = message
            self._failing = True

    def on_processed(
        self,
        *,
        latency_ms: float | None,
        processing_ms: float,
        stages_ms: dict[str, float] | None = None,
        clock_mismatch: str | None = None,
        perception: PerceptionSample | None = None,
    ) -> None:
        """Count a published frame.

        Args:
            latency_ms: Stamp-to-publish latency; None when unknown.
            processing_ms: Conversion to publishing, this node's own time.
            stages_ms: Time per stage.
            clock_mismatch: Why the frame's stamp is implausible for the node's clock (unset,
                far in the past or future); such a frame's latency is not recorded.
            perception: What the frame's post-processing found.
        """
        with self._lock:
            now = self._now()
            self._processed += 1
            self._failing = False
            self._processed_at.append(now)
            if perception is not None:
                self._perception = perception
                if perception.ego_lane is not None:
                    self._ego_lane_at.append((now, perception.ego_lane))
                    if perception.ego_lane or self._last_ego_lane is None:
                        self._last_ego_lane = now
            self._clock_mismatch_now = clock_mismatch is not None
            if clock_mismatch is not None:
                self._clock_mismatch += 1
                self._clock_mismatch_detail = clock_mismatch
            elif latency_ms is not None:
                self._latency_ms.append(latency_ms)
            self._processing_ms.append(processing_ms)
            for stage, value in (stages_ms or {}).items():
                self._stage_ms.setdefault(stage, deque(maxlen=WINDOW)).append(float(value))

    def snapshot(self) -> StatsSnapshot:
        now = self._now()
        with self._lock:
            ego = [found for at, found in self._ego_lane_at if now - at <= FPS_WINDOW_S]
            arrived = [(at, dropped) for at, dropped in self._received_at if now - at <= FPS_WINDOW_S]
            return StatsSnapshot(
                fps=_rate([t for t in self._processed_at if now - t <= FPS_WINDOW_S]),
                input_fps=_rate([at for at, _ in arrived]),
                dropped_share=(
                    sum(dropped for _, dropped in arrived) / len(arrived)
                    if len(arrived) >= MIN_FRAMES_FOR_DROPPED_SHARE
                    else None
                ),
                received=self._received,
                processed=self._processed,
                dropped=self._dropped,
                rejected=dict(self._rejected),
                engine_errors=self._engine_errors,
                last_engine_error=self._last_engine_error,
                publish_errors=self._publish_errors,
                failing=self._failing,
                seconds_since_frame=None if self._last_received is None else now - self._last_received,
                latency_ms=summarize_latencies(self._latency_ms),
                processing_ms=summarize_latencies(self._processing_ms),
                stage_ms={k: float(np.mean(v)) for k, v in self._stage_ms.items() if v},
                frame_size=self._frame_size,
                size_changes=self._size_changes,
                clock_mismatch=self._clock_mismatch,
                clock_mismatch_detail=self._clock_mismatch_detail,
                clock_mismatch_now=self._clock_mismatch_now,
                perception=self._perception,
                ego_lane_share=sum(ego) / len(ego) if ego else None,
                seconds_without_ego_lane=None if self._last_ego_lane is None else now - self._last_ego_lane,
            )


def _rate(times: list[float]) -> float:
    """Events per second over ``times`` (ascending), 0 below two events or a zero span."""
    span = times[-1] - times[0] if len(times) > 1 else 0.0
    return (len(times) - 1) / span if span > 0 else 0.0


def build_status(
    *,
    name: str,
    snapshot: StatsSnapshot,
    stale_timeout_s: float,
    seconds_since_start: float,
    info: dict[str, str],
    ego_lane_lost_s: float = 0.0,
    dropped_share_warn: float = 0.0,
) -> DiagnosticStatus:
    """One camera's ``DiagnosticStatus``: ERROR while the engine fails, WARN when stale, while
    frame stamps do not fit the node's clock (``clock_mismatch``: latency not measured), while more
    than ``dropped_share_warn`` of the frames are dropped or when the ego lane has been lost for
    ``ego_lane_lost_s``, else OK.

    Args:
        name: Status name (``seg_perception: <camera>``).
        snapshot: Current statistics.
        stale_timeout_s: No frame for this long (or none since start) → WARN.
        seconds_since_start: Node age, so a camera that never sent a frame turns stale.
        info: Static key/values (topic, model file, engine, providers, ...).
        ego_lane_lost_s: Processed frames without both ego boundaries for this long → WARN (0: never).
        dropped_share_warn: A larger share of the frames received in the last ``FPS_WINDOW_S`` dropped
            unprocessed (the model slower than the camera) → WARN (0: never).
    """
    idle = snapshot.seconds_since_frame if snapshot.seconds_since_frame is not None else seconds_since_start
    stale = idle > stale_timeout_s
    lost = snapshot.seconds_without_ego_lane
    dropping = snapshot.dropped_share
    if snapshot.failing:
        level, message = DiagnosticStatus.ERROR, f"engine failing: {snapshot.last_engine_error}"
    elif stale:
        level, message = DiagnosticStatus.WARN, f"stale: no frame for {idle:.1f} s"
    elif snapshot.clock_mismatch_now:
        level = DiagnosticStatus.WARN
        message = f"clock mismatch, latency not measured: {snapshot.clock_mismatch_detail}"
    elif dropping is not None and 0.0 < dropped_share_warn < dropping:
        level = DiagnosticStatus.WARN
        message = (
            f"dropping {dropping:.0%} of frames, the model is slower than the camera: "
            f"{snapshot.input_fps:.1f} fps in, {snapshot.fps:.1f} out, processing p50 "
            f"{snapshot.processing_ms.p50:.0f} ms"
        )
    elif lost is not None and 0.0 < ego_lane_lost_s < lost:
        level, message = DiagnosticStatus.WARN, f"no ego lane for {lost:.1f} s"
    else:
        level, message = DiagnosticStatus.OK, f"{snapshot.fps:.1f} fps"
    values = {
        **info,
        "fps": f"{snapshot.fps:.2f}",
        "input_fps": f"{snapshot.input_fps:.2f}",
        "dropped_share": "unknown" if dropping is None else f"{dropping:.3f}",
        "frames_received": str(snapshot.received),
        "frames_processed": str(snapshot.processed),
        "frames_dropped": str(snapshot.dropped),
        "frames_rejected": str(snapshot.rejected_total),
        **{f"rejected.{reason}": str(count) for reason, count in sorted(snapshot.rejected.items())},
        "frames_failed": str(snapshot.failed),
        "engine_errors": str(snapshot.engine_errors),
        "publish_errors": str(snapshot.publish_errors),
        "frame_size": "none" if snapshot.frame_size is None else "{1}x{0}".format(*snapshot.frame_size),
        "frame_size_changes": str(snapshot.size_changes),
        "clock_mismatch": str(snapshot.clock_mismatch),
        "stale": str(stale).lower(),
        "seconds_since_frame": "never" if snapshot.seconds_since_frame is None else f"{idle:.2f}",
    }
    for label, stats in (("latency", snapshot.latency_ms), ("processing", snapshot.processing_ms)):
        values |= {
            f"{label}_ms_{key}": f"{value:.2f}"
            for key, value in stats.to_json().items()
            if key not in ("count", "mean")  # p50, p95, p99, max
        }
    if snapshot.clock_mismatch:
        values["clock_mismatch_last"] = snapshot.clock_mismatch_detail
    values |= {f"stage_ms.{stage}": f"{ms:.2f}" for stage, ms in sorted(snapshot.stage_ms.items())}
    values |= perception_values(snapshot)
    return DiagnosticStatus(
        level=level,
        name=name,
        message=message,
        hardware_id=info.get("engine", ""),
        values=[KeyValue(key=k, value=v) for k, v in values.items()],
    )


def perception_values(snapshot: StatsSnapshot) -> dict[str, str]:
    """What the latest frames found: ``lanes.*`` for a lane stage, ``slots.*`` for a slot stage."""
    found = snapshot.perception
    if found is None:
        return {}
    values: dict[str, str] = {}
    if found.ego_lane is not None:
        share = snapshot.ego_lane_share
        lost = snapshot.seconds_without_ego_lane
        values |= {
            "lanes.boundaries": str(found.boundaries),
            "lanes.ego_lane": str(found.ego_lane).lower(),
            "lanes.ego_lane_share": "none" if share is None else f"{share:.2f}",
            "lanes.seconds_without_ego_lane": "none" if lost is None else f"{lost:.2f}",
        }
    if found.slots is not None:
        values |= {"slots.count": str(found.slots), "slots.marking_points": str(found.marking_points)}
    return values
