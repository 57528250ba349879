"""Contact sheet of synthetic front-camera scenes: image | labels with the lane ground truth.

Usage: python scripts/front_contact_sheet.py [--out docs/images/synthetic_front.jpg] [--seed 0] [--count 16]

Each tile pair shows the rendered frame (with its time of day and weather) and the same frame
with lane paint in yellow, crosswalks in blue and the lane-boundary ground truth in magenta
(solid where visible, thin where hidden by vehicles, snow or the hood).
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import cv2
import numpy as np

from seg_perception.data.synthetic import generate_scene

TILE = (216, 384)


def tile_pair(scenario: str, seed: int) -> np.ndarray:
    sample = generate_scene(scenario, seed, size=TILE)
    image = sample.image.copy()
    labels = sample.image.copy()
    labels[sample.mask == 1] = (0, 230, 255)
    labels[sample.mask == 2] = (255, 160, 0)
    for lane in sample.lanes:
        points = np.round(lane.image).astype(np.int32)
        for (a, b), seen in zip(itertools.pairwise(points), lane.visible[1:], strict=True):
            cv2.line(labels, tuple(map(int, a)), tuple(map(int, b)), (255, 0, 255), 2 if seen else 1)
    conditions = sample.meta["conditions"]
    text = f"{scenario} {seed}: {conditions['time']}, {conditions['weather']}"
    cv2.putText(image, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(image, text, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
    return np.hstack([image, labels, np.full((TILE[0], 4, 3), 255, np.uint8)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/images/synthetic_front.jpg"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--count", type=int, default=16)
    args = parser.parse_args()
    pairs = [tile_pair("road" if i % 3 == 0 else "highway", args.seed + i) for i in range(args.count)]
    rows = [np.hstack(pairs[k : k + 2]) for k in range(0, len(pairs) - 1, 2)]
    rows = [np.vstack([row, np.full((4, row.shape[1], 3), 255, np.uint8)]) for row in rows]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(args.out), np.vstack(rows), [cv2.IMWRITE_JPEG_QUALITY, 82])
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
