"""Before/after pictures of the lane boundaries for docs/images/lanes/ (run from the repository root).

    .venv/bin/python scripts/lane_pictures.py [--model FILE] [--out docs/images/lanes] \
        [--real ../shared/realdata/front] [--every-still DIR]

The ``*_shipped`` pictures show the shipped defaults (docs/lanes.md); redraw them whenever a default
model or setting changes. The older ``real_after*.png`` / ``synthetic_after*.png`` pictures of
docs/lanes_history.md were drawn by earlier versions of this script and stay as they were.
``--model`` defaults to the highway scenario's CPU default (``cpu_model_file`` in
``config/highway.yaml``), i.e. what ``seg-perception predict`` runs on this machine.

- ``real_paint_regions.jpg``: the model's paint pixels and per-region polygons (what the node published
  before lane boundaries), on the MIT-licensed real highway frames of ``../shared/realdata/front``;
- ``real_shipped.jpg``: the same frames with the tracked lane boundaries (image space: no calibration);
- ``synthetic_shipped.jpg``: a held-out synthetic drive with the true camera (metres): true lines thin
  cyan, boundaries drawn over them;
- ``calibration_grid.png``: ``seg-perception calibrate --synthetic highway``'s metric grid.

``--every-still DIR`` draws every still of ``--real`` instead (the docs pictures show six), each at
full resolution with its boundaries and a labelled 800x450 copy, and prints each still's boundary
positions: what to look at when judging a model change on the real frames.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import cv2
import numpy as np

from seg_perception.config import ScenarioConfig, load_scenario, scenario_model_path
from seg_perception.data.synthetic import generate_drive
from seg_perception.inference.base import SegmentationEngine
from seg_perception.inference.engine import create_engine
from seg_perception.inference.pipeline import SegmentationPipeline
from seg_perception.postprocess.camera_model import CameraModel, GroundMapper, draw_metric_grid
from seg_perception.training.lane_eval import drive_world, lanes_of_sample, true_lanes

FRAMES = (
    "highway_960x540/solidWhiteCurve.jpg",
    "highway_960x540/solidYellowCurve.jpg",
    "highway_960x540/whiteCarLaneSwitch.jpg",
    "highway_1280x720/test1.jpg",
    "highway_1280x720/test4.jpg",
    "highway_1280x720/straight_lines2.jpg",
)
TILE = (400, 225)


def sheet(tiles: list[np.ndarray], columns: int = 3) -> np.ndarray:
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def draw_every_still(engine: SegmentationEngine, scenario: ScenarioConfig, real: Path, out: Path) -> None:
    """Every still under ``real`` with its lane boundaries (a fresh pipeline per still, image space)."""
    stills = sorted(p for p in real.glob("*/*") if p.suffix.lower() in {".jpg", ".png"})
    if not stills:
        raise SystemExit(f"no stills under {real}: pass --real to the realdata/front folder")
    out.mkdir(parents=True, exist_ok=True)
    for path in stills:
        image = cv2.imread(str(path))
        if image is None:
            raise SystemExit(f"cannot read {path}")
        pipeline = SegmentationPipeline(engine, scenario, "front")
        result = pipeline.process(image)
        picture = pipeline.overlay(image, result.mask, lanes=result.lanes)
        cv2.imwrite(str(out / f"{path.stem}_full.png"), picture)
        small = cv2.resize(picture, (800, 450), interpolation=cv2.INTER_AREA)
        for colour, width in (((0, 0, 0), 4), ((255, 255, 255), 2)):
            cv2.putText(small, path.stem, (8, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.7, colour, width)
        cv2.imwrite(str(out / f"{path.stem}.png"), small)
        boundaries = sorted(b.position for b in result.lanes.boundaries) if result.lanes else []
        print(f"{path.stem}: {', '.join(boundaries) or 'no boundary'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="ONNX file (default: the scenario's CPU default)")
    parser.add_argument("--out", type=Path, default=Path("docs/images/lanes"))
    parser.add_argument(
        "--real", type=Path, default=Path("../shared/realdata/front"), help="real frames folder"
    )
    parser.add_argument("--every-still", type=Path, help="draw every real still into this folder instead")
    args = parser.parse_args()
    scenario = load_scenario("highway")
    model = args.model or scenario_model_path(scenario, "cpu")
    engine = create_engine(str(model), engine="onnxruntime", device="cpu", intra_op_threads=2)
    if args.every_still is not None:
        draw_every_still(engine, scenario, args.real, args.every_still)
        return
    args.out.mkdir(parents=True, exist_ok=True)
    before, after = [], []
    for name in FRAMES:
        image = cv2.imread(str(args.real / name))
        if image is None:
            raise SystemExit(f"cannot read {args.real / name}: pass --real to the realdata/front folder")
        pipeline = SegmentationPipeline(engine, scenario, "front")
        result = pipeline.process(image)
        old = pipeline.overlay(image, result.mask)
        for polygon in result.polygons:
            cv2.polylines(old, [np.round(polygon.points).astype(np.int32)], True, (0, 255, 255), 2)
        before.append(cv2.resize(old, TILE, interpolation=cv2.INTER_AREA))
        new = pipeline.overlay(image, result.mask, lanes=result.lanes)
        after.append(cv2.resize(new, TILE, interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(args.out / "real_paint_regions.jpg"), sheet(before))
    cv2.imwrite(str(args.out / "real_shipped.jpg"), sheet(after))

    size, frames, synthetic = (540, 960), 40, []
    for seed in (200000, 200003):
        world = drive_world(scenario, seed, frames, size, 30.0)
        pipeline = None
        for index, sample in enumerate(generate_drive(scenario, seed, frames, size=size)):
            if pipeline is None:
                camera = CameraModel.from_generator_meta(sample.meta["camera_model"], size)
                pipeline = SegmentationPipeline(
                    engine, scenario, "front", ground=GroundMapper.from_camera(camera)
                )
            result = pipeline.process(sample.image)
            if index in (10, 39):
                picture = pipeline.overlay(sample.image, result.mask, lanes=result.lanes)
                truth = (
                    lanes_of_sample(sample.lanes, size, sample.meta.get("hood_edge_px"))
                    if getattr(sample, "lanes", None)
                    else true_lanes(world, sample.meta["time_s"])
                )
                for lane in truth:
                    cv2.polylines(picture, [np.round(lane.image).astype(np.int32)], False, (255, 255, 0), 1)
                synthetic.append(cv2.resize(picture, (600, 338), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(args.out / "synthetic_shipped.jpg"), sheet(synthetic, columns=2))
    sample = next(generate_drive(scenario, 200000, 1, size=size))
    camera = CameraModel.from_generator_meta(sample.meta["camera_model"], size)
    grid = draw_metric_grid(sample.image, GroundMapper.from_camera(camera))
    cv2.imwrite(
        str(args.out / "calibration_grid.png"), cv2.resize(grid, (640, 360), interpolation=cv2.INTER_AREA)
    )


if __name__ == "__main__":
    main()
