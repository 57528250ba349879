"""``seg-perception generate``: write synthetic scenes to a folder.

Layout: ``images/<name>.png`` (BGR), ``masks/<name>.png`` (class ids),
``polygons/<name>.json`` (contest style: polygons with class, id, vertices; slots;
meta) and ``preview/<name>.jpg`` (image | colourised mask).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np

from seg_perception.config import SCENARIOS, load_scenario
from seg_perception.data.errors import DatasetError


def parse_size(text: str) -> tuple[int, int]:
    """``HxW`` -> (H, W)."""
    try:
        height, width = (int(v) for v in text.lower().split("x"))
    except ValueError as err:
        raise argparse.ArgumentTypeError(
            f"size {text!r} is not of the form HEIGHTxWIDTH, e.g. 640x640"
        ) from err
    if height < 16 or width < 16:
        raise argparse.ArgumentTypeError(f"size {text!r} is too small (at least 16x16)")
    return height, width


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scenario", required=True, help=f"{', '.join(SCENARIOS)} or a scenario YAML path")
    parser.add_argument("--count", type=int, default=20, help="number of scenes (default 20)")
    parser.add_argument("--seed", type=int, default=0, help="first seed; scene i uses seed + i")
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--size", type=parse_size, default=None, help="HEIGHTxWIDTH (default: the camera's)")
    parser.add_argument(
        "--drive", action="store_true", help="one temporally coherent drive instead of scenes"
    )
    parser.add_argument("--no-preview", action="store_true", help="skip the colour previews")


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from seg_perception.data.synthetic import generate_drive, generate_scene

    if args.count < 1:
        raise DatasetError(f"--count must be at least 1, got {args.count}")
    config = load_scenario(args.scenario)
    out: Path = args.out
    folders = {name: out / name for name in ("images", "masks", "polygons", "preview")}
    for name, folder in folders.items():
        if name != "preview" or not args.no_preview:
            folder.mkdir(parents=True, exist_ok=True)
    if args.drive:
        samples = generate_drive(config, args.seed, args.count, size=args.size)
    else:
        samples = (generate_scene(config, args.seed + i, size=args.size) for i in range(args.count))
    colors = config.classes.colors_bgr
    for index, sample in enumerate(
        tqdm(samples, total=args.count, desc=f"generate {config.name}", unit="scene")
    ):
        name = f"{config.name}_{args.seed + (0 if args.drive else index):06d}"
        if args.drive:
            name += f"_{index:05d}"
        cv2.imwrite(str(folders["images"] / f"{name}.png"), sample.image)
        cv2.imwrite(str(folders["masks"] / f"{name}.png"), sample.mask)
        (folders["polygons"] / f"{name}.json").write_text(json.dumps(sample.to_json()))
        if not args.no_preview:
            preview = np.hstack([sample.image, colors[sample.mask]])
            cv2.imwrite(str(folders["preview"] / f"{name}.jpg"), preview, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.count} {config.name} scenes to {out}")
    return 0
