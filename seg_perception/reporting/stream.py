"""Scoring a recorded output stream: predictions matched to ground truth by header stamp.

ROS-free, so both the live demo recorder and offline tools can feed it: stamps
are integer nanoseconds, receive times are nanoseconds on the same clock.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from seg_perception.metrics.latency import rate_hz, summarize_latencies
from seg_perception.metrics.segmentation import SegmentationMetrics


@dataclass
class StreamRecording:
    """Masks, ground truth and overlay frames of one stream, keyed by input stamp.

    Attributes:
        ground_truth: stamp (ns) -> (H, W) uint8 class ids.
        predictions: stamp (ns) -> (H, W) uint8 class ids (first copy kept).
        receive_ns: stamp (ns) -> when the prediction arrived (ns, same clock as stamps).
        overlays: (stamp ns, BGR image) of the overlay frames kept for animation.
        duplicates: Predictions received again for a stamp already seen.
    """

    ground_truth: dict[int, np.ndarray] = field(default_factory=dict)
    predictions: dict[int, np.ndarray] = field(default_factory=dict)
    receive_ns: dict[int, int] = field(default_factory=dict)
    overlays: list[tuple[int, np.ndarray]] = field(default_factory=list)
    duplicates: int = 0

    def add_ground_truth(self, stamp_ns: int, mask: np.ndarray) -> None:
        self.ground_truth[int(stamp_ns)] = mask

    def add_prediction(self, stamp_ns: int, receive_ns: int, mask: np.ndarray) -> None:
        stamp_ns = int(stamp_ns)
        if stamp_ns in self.predictions:
            self.duplicates += 1
            return
        self.predictions[stamp_ns] = mask
        self.receive_ns[stamp_ns] = int(receive_ns)

    def add_overlay(self, stamp_ns: int, image: np.ndarray) -> None:
        self.overlays.append((int(stamp_ns), image))

    @property
    def matched_stamps(self) -> list[int]:
        """Stamps that have both a prediction and a ground truth, in order."""
        return sorted(self.predictions.keys() & self.ground_truth.keys())

    def latencies_ms(self) -> list[float]:
        """Receive time minus input stamp of every prediction, in stamp order, milliseconds."""
        return [(self.receive_ns[s] - s) / 1e6 for s in sorted(self.receive_ns)]

    def output_fps(self) -> float:
        """Predictions per second over the span of their arrival."""
        return rate_hz(t / 1e9 for t in self.receive_ns.values())

    def input_fps(self) -> float:
        """Ground-truth (= input frame) stamps per second."""
        return rate_hz(s / 1e9 for s in self.ground_truth)

    def score(self, class_names: Sequence[str]) -> dict[str, Any]:
        """Confusion-matrix metrics over the matched frames (see :class:`SegmentationMetrics`).

        A prediction of another size than its ground truth (a node that does not
        restore the input resolution) is resized with nearest neighbour first and
        counted in ``resized``.
        """
        metrics = SegmentationMetrics(list(class_names))
        resized = 0
        for stamp in self.matched_stamps:
            target, prediction = self.ground_truth[stamp], self.predictions[stamp]
            if prediction.shape != target.shape:
                resized += 1
                prediction = cv2.resize(
                    prediction, (target.shape[1], target.shape[0]), interpolation=cv2.INTER_NEAREST
                )
            metrics.update(target, prediction)
        summary = metrics.summary()
        summary["frames_scored"] = len(self.matched_stamps)
        summary["resized"] = resized
        return summary

    def counts(self, frames_sent: int | None = None) -> dict[str, int]:
        """Frame counts; ``dropped`` = sent - predictions (sent defaults to ground truths seen)."""
        sent = len(self.ground_truth) if frames_sent is None else int(frames_sent)
        return {
            "sent": sent,
            "ground_truth_received": len(self.ground_truth),
            "received": len(self.predictions),
            "matched": len(self.matched_stamps),
            "dropped": max(0, sent - len(self.predictions)),
            "unmatched_predictions": len(self.predictions.keys() - self.ground_truth.keys()),
            "duplicates": self.duplicates,
        }

    def latency(self) -> dict[str, float | int]:
        return summarize_latencies(self.latencies_ms()).to_json()


def loss_around(
    sent_ns: Iterable[int], received_ns: Collection[int], window_ns: tuple[int, int]
) -> dict[str, Any]:
    """Frames lost in a row at an event (a model swap) against the rest of the stream.

    A node that cannot keep up drops frames anyway (it keeps the newest), so the swap's
    cost is the longest run of lost frames overlapping ``window_ns`` (the input stamps the
    swap can affect), next to the gaps elsewhere: the frames lost just before each mask
    whose stamp lies outside the window.

    Returns:
        ``at_event`` (the longest run overlapping the window, 0 when none), ``elsewhere_max``
        and ``elsewhere_p95`` of the gaps before the masks outside the window, ``masks_elsewhere``.
    """
    start, end = window_ns
    at_event = 0
    gaps: list[int] = []
    run: list[int] = []
    for stamp in sorted(sent_ns):
        if stamp not in received_ns:
            run.append(stamp)
            continue
        if run and run[0] <= end and run[-1] >= start:
            at_event = max(at_event, len(run))
        elif not start <= stamp <= end:
            gaps.append(len(run))
        run = []
    if run and run[0] <= end and run[-1] >= start:
        at_event = max(at_event, len(run))
    return {
        "at_event": at_event,
        "elsewhere_max": max(gaps, default=0),
        "elsewhere_p95": float(np.percentile(gaps, 95)) if gaps else 0.0,
        "masks_elsewhere": len(gaps),
    }
