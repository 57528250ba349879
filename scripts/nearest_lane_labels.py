"""A TuSimple label file cut to the lines TuSimple itself labels: the ego lane's two and the next one out.

The project's real stills (``labels/real_front/tusimple.json``) label every line a person can see;
TuSimple and CULane label at most the ego lane's two lines and the next one out on each side, which is
what ``seg-perception eval --tusimple`` scores by default (``--lanes-per-side 2``). This writes the same
frames labelled that way, so that default is measured against the convention it follows::

    python scripts/nearest_lane_labels.py labels/real_front/tusimple.json \\
        --root ../shared/realdata/front --out labels/real_front/tusimple_nearest.json
    seg-perception eval MODEL --tusimple labels/real_front/tusimple_nearest.json \\
        --tusimple-root ../shared/realdata/front

A line's side and rank come from where it meets the frame's bottom row (a straight fit of its lowest
labelled points, extended) against the frame's middle column: the camera looks along the car.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from seg_perception.data.lanes import TuSimpleLabel, read_tusimple_labels, write_tusimple_labels
from seg_perception.metrics.lanes import BENCHMARK_LANES_PER_SIDE

LOWEST_POINTS = 6  # a line's lowest labelled points fitted to find where it meets the bottom row


def bottom_crossing(lane: list[float], h_samples: list[float], bottom_row: float) -> float | None:
    """Where a labelled lane, extended straight from its lowest points, meets ``bottom_row``; None for a
    lane of fewer than two labelled points."""
    xs, rows = np.asarray(lane, np.float64), np.asarray(h_samples, np.float64)
    labelled = xs >= 0
    if labelled.sum() < 2:
        return None
    lowest = np.argsort(-rows[labelled])[:LOWEST_POINTS]
    slope, offset = np.polyfit(rows[labelled][lowest], xs[labelled][lowest], 1)
    return float(slope * bottom_row + offset)


def nearest_lanes(label: TuSimpleLabel, size: tuple[int, int], per_side: int) -> TuSimpleLabel:
    """``label`` with only the ``per_side`` lines nearest the car on each side, in their original order.

    Args:
        size: The frame's ``(height, width)``.
    """
    height, width = size
    middle = (width - 1) / 2.0
    crossings = [bottom_crossing(lane, label.h_samples, height - 1) for lane in label.lanes]
    left = sorted(
        (i for i, x in enumerate(crossings) if x is not None and x < middle), key=lambda i: -crossings[i]
    )
    right = sorted(
        (i for i, x in enumerate(crossings) if x is not None and x >= middle), key=lambda i: crossings[i]
    )
    kept = set(left[:per_side] + right[:per_side])
    lanes = [lane for index, lane in enumerate(label.lanes) if index in kept]
    return TuSimpleLabel(
        raw_file=label.raw_file, h_samples=label.h_samples, lanes=lanes, extra=dict(label.extra)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("labels", type=Path, help="TuSimple label file (JSON lines)")
    parser.add_argument("--root", type=Path, required=True, help="folder the raw_file paths start in")
    parser.add_argument("--out", type=Path, required=True, help="the label file to write")
    parser.add_argument(
        "--per-side",
        type=int,
        default=BENCHMARK_LANES_PER_SIDE,
        help=f"lines kept on each side of the car (default {BENCHMARK_LANES_PER_SIDE}, TuSimple's)",
    )
    args = parser.parse_args(argv)
    cut = []
    for label in read_tusimple_labels(args.labels):
        image = cv2.imread(str(args.root / label.raw_file), cv2.IMREAD_COLOR)
        if image is None:
            parser.error(f"cannot read {args.root / label.raw_file}")
        cut.append(nearest_lanes(label, (int(image.shape[0]), int(image.shape[1])), args.per_side))
    count = write_tusimple_labels(args.out, cut)
    kept = sum(len(label.lanes) for label in cut)
    print(f"wrote {count} frames, {kept} lines, to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
