"""``seg-perception generate``: write synthetic scenes to a folder.

Layout: ``images/<name>.png`` (BGR), ``masks/<name>.png`` (class ids),
``polygons/<name>.json`` (contest style: polygons with class, id, vertices; slots;
marking points; front scenes' lane boundaries with the true camera in meta) and
``preview/<name>.jpg`` (image | colourised mask). Parking scenes also get
``labels/<name>.json`` in the DMPR-PS (ps2.0) form, so ``seg-perception eval --avm`` scores a
model on them like on real labelled AVM images. Front scenarios can also write TuSimple labels
(``--tusimple``: ``tusimple.json``, JSON lines whose ``raw_file`` is relative to the output
folder) and CULane labels (``--culane``: ``images/<name>.lines.txt``), of the lines those benchmarks
label (the ego lane's and the next one out on each side; ``--lanes-per-side 0``: every line in
sight). ``--sheet PNG`` writes
a contact sheet of the scenes (image over mask, slots and marking points drawn).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from seg_perception.cli_args import add_size_argument, probability
from seg_perception.config import ScenarioConfig, load_scenario, scenario_names
from seg_perception.data.errors import DatasetError
from seg_perception.data.parking_labels import to_dmpr_json
from seg_perception.data.synthetic.sample import SceneSample
from seg_perception.data.synthetic.scenes import DRIVE_FPS
from seg_perception.metrics.lanes import BENCHMARK_LANES_PER_SIDE

MIN_SIZE = 16  # smaller scenes have no room for a lane or a slot


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario", required=True, help=f"{', '.join(scenario_names())} or a scenario YAML path"
    )
    parser.add_argument("--count", type=int, default=20, help="number of scenes (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="first seed; scene i uses seed + i")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    add_size_argument(parser, "--size", "frame size (default: the camera's)", minimum=MIN_SIZE, default=None)
    parser.add_argument(
        "--drive", action="store_true", help="one temporally coherent drive instead of scenes"
    )
    parser.add_argument(
        "--fps",
        type=float,
        default=DRIVE_FPS,
        help=f"--drive: frames a second, the time between frames (default {DRIVE_FPS:g}; TuSimple's "
        "clips: 20)",
    )
    parser.add_argument(
        "--lane-changes",
        type=probability,
        default=0.0,
        metavar="P",
        help="--drive, front scenarios: probability that the car moves into the next lane during the "
        "drive (3-6 s; default 0)",
    )
    parser.add_argument("--no-preview", action="store_true", help="skip the colour previews")
    parser.add_argument(
        "--metres-per-pixel",
        type=parse_metres_per_pixel,
        default=None,
        help="AVM scenes: ground resolution, a value or LOW:HIGH drawn per scene (default: the camera's)",
    )
    parser.add_argument("--sheet", type=Path, help="also write a contact sheet PNG of the scenes here")
    parser.add_argument(
        "--sheet-columns", type=int, default=6, help="scenes per contact-sheet row (default 6)"
    )
    parser.add_argument(
        "--tusimple", action="store_true", help="also write TuSimple lane labels to OUT/tusimple.json (front)"
    )
    parser.add_argument(
        "--culane", action="store_true", help="also write CULane lane files images/<name>.lines.txt (front)"
    )
    parser.add_argument(
        "--lanes-per-side",
        type=int,
        default=BENCHMARK_LANES_PER_SIDE,
        help="--tusimple / --culane: label this many lines on each side of the car (default "
        f"{BENCHMARK_LANES_PER_SIDE}: the ego lane's and the next one out, as TuSimple and CULane do); "
        "0: every line in sight",
    )


def parse_metres_per_pixel(text: str) -> float | tuple[float, float]:
    """``0.02`` or ``0.01:0.03``."""
    try:
        values = [float(v) for v in text.split(":")]
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"metres per pixel {text!r} is not a number or LOW:HIGH") from err
    if len(values) not in (1, 2) or min(values) <= 0 or values[0] > values[-1]:
        raise argparse.ArgumentTypeError(
            f"metres per pixel {text!r}: a positive value or LOW:HIGH, LOW <= HIGH"
        )
    return values[0] if len(values) == 1 else (values[0], values[1])


def annotated(sample: Any, colors: np.ndarray) -> np.ndarray:
    """The scene's image over its colourised mask with slots (entrance magenta), marking points and lanes."""
    from seg_perception.data.synthetic.sample import runs_where  # the generator's package, as run() loads it

    truth = colors[sample.mask].copy()
    for slot in sample.slots:
        corners = np.round(slot.corners).astype(np.int32)
        cv2.polylines(truth, [corners], True, (255, 160, 0) if slot.free else (0, 120, 255), 1, cv2.LINE_AA)
        cv2.line(truth, tuple(corners[0]), tuple(corners[1]), (255, 0, 255), 2, cv2.LINE_AA)
    for mark in sample.marking_points:
        x, y = (float(v) for v in mark.position)
        tip = (round(x + 12 * np.cos(mark.direction)), round(y + 12 * np.sin(mark.direction)))
        colour = (0, 0, 255) if not mark.occluded else (0, 200, 255)
        cv2.circle(truth, (round(x), round(y)), 4, colour, 1, cv2.LINE_AA)
        cv2.line(truth, (round(x), round(y)), tip, colour, 1, cv2.LINE_AA)
        cv2.putText(
            truth, mark.shape, (round(x) + 5, round(y) - 5), cv2.FONT_HERSHEY_SIMPLEX, 0.35, colour, 1
        )
    for lane in getattr(sample, "lanes", []):
        # a line's stretches with an image position (none where the lens folds back, NaN)
        placed = np.isfinite(lane.image).all(axis=1)
        polylines = [np.round(lane.image[k]).astype(np.int32) for k in runs_where(placed)]
        if polylines:
            cv2.polylines(truth, polylines, False, (255, 0, 255), 1, cv2.LINE_AA)
    return np.vstack([sample.image, truth])


def _check(args: argparse.Namespace, config: ScenarioConfig) -> None:
    if args.count < 1:
        raise DatasetError(f"--count must be at least 1, got {args.count}")
    if not args.fps > 0:
        raise DatasetError(f"--fps must be above 0, got {args.fps}")
    if args.lanes_per_side < 0:
        raise DatasetError(f"--lanes-per-side must be 0 (every line) or more, got {args.lanes_per_side}")
    if (args.tusimple or args.culane) and config.primary_camera != "front":
        raise DatasetError(f"--tusimple / --culane need a front-camera scenario; {config.name} is not one")


def _slot_label(sample: SceneSample) -> dict[str, Any]:
    """A parking scene's marking points and slots in the DMPR-PS JSON form, with its size and scale."""
    label = to_dmpr_json(sample.marking_points, sample.slots)
    label["image_size"] = [int(v) for v in sample.mask.shape]
    label["metres_per_pixel"] = sample.meta.get("metres_per_pixel")
    return label


def _write_sheet(path: Path, tiles: list[np.ndarray], columns: int) -> None:
    """The scenes' pictures in rows of ``columns`` (the last row padded black)."""
    tiles = tiles + [np.zeros_like(tiles[0])] * (-len(tiles) % columns)
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.vstack(rows))


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from seg_perception.data.lanes import (
        scene_lane_polylines,
        scene_tusimple_label,
        write_culane_lines,
        write_tusimple_labels,
    )
    from seg_perception.data.synthetic import generate_drive, generate_scene

    config = load_scenario(args.scenario)
    _check(args, config)
    out: Path = args.out
    folders = {name: out / name for name in ("images", "masks", "polygons", "preview", "labels")}
    parking = config.synthetic_scene == "parking"  # scenes with slots and marking points
    for name, folder in folders.items():
        if (name != "preview" or not args.no_preview) and (name != "labels" or parking):
            folder.mkdir(parents=True, exist_ok=True)
    mpp = args.metres_per_pixel
    if args.drive:
        samples = generate_drive(
            config,
            args.seed,
            args.count,
            size=args.size,
            fps=args.fps,
            metres_per_pixel=mpp,
            lane_change_p=args.lane_changes,
        )
    else:
        samples = (
            generate_scene(config, args.seed + i, size=args.size, metres_per_pixel=mpp)
            for i in range(args.count)
        )
    colors = config.classes.colors_bgr
    sheet: list[np.ndarray] = []
    tusimple = []
    for index, sample in enumerate(
        tqdm(samples, total=args.count, desc=f"generate {config.name}", unit="scene")
    ):
        name = f"{config.name}_{args.seed + (0 if args.drive else index):06d}"
        if args.drive:
            name += f"_{index:05d}"
        cv2.imwrite(str(folders["images"] / f"{name}.png"), sample.image)
        cv2.imwrite(str(folders["masks"] / f"{name}.png"), sample.mask)
        (folders["polygons"] / f"{name}.json").write_text(json.dumps(sample.to_json()))
        if parking:
            (folders["labels"] / f"{name}.json").write_text(json.dumps(_slot_label(sample)))
        if args.tusimple:
            tusimple.append(
                scene_tusimple_label(sample, f"images/{name}.png", lanes_per_side=args.lanes_per_side)
            )
        if args.culane:
            write_culane_lines(
                folders["images"] / f"{name}.lines.txt",
                scene_lane_polylines(sample, lanes_per_side=args.lanes_per_side),
            )
        if not args.no_preview:
            preview = np.hstack([sample.image, colors[sample.mask]])
            cv2.imwrite(str(folders["preview"] / f"{name}.jpg"), preview, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if args.sheet is not None:
            sheet.append(annotated(sample, colors))
    if args.tusimple:
        write_tusimple_labels(out / "tusimple.json", tusimple)
    print(f"wrote {args.count} {config.name} scenes to {out}")
    if args.sheet is not None:
        _write_sheet(args.sheet, sheet, max(1, args.sheet_columns))
        print(f"wrote contact sheet {args.sheet}")
    return 0
