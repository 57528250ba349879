"""Parking-slot benchmark metrics (ps2.0 / DMPR-PS style), independent of training (NumPy only).

- **Marking points**: a predicted point matches a labelled one within ``threshold``; points
  are paired one to one (Hungarian method on the distance). Precision = matched / predicted,
  recall = matched / labelled.
- **Slots**: a predicted slot matches a labelled one when **both entrance points** lie within
  the threshold of the labelled ones, in either order (one to one, Hungarian on the mean
  distance). Only frames whose labels pair points into slots count for slots.
- **Corner error**: the mean distance of the matched slots' entrance points (and, separately,
  of the matched marking points), in pixels and in centimetres.

The threshold is metric. ps2.0 images are 600 x 600 pixels over about 10 m x 10 m, and the
usual threshold is 10 pixels there: ``DEFAULT_THRESHOLD_M = 10 / 60`` m (about 17 cm). A
frame with a known ``metres_per_pixel`` uses ``threshold_m / metres_per_pixel`` pixels; a frame
without one falls back to 10 pixels per 600 pixels of image width (the ps2.0 convention),
and reports no centimetres.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

PS2_IMAGE_PX = 600
PS2_METRES_PER_PIXEL = 10.0 / PS2_IMAGE_PX  # ps2.0: about 10 m x 10 m in 600 x 600 pixels
PS2_THRESHOLD_PX = 10.0
DEFAULT_THRESHOLD_M = PS2_THRESHOLD_PX * PS2_METRES_PER_PIXEL
#: What an evaluation reads the predicted points from: marking points, or the slots' entrance corners.
POINT_SOURCES = ("marking_points", "slot_corners")
_INFEASIBLE = 1e12


def ps2_metres_per_pixel(image_width: int) -> float:
    """The ground resolution of a frame without a known scale, by the ps2.0 convention: the frame
    spans what ps2.0's 600 pixels do (about 10 m) across its width."""
    return PS2_METRES_PER_PIXEL * PS2_IMAGE_PX / image_width


def frame_threshold_px(
    image_width: int, metres_per_pixel: float | None, threshold_m: float = DEFAULT_THRESHOLD_M
) -> float:
    """The matching threshold of one frame in its pixels (see the module docstring)."""
    if metres_per_pixel is not None and metres_per_pixel > 0:
        return threshold_m / metres_per_pixel
    return threshold_m / ps2_metres_per_pixel(image_width)


def match_points(
    predicted: np.ndarray, true: np.ndarray, threshold_px: float
) -> list[tuple[int, int, float]]:
    """One-to-one matches ``(pred_index, true_index, distance)`` of points within the threshold."""
    predicted = np.asarray(predicted, np.float64).reshape(-1, 2)
    true = np.asarray(true, np.float64).reshape(-1, 2)
    if not len(predicted) or not len(true):
        return []
    distance = np.linalg.norm(predicted[:, None, :] - true[None, :, :], axis=2)
    cost = np.where(distance <= threshold_px, distance, _INFEASIBLE)
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(r), int(c), float(distance[r, c]))
        for r, c in zip(rows, cols, strict=True)
        if cost[r, c] < _INFEASIBLE
    ]


def entrance_distances(predicted: np.ndarray, true: np.ndarray) -> np.ndarray:
    """(2,) distances of two entrance points to the labelled two, in the better order."""
    predicted = np.asarray(predicted, np.float64).reshape(2, 2)
    true = np.asarray(true, np.float64).reshape(2, 2)
    same = np.linalg.norm(predicted - true, axis=1)
    swapped = np.linalg.norm(predicted[::-1] - true, axis=1)
    return same if (same.max(), same.mean()) <= (swapped.max(), swapped.mean()) else swapped


def match_entrances(
    predicted: np.ndarray, true: np.ndarray, threshold_px: float
) -> list[tuple[int, int, np.ndarray]]:
    """One-to-one slot matches ``(pred_index, true_index, (2,) distances)``: both points within the threshold.

    ``predicted`` and ``true`` are ``(N, 2, 2)`` entrance point pairs.
    """
    predicted = np.asarray(predicted, np.float64).reshape(-1, 2, 2)
    true = np.asarray(true, np.float64).reshape(-1, 2, 2)
    if not len(predicted) or not len(true):
        return []
    distances = [[entrance_distances(p, t) for t in true] for p in predicted]
    cost = np.array(
        [[d.mean() if d.max() <= threshold_px else _INFEASIBLE for d in row] for row in distances]
    )
    rows, cols = linear_sum_assignment(cost)
    return [
        (int(r), int(c), distances[r][c]) for r, c in zip(rows, cols, strict=True) if cost[r, c] < _INFEASIBLE
    ]


def merge_points(points: np.ndarray, radius_px: float) -> np.ndarray:
    """Average points closer than ``radius_px`` (greedy, in order): shared corners of neighbouring slots."""
    points = np.asarray(points, np.float64).reshape(-1, 2)
    merged: list[list[np.ndarray]] = []
    for point in points:
        for group in merged:
            if np.linalg.norm(np.mean(group, axis=0) - point) <= radius_px:
                group.append(point)
                break
        else:
            merged.append([point])
    return np.array([np.mean(group, axis=0) for group in merged]).reshape(-1, 2)


@dataclass
class _Counts:
    predicted: int = 0
    true: int = 0
    matched: int = 0
    errors_px: list[float] = field(default_factory=list)
    errors_m: list[float] = field(default_factory=list)

    def report(self) -> dict[str, Any]:
        precision = self.matched / self.predicted if self.predicted else None
        recall = self.matched / self.true if self.true else None
        f1 = 2 * precision * recall / (precision + recall) if precision and recall else None
        return {
            "predicted": self.predicted,
            "true": self.true,
            "matched": self.matched,
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "error_px": float(np.mean(self.errors_px)) if self.errors_px else None,
            "error_cm": 100.0 * float(np.mean(self.errors_m)) if self.errors_m else None,
        }


@dataclass
class ParkingAccumulator:
    """Marking-point and slot metrics over frames, overall and per group (e.g. ground type).

    Attributes:
        threshold_m: Matching distance in metres (default: 10 px at ps2.0's 600 x 600 ≈ 17 cm).
    """

    threshold_m: float = DEFAULT_THRESHOLD_M
    frames: int = 0
    _points: dict[str, _Counts] = field(default_factory=dict)
    _slots: dict[str, _Counts] = field(default_factory=dict)
    _frames: dict[str, int] = field(default_factory=dict)

    def update(
        self,
        *,
        image_width: int,
        predicted_points: np.ndarray,
        true_points: np.ndarray,
        predicted_entrances: np.ndarray | None = None,
        true_entrances: np.ndarray | None = None,
        metres_per_pixel: float | None = None,
        group: str | None = None,
        tags: Sequence[str] = (),
    ) -> dict[str, Any]:
        """Add one frame; slots count only when ``true_entrances`` is given. Returns the frame's matches.

        The frame counts in ``all``, in ``group`` and in each of ``tags`` (further groups a frame
        may share with others, e.g. each kind of row marking a generated scene has).
        """
        threshold = frame_threshold_px(image_width, metres_per_pixel, self.threshold_m)
        scale = metres_per_pixel if metres_per_pixel is not None and metres_per_pixel > 0 else None
        point_matches = match_points(predicted_points, true_points, threshold)
        keys = ["all"] + ([group] if group else [])
        keys += [tag for tag in dict.fromkeys(tags) if tag not in keys]
        self.frames += 1
        for key in keys:
            self._frames[key] = self._frames.get(key, 0) + 1
            counts = self._points.setdefault(key, _Counts())
            counts.predicted += len(np.asarray(predicted_points).reshape(-1, 2))
            counts.true += len(np.asarray(true_points).reshape(-1, 2))
            counts.matched += len(point_matches)
            counts.errors_px += [d for _, _, d in point_matches]
            if scale is not None:
                counts.errors_m += [d * scale for _, _, d in point_matches]
        slot_matches: list[tuple[int, int, np.ndarray]] = []
        if true_entrances is not None:
            predicted_entrances = np.zeros((0, 2, 2)) if predicted_entrances is None else predicted_entrances
            slot_matches = match_entrances(predicted_entrances, true_entrances, threshold)
            for key in keys:
                counts = self._slots.setdefault(key, _Counts())
                counts.predicted += len(np.asarray(predicted_entrances).reshape(-1, 2, 2))
                counts.true += len(np.asarray(true_entrances).reshape(-1, 2, 2))
                counts.matched += len(slot_matches)
                for _, _, distances in slot_matches:
                    counts.errors_px += [float(d) for d in distances]
                    if scale is not None:
                        counts.errors_m += [float(d) * scale for d in distances]
        return {"threshold_px": threshold, "points": point_matches, "slots": slot_matches}

    def report(self) -> dict[str, Any]:
        """``{"threshold_m", "frames", "groups": {name: {"frames", "points", "slots"?}}}``.

        The group ``all`` holds every frame.
        """
        groups: dict[str, Any] = {}
        for key, frames in self._frames.items():
            entry: dict[str, Any] = {"frames": frames, "points": self._points[key].report()}
            if key in self._slots:
                entry["slots"] = self._slots[key].report()
            groups[key] = entry
        return {"threshold_m": self.threshold_m, "frames": self.frames, "groups": groups}


@dataclass
class OccupancyAgreement:
    """Whether matched slots are called free or occupied as labelled (frames whose labels say so).

    Fed frame after frame with the slot matches of :meth:`ParkingAccumulator.update` and both sides'
    ``occupied`` flags; with the predicted slots' occupancy confidences, it also says how sure the
    right calls and the wrong ones were (a useful confidence is lower on the wrong ones).
    """

    matched: int = 0
    free_called_occupied: int = 0
    occupied_called_free: int = 0
    _confidence: dict[bool, list[float]] = field(default_factory=lambda: {True: [], False: []})

    def update(
        self,
        matches: Sequence[tuple[int, int, Any]],
        predicted_occupied: Sequence[bool],
        true_occupied: Sequence[bool],
        predicted_confidence: Sequence[float] | None = None,
    ) -> None:
        """Add one frame: ``matches`` are ``(pred_index, true_index, ...)`` into the flag lists."""
        for pred_index, true_index, *_ in matches:
            truth, called = bool(true_occupied[true_index]), bool(predicted_occupied[pred_index])
            self.matched += 1
            self.free_called_occupied += int(called and not truth)
            self.occupied_called_free += int(truth and not called)
            if predicted_confidence is not None:
                self._confidence[called == truth].append(float(predicted_confidence[pred_index]))

    def report(self) -> dict[str, Any]:
        wrong = self.free_called_occupied + self.occupied_called_free

        def mean(values: list[float]) -> float | None:
            return float(np.mean(values)) if values else None

        return {
            "matched": self.matched,
            "accuracy": (self.matched - wrong) / self.matched if self.matched else None,
            "free_called_occupied": self.free_called_occupied,
            "occupied_called_free": self.occupied_called_free,
            "mean_confidence_right": mean(self._confidence[True]),
            "mean_confidence_wrong": mean(self._confidence[False]),
        }


def format_occupancy(report: dict[str, Any]) -> str:
    """One sentence on :meth:`OccupancyAgreement.report`."""
    if not report["matched"]:
        return "Occupancy: no labelled slot was matched.\n"
    confidence = ""
    if report["mean_confidence_right"] is not None:
        wrong = report["mean_confidence_wrong"]
        confidence = f"; mean occupancy confidence {report['mean_confidence_right']:.2f} on right calls" + (
            f", {wrong:.2f} on wrong ones" if wrong is not None else ""
        )
    return (
        f"Occupancy: right for {100.0 * report['accuracy']:.1f} % of {report['matched']} matched slots "
        f"(free called occupied: {report['free_called_occupied']}, occupied called free: "
        f"{report['occupied_called_free']}){confidence}.\n"
    )


@dataclass
class SlotIdPersistence:
    """How well predicted slot ids stay with the physical slot over a stream of frames.

    Fed frame after frame with the slot matches of :meth:`ParkingAccumulator.update` and both
    sides' ids (the truth's ids name physical slots). A true slot matched now and at its last
    matched frame (missed frames in between allowed) is one *pair*; the pair is *kept* when the
    predicted id is the same. Persistence = kept / pairs; ``ids_per_slot`` is the mean number of
    distinct predicted ids a true slot was matched with (1 is ideal).
    """

    pairs: int = 0
    kept: int = 0
    _last: dict[int, int] = field(default_factory=dict)
    _ids: dict[int, set[int]] = field(default_factory=dict)

    def update(
        self, matches: Sequence[tuple[int, int, Any]], predicted_ids: Sequence[int], true_ids: Sequence[int]
    ) -> None:
        """Add one frame: ``matches`` are ``(pred_index, true_index, ...)`` into the id lists."""
        for pred_index, true_index, *_ in matches:
            true_id, predicted_id = int(true_ids[true_index]), int(predicted_ids[pred_index])
            if true_id in self._last:
                self.pairs += 1
                self.kept += int(self._last[true_id] == predicted_id)
            self._last[true_id] = predicted_id
            self._ids.setdefault(true_id, set()).add(predicted_id)

    def report(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "kept": self.kept,
            "persistence": self.kept / self.pairs if self.pairs else None,
            "slots": len(self._ids),
            "ids_per_slot": float(np.mean([len(ids) for ids in self._ids.values()])) if self._ids else None,
        }


def format_persistence(report: dict[str, Any]) -> str:
    """One sentence on :meth:`SlotIdPersistence.report`."""
    if not report["pairs"]:
        return "Slot ids: no labelled slot was matched in two frames.\n"
    return (
        f"Slot ids: the same id in {100.0 * report['persistence']:.1f} % of {report['pairs']} successive "
        f"matches of a labelled slot; {report['ids_per_slot']:.2f} ids per labelled slot "
        f"({report['slots']} slots).\n"
    )


def format_report(report: dict[str, Any]) -> str:
    """A Markdown table: one row per group, marking points then slots."""

    def fmt(value: float | None, digits: int = 3) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    lines = [
        f"Matching threshold: {100.0 * report['threshold_m']:.1f} cm",
        "",
        "| group | frames | points P | points R | point err cm | slots P | slots R | corner err cm |"
        " labelled slots |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = report["groups"]
    for name in sorted(groups, key=lambda n: (n != "all", n)):
        entry = groups[name]
        points, slots = entry["points"], entry.get("slots")
        slot_cells = (
            [fmt(slots["precision"]), fmt(slots["recall"]), fmt(slots["error_cm"], 1), str(slots["true"])]
            if slots
            else ["-", "-", "-", "0"]
        )
        lines.append(
            f"| {name} | {entry['frames']} | {fmt(points['precision'])} | {fmt(points['recall'])} | "
            f"{fmt(points['error_cm'], 1)} | " + " | ".join(slot_cells) + " |"
        )
    return "\n".join(lines) + "\n"


def marking_point_positions(marks: Any) -> np.ndarray:
    """(N, 2) positions of marking points given as objects with ``position`` or as ``(N, >=2)`` rows."""
    if marks is None:
        return np.zeros((0, 2))
    if isinstance(marks, np.ndarray):
        return marks.reshape(len(marks), -1)[:, :2].astype(np.float64) if marks.size else np.zeros((0, 2))
    return np.array([np.asarray(getattr(m, "position", m), np.float64)[:2] for m in marks]).reshape(-1, 2)


def slot_entrances(slots: Sequence[Any]) -> np.ndarray:
    """``(N, 2, 2)`` entrance points of slots (objects with ``corners``, entrance first)."""
    if not slots:
        return np.zeros((0, 2, 2))
    return np.stack([np.asarray(slot.corners, np.float64)[:2] for slot in slots])
