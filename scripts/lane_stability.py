"""How steady the lane output of a real recording is, without labels.

Reads the ``predictions.jsonl`` that ``seg-perception predict`` (a video, or a folder with
``--sequence``) or ``process`` (a bag) writes, and prints the ego lane's width spread, the frame-to-frame
steps of the car's lateral offset (and how many jump), the heading's spread and how long each boundary
id held its position (``seg_perception.metrics.lane_stability``)::

    seg-perception predict ../shared/realdata/front/highway_960x540/solidWhiteRight.mp4 \\
        --camera-info udacity_960.yaml --mounting 1.242778,-1.10034,0,-1.070865 --video none --out out/video
    python scripts/lane_stability.py out/video/predictions.jsonl
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from seg_perception.metrics.lane_stability import JUMP_M, lane_stability


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("predictions", type=Path, help="predictions.jsonl of predict or process")
    parser.add_argument(
        "--jump",
        type=float,
        default=JUMP_M,
        help=f"a step of the lateral offset larger than this is a jump (default {JUMP_M} m)",
    )
    args = parser.parse_args(argv)
    with args.predictions.open(encoding="utf-8") as lines:
        records = [json.loads(line) for line in lines if line.strip()]
    print(lane_stability(records, jump=args.jump).format())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
