"""Labelled lane frames seen by other cameras: the same frames cropped and rescaled, labels moved along.

A handful of labelled real frames says little about frames framed otherwise: a camera mounted
higher or pitched down (its horizon nearer the top), one that shows no hood, a narrower field of
view, a lower or higher resolution. Each variant here applies one such change to every frame of a
TuSimple label file and writes the frames and their labels, so ``seg-perception eval --tusimple``
scores the same paint under each framing::

    python scripts/reframe_lane_labels.py labels/real_front/tusimple.json \\
        --root ../shared/realdata/front --out out/reframed
    seg-perception eval MODEL --tusimple out/reframed/crop_top/tusimple.json --lanes-per-side 0

Variants (``--variants`` picks some; shares of the frame's height or width):

- ``crop_top``: the top 15 % cut off (the horizon higher in the frame).
- ``crop_bottom``: the bottom 7 % cut off (less or none of the hood).
- ``narrow``: the middle 80 % of the width (a narrower field of view).
- ``half`` / ``double``: the frame at half / twice its size (INTER_AREA / INTER_LINEAR).
- ``wide``: the top 25 % and the bottom 11 % cut off: CULane's 1640x590 shape (2.78 : 1), a wide view
  with its horizon higher and no hood.

Labels are moved with their frame, at the original rows moved along (those still inside it); label
points that fall outside the new frame are dropped.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from seg_perception.data.lanes import TuSimpleLabel, read_tusimple_labels, write_tusimple_labels


@dataclass(frozen=True)
class Reframing:
    """A crop (shares of the frame cut from each side) followed by a rescale."""

    top: float = 0.0
    bottom: float = 0.0
    side: float = 0.0  # cut from the left and from the right
    scale: float = 1.0

    def crop_box(self, size: tuple[int, int]) -> tuple[int, int, int, int]:
        """``(row0, row1, col0, col1)`` of the kept part of a ``(height, width)`` frame."""
        height, width = size
        row0, row1 = round(self.top * height), height - round(self.bottom * height)
        col0 = round(self.side * width)
        return row0, row1, col0, width - col0

    def image(self, image: np.ndarray) -> np.ndarray:
        row0, row1, col0, col1 = self.crop_box(image.shape[:2])
        kept = image[row0:row1, col0:col1]
        if self.scale == 1.0:
            return kept.copy()
        interpolation = cv2.INTER_AREA if self.scale < 1.0 else cv2.INTER_LINEAR
        size = (round(kept.shape[1] * self.scale), round(kept.shape[0] * self.scale))
        return cv2.resize(kept, size, interpolation=interpolation)

    def label(self, label: TuSimpleLabel, size: tuple[int, int], raw_file: str) -> TuSimpleLabel:
        """``label`` of a ``size`` frame moved into the reframed one (named ``raw_file``)."""
        row0, row1, col0, col1 = self.crop_box(size)
        new_height = round((row1 - row0) * self.scale)
        new_width = round((col1 - col0) * self.scale)
        lines = []
        for line in label.polylines():
            moved = (line - [col0, row0]) * self.scale
            inside = (
                (moved[:, 0] >= 0)
                & (moved[:, 0] <= new_width - 1)
                & (moved[:, 1] >= 0)
                & (moved[:, 1] <= new_height - 1)
            )
            if inside.sum() >= 2:
                lines.append(moved[inside])
        # the original's rows, moved with the frame (those still inside it)
        rows = (np.asarray(label.h_samples, dtype=np.float64) - row0) * self.scale
        h_samples = np.round(rows[(rows >= 0) & (rows <= new_height - 1)], 1)
        return TuSimpleLabel.from_polylines(raw_file, lines, h_samples)


VARIANTS = {
    "crop_top": Reframing(top=0.15),
    "crop_bottom": Reframing(bottom=0.07),
    "narrow": Reframing(side=0.1),
    "half": Reframing(scale=0.5),
    "double": Reframing(scale=2.0),
    "wide": Reframing(top=0.25, bottom=0.11),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("labels", type=Path, help="TuSimple label file (JSON lines)")
    parser.add_argument("--root", type=Path, help="folder the raw_file paths start in (default: the file's)")
    parser.add_argument("--out", type=Path, required=True, help="one folder per variant is written here")
    parser.add_argument("--variants", nargs="+", choices=sorted(VARIANTS), default=sorted(VARIANTS))
    args = parser.parse_args()
    root = args.root if args.root is not None else args.labels.parent
    labels = read_tusimple_labels(args.labels)
    for name in args.variants:
        reframing, folder = VARIANTS[name], args.out / name
        moved = []
        for label in labels:
            image = cv2.imread(str(root / label.raw_file), cv2.IMREAD_COLOR)
            if image is None:
                raise SystemExit(f"cannot read {root / label.raw_file}")
            target = folder / label.raw_file
            target.parent.mkdir(parents=True, exist_ok=True)
            if not cv2.imwrite(str(target), reframing.image(image)):
                raise SystemExit(f"cannot write {target}")
            moved.append(reframing.label(label, image.shape[:2], label.raw_file))
        count = write_tusimple_labels(folder / "tusimple.json", moved)
        print(f"{name}: {count} frames in {folder}")


if __name__ == "__main__":
    main()
