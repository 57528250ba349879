"""Turn rough hand-drawn lane lines into TuSimple labels by snapping them onto the paint.

A person gives each lane line as a few image points (``x, y``) along it, in a YAML file::

    root: /path/to/images            # raw_file paths are relative to it
    frames:
      - raw_file: highway_1280x720/test1.jpg
        lanes:
          - [[290, 685], [450, 565], [600, 455]]   # bottom to top or top to bottom, 2+ points
          - {points: [[1050, 660], [745, 470]], top: 430}   # top: first labelled row

Each line is refined where paint is visible: per row, the strongest white or yellow ridge within
a window around the rough line (wider near the car) is taken, and a quadratic ``x(y)`` is fitted to
those rows (robustly, iterating out outliers); where too few rows show paint (a line hidden by a car,
a worn line) the rough line stands. The labels are sampled at the TuSimple rows of the frame height
(every ``height / 72`` rows, as 160..710 at 720) from the line's top to its bottom (the lowest rough
point, so a hood is left out). Overlays of the rough line (thin) and the label (dots) are written so
every label is looked at before it is used.

Run from the repository root::

    python scripts/snap_lane_labels.py rough.yaml --out labels.json --overlays DIR
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import yaml

from seg_perception.data.lanes import TuSimpleLabel, tusimple_h_samples, write_tusimple_labels

# Paint is at most this wide at the bottom of a 720-row frame; the top-hat kernel is a few times wider.
PAINT_WIDTH_PX_AT_720 = 30
SEARCH_PX_AT_720 = (4.0, 16.0)  # half-window at the top and at the bottom of a line
MIN_PAINT_ROWS = 12
MIN_RIDGE = 12.0  # grey levels above the local background
MAX_PAINT_PX_AT_720 = (8.0, 50.0)  # widest paint run at the top and at the bottom of a line


@dataclass(frozen=True)
class RoughLane:
    points: np.ndarray  # (N, 2) x, y
    top: float
    bottom: float


def _rough_lanes(entry: list[Any] | dict[str, Any]) -> RoughLane:
    spec = entry if isinstance(entry, dict) else {"points": entry}
    points = np.asarray(spec["points"], np.float64)
    if points.ndim != 2 or points.shape[1] != 2 or len(points) < 2:
        raise ValueError(f"a lane needs two or more [x, y] points, got {spec['points']}")
    points = points[np.argsort(points[:, 1])]
    return RoughLane(points, float(spec.get("top", points[0, 1])), float(spec.get("bottom", points[-1, 1])))


def paint_ridges(image: np.ndarray) -> np.ndarray:
    """White or yellow paint brighter than its surroundings, per pixel (grey levels)."""
    scale = image.shape[0] / 720.0
    size = max(3, round(3 * PAINT_WIDTH_PX_AT_720 * scale) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (size, 1))
    blue, green, red = (image[..., i].astype(np.float32) for i in range(3))
    grey = (blue + green + red) / 3.0
    yellow = np.clip((red + green) / 2.0 - blue, 0, 255)
    ridges = [cv2.morphologyEx(channel, cv2.MORPH_TOPHAT, kernel) for channel in (grey, yellow)]
    return cv2.GaussianBlur(np.maximum(*ridges), (3, 3), 0)


def _rough_x(lane: RoughLane, rows: np.ndarray) -> np.ndarray:
    return np.interp(rows, lane.points[:, 1], lane.points[:, 0])


def snap_lane(ridges: np.ndarray, lane: RoughLane) -> tuple[np.ndarray, np.ndarray]:
    """Fitted ``x(y)`` of one lane line over every row from its top to its bottom, and the rows
    where paint was found (for the overlay)."""
    height, width = ridges.shape
    scale = height / 720.0
    rows = np.arange(int(np.ceil(lane.top)), int(np.floor(lane.bottom)) + 1)
    rough = _rough_x(lane, rows)
    found_rows, found_x = [], []
    span = max(lane.bottom - lane.top, 1.0)
    for row, x in zip(rows, rough, strict=False):
        along = (row - lane.top) / span
        half = round(scale * (SEARCH_PX_AT_720[0] + along * (SEARCH_PX_AT_720[1] - SEARCH_PX_AT_720[0])))
        left, right = max(0, round(x) - half), min(width, round(x) + half + 1)
        if right - left < 3:
            continue
        window = ridges[row, left:right]
        peak = int(np.argmax(window))
        if window[peak] < MIN_RIDGE:
            continue
        # the paint's extent around the peak, followed past the window (a window narrower than
        # the paint would pull the centre towards the rough line); wider than paint can be at this
        # row, it is a bright patch of road, not a line
        line, half_height = ridges[row], 0.5 * window[peak]
        widest = scale * (MAX_PAINT_PX_AT_720[0] + along * (MAX_PAINT_PX_AT_720[1] - MAX_PAINT_PX_AT_720[0]))
        start = end = left + peak
        while start > 0 and line[start - 1] >= half_height and end - start <= widest:
            start -= 1
        while end < width - 1 and line[end + 1] >= half_height and end - start <= widest:
            end += 1
        if end - start > widest:
            continue
        found_rows.append(row)
        found_x.append(0.5 * (start + end))
    found_rows_a, found_x_a = np.asarray(found_rows, np.float64), np.asarray(found_x, np.float64)
    if found_rows_a.size < MIN_PAINT_ROWS or np.ptp(found_rows_a) < 0.3 * span:
        return rough, found_rows_a
    keep = np.ones(found_rows_a.size, bool)
    for _ in range(4):
        coeffs = np.polyfit(
            found_rows_a[keep], found_x_a[keep], 2 if np.ptp(found_rows_a[keep]) > 0.5 * span else 1
        )
        residual = np.abs(np.polyval(coeffs, found_rows_a) - found_x_a)
        keep = residual < max(2.0, 2.5 * float(np.median(residual[keep])))
    fitted = np.polyval(coeffs, rows)
    # Past the paint's rows the fit may bend; hand over to the rough line's slope there.
    low, high = found_rows_a[keep].min(), found_rows_a[keep].max()
    above, below = rows < low, rows > high
    fitted[above] = np.polyval(coeffs, low) + (rough[above] - _rough_x(lane, np.array([low]))[0])
    fitted[below] = np.polyval(coeffs, high) + (rough[below] - _rough_x(lane, np.array([high]))[0])
    return fitted, found_rows_a[keep]


def label_frame(root: Path, frame: dict[str, Any]) -> tuple[TuSimpleLabel, np.ndarray]:
    image = cv2.imread(str(root / frame["raw_file"]))
    if image is None:
        raise FileNotFoundError(root / frame["raw_file"])
    height = image.shape[0]
    ridges = paint_ridges(image)
    lanes = [_rough_lanes(entry) for entry in frame["lanes"]]
    h_samples = tusimple_h_samples(height, min(lane.top for lane in lanes))
    overlay = image.copy()
    xs_per_lane = []
    for lane in lanes:
        fitted, paint_rows = snap_lane(ridges, lane)
        rows = np.arange(int(np.ceil(lane.top)), int(np.floor(lane.bottom)) + 1)
        cv2.polylines(
            overlay, [np.stack([_rough_x(lane, rows), rows], 1).astype(np.int32)], False, (255, 0, 255), 1
        )
        for row in paint_rows.astype(int):
            cv2.circle(overlay, (round(np.interp(row, rows, fitted)), int(row)), 1, (0, 255, 255), -1)
        xs = []
        for h in h_samples:
            inside = lane.top <= h <= lane.bottom
            x = float(np.interp(h, rows, fitted)) if inside else -2.0
            xs.append(round(x, 1) if 0 <= x < image.shape[1] else -2)
            if xs[-1] != -2:
                cv2.circle(overlay, (round(x), int(h)), 3, (0, 255, 0), -1)
        xs_per_lane.append(xs)
    return TuSimpleLabel(frame["raw_file"], [float(h) for h in h_samples], xs_per_lane, {}), overlay


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("rough", type=Path, help="YAML of rough lane lines (see the module docstring)")
    parser.add_argument("--root", type=Path, help="image root (default: the YAML's root)")
    parser.add_argument("--out", type=Path, required=True, help="TuSimple label file to write")
    parser.add_argument("--overlays", type=Path, help="folder for one overlay per frame")
    args = parser.parse_args()
    spec = yaml.safe_load(args.rough.read_text())
    root = args.root or Path(spec["root"])
    labels = []
    for frame in spec["frames"]:
        label, overlay = label_frame(root, frame)
        labels.append(label)
        if args.overlays:
            args.overlays.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(args.overlays / (Path(frame["raw_file"]).stem + ".png")), overlay)
    count = write_tusimple_labels(args.out, labels)
    print(f"{count} frames, {sum(len(label.lanes) for label in labels)} lanes -> {args.out}")


if __name__ == "__main__":
    main()
