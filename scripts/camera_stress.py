"""Lane boundaries under another camera's exposure and colour: labelled frames changed, labels kept.

A real camera exposes darker or brighter, white-balances bluer or yellower, blurs and compresses
differently from the generator and from the cameras of the labelled frames. This runs ``seg-perception eval``
on the same frames changed the way another camera would change them (the geometry, and so the labels,
stay), to see which of those changes the lane boundaries survive::

    python scripts/camera_stress.py weights/highway_hrnetv2_w18_small_v1_mirror_int8.onnx \\
        --tusimple labels/real_front/tusimple.json --tusimple-root ../shared/realdata/front --lanes-per-side 0
    python scripts/camera_stress.py weights/highway_hrnetv2_w18_small_v1_mirror_int8.onnx \\
        --variant dark_drive --lanes --drives 28 --frames 30 --seed-start 4400 --scenario config/highway.yaml

Every argument after the model (and ``--variant``) is ``eval``'s. Labelled files are changed into a
temporary folder (never into the repository); generated drives are changed frame by frame as they are
drawn. Noise is seeded, so a run repeats exactly.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import cv2
import numpy as np

Change = Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _scaled(image: np.ndarray, bgr: tuple[float, float, float]) -> np.ndarray:
    return np.clip(image.astype(np.float32) * np.array(bgr, np.float32), 0, 255).astype(np.uint8)


def _gamma(image: np.ndarray, gamma: float) -> np.ndarray:
    return (255.0 * (image / 255.0) ** gamma).astype(np.uint8)


def _noisy(image: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    noisy = image.astype(np.float32) + rng.normal(0.0, sigma, image.shape).astype(np.float32)
    return np.clip(noisy, 0, 255).astype(np.uint8)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    _, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, quality])
    decoded = cv2.imdecode(data, cv2.IMREAD_COLOR)
    if decoded is None:
        raise SystemExit("cannot decode a JPEG it just encoded")
    return np.asarray(decoded, np.uint8)


#: how another camera might show the same scene (the ``*_drive`` ones are meant for generated drives)
CHANGES: dict[str, Change] = {
    "original": lambda image, rng: image,
    "dark": lambda image, rng: _noisy(_scaled(image, (0.4, 0.4, 0.4)), rng, 3.0),
    "night": lambda image, rng: _noisy(_gamma(_scaled(image, (0.15, 0.15, 0.15)), 1.2), rng, 4.0),
    "underexposed": lambda image, rng: _noisy(_scaled(image, (0.2, 0.2, 0.2)), rng, 2.0),
    "bright": lambda image, rng: _scaled(image, (1.7, 1.7, 1.7)),
    "haze": lambda image, rng: (0.5 * image + 100.0).astype(np.uint8),
    "blue_cast": lambda image, rng: _scaled(image, (1.3, 1.0, 0.75)),
    "sodium_cast": lambda image, rng: _scaled(image, (0.7, 1.0, 1.2)),
    "dusk_warm": lambda image, rng: _noisy(_scaled(image, (0.24, 0.3, 0.33)), rng, 3.0),
    "green_cast": lambda image, rng: _scaled(image, (1.0, 1.35, 1.0)),
    "motion_blur": lambda image, rng: cv2.filter2D(image, -1, np.ones((1, 9), np.float32) / 9.0),
    "defocus": lambda image, rng: cv2.GaussianBlur(image, (0, 0), 2.5),
    "jpeg_15": lambda image, rng: _jpeg(image, 15),
    "dark_drive": lambda image, rng: _noisy(_gamma(_scaled(image, (0.25, 0.25, 0.25)), 1.3), rng, 3.0),
    "cast_drive": lambda image, rng: _scaled(image, (1.25, 1.0, 0.8)),
}
STILL_CHANGES = [name for name in CHANGES if not name.endswith("_drive")]


def _eval(argv: list[str]) -> dict[str, Any]:
    from seg_perception.cli import main

    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.json"
        if main(["eval", *argv, "--json", str(report)]) != 0:
            raise SystemExit(f"eval {' '.join(argv)} failed")
        result: dict[str, Any] = json.loads(report.read_text())
        return result


def _changed_stills(root: Path, labels: Path, change: Change, target: Path) -> Path:
    """The labelled files of ``labels`` under ``root``, changed, as PNG under ``target`` (no second JPEG
    compression); returns the labels renamed to them."""
    rng = np.random.default_rng(0)
    renamed = []
    for line in labels.read_text().splitlines():
        if not line.strip():
            continue
        label = json.loads(line)
        image = cv2.imread(str(root / label["raw_file"]), cv2.IMREAD_COLOR)
        if image is None:
            raise SystemExit(f"cannot read {root / label['raw_file']}")
        label["raw_file"] = str(Path(label["raw_file"]).with_suffix(".png"))
        (target / label["raw_file"]).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(target / label["raw_file"]), change(image, rng))
        renamed.append(json.dumps(label))
    changed_labels = target / labels.name
    changed_labels.write_text("\n".join(renamed) + "\n")
    return changed_labels


def _with_changed_drives(change: Change) -> None:
    """Generated drives' frames changed as they are drawn (their truth kept)."""
    from seg_perception.training import lane_eval

    frames = lane_eval._frames

    def changed(*args: Any, **kwargs: Any) -> Iterator[Any]:
        rng = np.random.default_rng(0)
        for sample in frames(*args, **kwargs):
            yield dataclasses.replace(sample, image=change(sample.image, rng))

    lane_eval._frames = changed


def _line(name: str, report: dict[str, Any]) -> str:
    scores = report.get("tusimple") or report
    accuracy, fp, fn = (scores.get(k, scores.get(f"tusimple_{k}")) for k in ("accuracy", "fp", "fn"))
    return f"{name:14s} TuSimple accuracy {accuracy:.4f}  FP {fp:.4f}  FN {fn:.4f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="the model file, as eval takes it")
    parser.add_argument(
        "--variant",
        action="append",
        choices=sorted(CHANGES),
        help="a change to run (repeatable; default: every change meant for labelled stills)",
    )
    args, eval_args = parser.parse_known_args(argv)
    variants = args.variant or STILL_CHANGES
    if "--tusimple" in eval_args:
        labels_at = eval_args.index("--tusimple") + 1
        labels = Path(eval_args[labels_at])
        root_at = eval_args.index("--tusimple-root") + 1 if "--tusimple-root" in eval_args else None
        root = Path(eval_args[root_at]) if root_at is not None else labels.parent
        for name in variants:
            with tempfile.TemporaryDirectory() as folder:
                changed_args = list(eval_args)
                changed_args[labels_at] = str(_changed_stills(root, labels, CHANGES[name], Path(folder)))
                if root_at is None:
                    changed_args += ["--tusimple-root", folder]
                else:
                    changed_args[root_at] = folder
                print(_line(name, _eval([args.model, *changed_args])), flush=True)
        return 0
    if len(variants) != 1:
        raise SystemExit("generated drives take one --variant per run")
    _with_changed_drives(CHANGES[variants[0]])
    print(_line(variants[0], _eval([args.model, *eval_args])), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
