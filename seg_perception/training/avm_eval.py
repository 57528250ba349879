"""``seg-perception eval MODEL --avm DIR``: marking points and slots on real AVM images with point labels.

DIR holds AVM images (any depth) and their labels: DMPR-PS JSON (ps2.0) or LabelMe XML/JSON,
found beside each image or in a sibling label folder (see
:func:`seg_perception.data.parking_labels.find_label`), or listed in a CSV (``--index``, columns
``image``, ``label_xml`` or ``label``, optional ``category``). Images without a label are
skipped and counted. Results are grouped by ``category`` (CSV) or by the first folder under DIR;
on a folder written by ``seg-perception generate`` each scene also counts in a group per kind of
row marking it has (``rows solid``, ``rows double``, ``rows bands``, ``rows platforms``, ...) and
in ``indoor`` or ``outdoor`` (from the scene's ``polygons/<name>.json``), so a change that helps
one kind of lot and hurts another shows.

Predicted marking points are the pipeline's own when it provides them (``marking_points`` on
its result), else the entrance corners of its slots, merged where neighbouring slots share
a corner. Metrics: :mod:`seg_perception.metrics.parking`.

``oracle=True`` (``--oracle``) measures the slot assembly alone, on folders written by
``seg-perception generate``: the labelled marking points (positions and directions, heat 1)
and the true class mask (``masks/<name>.png`` beside ``images/``) go through the pipeline's
own assembly step (:meth:`~seg_perception.inference.pipeline.SegmentationPipeline.slots_from_marking_points`:
the scenario's priors, paint and free-space checks) instead of the model, which is never run
(it only names the scenario). Point metrics are then 1 by construction; the slot metrics are
what the assembly would give a perfect detector.

``--metres-per-pixel`` is the ground resolution **of the label frame** (ps2.0: 600 x 600 px
over ~10 m, about 0.0167); an image stored at another size than its label frame scales it.
It overrides a ``metres_per_pixel`` written in the labels (``seg-perception generate`` writes
one); without either, the ps2.0 convention holds: each image spans 10 m across its width, for
the model's input scale and for the thresholds (10 px per 600 px of width), and no centimetres are
reported (``ps2_scale_assumed`` in the report).
"""

from __future__ import annotations

import csv
import dataclasses
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import cv2
import numpy as np

from seg_perception.config import ScenarioConfig
from seg_perception.data.parking_labels import ParkingLabel, find_label, read_parking_label
from seg_perception.errors import ConfigError
from seg_perception.metrics.parking import (
    DEFAULT_THRESHOLD_M,
    POINT_SOURCES,
    ParkingAccumulator,
    frame_threshold_px,
    marking_point_positions,
    merge_points,
    ps2_metres_per_pixel,
    slot_entrances,
)

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")


@dataclass
class AvmSample:
    """One labelled AVM image."""

    name: str
    image_path: Path
    label_path: Path
    group: str
    tags: tuple[str, ...] = ()  # further groups (a generated scene's kinds of row marking)


def avm_samples(root: Path, *, index: Path | None = None) -> tuple[list[AvmSample], int]:
    """Labelled images under ``root`` (or listed in ``index``) and the number of images without a label."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"AVM data folder {root} does not exist")
    samples: list[AvmSample] = []
    unlabelled = 0
    if index is not None:
        with Path(index).open(newline="") as handle:
            for row in csv.DictReader(handle):
                image = row.get("image")
                label = row.get("label_xml") or row.get("label")
                if not image or not label:
                    raise ConfigError(f"{index}: rows need 'image' and 'label_xml' (or 'label') columns")
                group = row.get("category") or Path(image).parts[0]
                samples.append(AvmSample(image, root / image, root / label, group))
        return samples, unlabelled
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        if _is_generated_extra(path):
            continue  # a generated folder's class mask or preview, not a camera image
        label = find_label(path)
        if label is None:
            unlabelled += 1
            continue
        relative = path.relative_to(root)
        group = relative.parts[0] if len(relative.parts) > 1 else root.name
        samples.append(AvmSample(str(relative), path, label, group, scene_tags(path)))
    return samples, unlabelled


def scene_tags(image_path: Path) -> tuple[str, ...]:
    """A generated scene's groups from its ``polygons/<name>.json``: each kind of row marking, and
    ``indoor`` / ``outdoor``; none for other images (or an unreadable file)."""
    scene = image_path.parent.parent / "polygons" / f"{image_path.stem}.json"
    if image_path.parent.name != "images" or not scene.is_file():
        return ()
    try:
        style = json.loads(scene.read_text())["meta"]["avm_style"]
        rows = sorted({str(row["lines"]) for row in style["rows"]})
        place = "indoor" if style["indoor"] else "outdoor"
    except (OSError, ValueError, KeyError, TypeError):
        return ()
    return (*(f"rows {lines}" for lines in rows), place)


def _scenario_for(
    scenario: ScenarioConfig, image_size: tuple[int, int], metres_per_pixel: float | None
) -> ScenarioConfig:
    """The scenario with its AVM camera sized like this image (ego at the image centre)."""
    height, width = image_size
    block: dict[str, Any] = {"image_size": [height, width], "origin_px": [width / 2.0, height / 2.0]}
    if metres_per_pixel is not None:
        block["metres_per_pixel"] = float(metres_per_pixel)
    return scenario.with_camera_params(scenario.primary_camera, block)


def predicted_points(
    result: Any, threshold_px: float, *, points_from: str = "marking_points"
) -> tuple[np.ndarray, str]:
    """The pipeline's marking points, else its slots' entrance corners merged; and which was used.

    A pipeline without marking points (a segmentation-only model) reports none: its slots'
    entrance corners stand in for them. ``points_from`` ``slot_corners`` reads the slots' entrance
    corners always: what a consumer of the slots alone gets (a found point that makes no slot is lost).
    """
    if points_from not in POINT_SOURCES:
        raise ConfigError(f"points_from must be one of {POINT_SOURCES}, got {points_from!r}")
    points = marking_point_positions(getattr(result, "marking_points", None))
    if len(points) and points_from == "marking_points":
        return points, "marking_points"
    corners = slot_entrances(result.slots).reshape(-1, 2)
    return merge_points(corners, threshold_px / 2.0), "slot_corners"


def _is_generated_extra(path: Path) -> bool:
    """A class mask ``masks/x.png`` or a preview ``preview/x.jpg`` beside ``images/x.png`` (a folder
    written by ``seg-perception generate``): not a camera image."""
    if path.parent.name not in ("masks", "preview"):
        return False
    return (path.parent.parent / "images" / f"{path.stem}.png").is_file()


def true_mask_path(image_path: Path) -> Path:
    """The class mask ``seg-perception generate`` wrote for ``images/x.png``: ``masks/x.png``."""
    return image_path.parent.parent / "masks" / f"{image_path.stem}.png"


def oracle_points(label: ParkingLabel) -> np.ndarray:
    """The label's marking points as decoded rows ``(x, y, dx, dy, score)`` with heat 1.

    Raises:
        ConfigError: a point has no direction (point-list labels, ps2.0 rows without one).
    """
    directions = label.directions
    if len(label.points) and (directions is None or np.isnan(directions).any()):
        raise ConfigError(
            f"{label.source}: --oracle needs every marking point's direction (DMPR-PS marks with a "
            "second point, as seg-perception generate writes them)"
        )
    if not len(label.points):
        return np.zeros((0, 5))
    angles = np.asarray(directions, np.float64)
    return np.column_stack([label.points, np.cos(angles), np.sin(angles), np.ones(len(label.points))])


def _true_mask(image_path: Path, size: tuple[int, int]) -> np.ndarray:
    """The true class mask of a generated scene (``--oracle``).

    Raises:
        ConfigError: it is missing or not of the image's size.
    """
    mask_path = true_mask_path(image_path)
    mask = cv2.imread(str(mask_path), cv2.IMREAD_UNCHANGED) if mask_path.is_file() else None
    if mask is None or mask.shape[:2] != size:
        raise ConfigError(
            f"--oracle needs the true mask of {image_path} at {mask_path} "
            "(a folder written by seg-perception generate)"
        )
    return np.asarray(mask)


def _frame_record(
    sample: AvmSample, label: ParkingLabel, points: int, slots: int, matches: dict[str, Any]
) -> dict[str, Any]:
    """One image's entry of a report's ``per_frame``: its groups and predicted / true / matched counts."""
    return {
        "image": sample.name,
        "groups": [sample.group, *sample.tags],
        "points": {"predicted": points, "true": len(label.points), "matched": len(matches["points"])},
        "slots": {
            "predicted": slots,
            "true": len(label.slots) if label.slots is not None else None,
            "matched": len(matches["slots"]),
        },
    }


def draw_overlay(
    image: np.ndarray,
    label: ParkingLabel,
    points: np.ndarray,
    slots: list[Any],
    matches: dict[str, Any],
) -> np.ndarray:
    """Labelled points (green: matched, yellow: missed), predicted points (red) and slot outlines (blue)."""
    canvas = image.copy()
    scale = max(1, round(max(image.shape[:2]) / 600))
    for slot in slots:
        corners = np.round(np.asarray(slot.corners)).astype(np.int32)
        cv2.polylines(canvas, [corners], True, (255, 160, 0), scale)
        cv2.line(canvas, tuple(corners[0]), tuple(corners[1]), (255, 0, 255), scale)
    matched_true = {j for _, j, _ in matches["points"]}
    radius = max(3, round(matches["threshold_px"]))
    for index, point in enumerate(label.points):
        colour = (0, 220, 0) if index in matched_true else (0, 220, 255)
        cv2.circle(canvas, tuple(np.round(point).astype(int)), radius, colour, scale)
    for point in points:
        cv2.drawMarker(canvas, tuple(np.round(point).astype(int)), (0, 0, 255), cv2.MARKER_CROSS, 8, scale)
    return canvas


def evaluate_avm(
    model_path: str | Path,
    data: Path,
    *,
    index: Path | None = None,
    metres_per_pixel: float | None = None,
    threshold_m: float = DEFAULT_THRESHOLD_M,
    count: int | None = None,
    overlays: Path | None = None,
    overlay_every: int = 1,
    threads: int = 2,
    scenario: str | None = None,
    oracle: bool = False,
    test_time_flips: int | None = None,
    point_threshold: float | None = None,
    points_from: str = "marking_points",
) -> dict[str, Any]:
    """Run the parking pipeline over labelled AVM images and return the metrics report plus provenance.

    The report's ``per_frame`` lists each image's name, groups and point / slot counts (predicted,
    true, matched; true slots None for point-list labels), to find the frames a change wins or loses.

    With ``oracle`` the labelled marking points and the true masks replace the model (see the
    module docstring). ``test_time_flips`` (1, 2 or 4) replaces the scenario's
    ``slots.test_time_flips``, e.g. 4 to score a model on the CPU as a CUDA engine runs it
    (``slots.cuda_test_time_flips``); None keeps the scenario's setting for this engine.
    ``point_threshold`` replaces ``slots.point_threshold`` (the least marking-point heat; by default
    the model file's own, see ``docs/parking_slots.md``). ``points_from`` (``POINT_SOURCES``) says
    what the predicted points are: the marking points, or the slots' entrance corners
    (:func:`predicted_points`).

    Raises:
        ConfigError: no labelled images, an unreadable image, or (``oracle``) a label without
            directions or a missing true mask.
    """
    (report,) = _evaluate(
        model_path,
        data,
        (point_threshold,),
        index=index,
        metres_per_pixel=metres_per_pixel,
        threshold_m=threshold_m,
        count=count,
        overlays=overlays,
        overlay_every=overlay_every,
        threads=threads,
        scenario=scenario,
        oracle=oracle,
        test_time_flips=test_time_flips,
        points_from=points_from,
    )
    return report


def evaluate_avm_thresholds(
    model_path: str | Path,
    data: Path,
    point_thresholds: Sequence[float],
    *,
    index: Path | None = None,
    metres_per_pixel: float | None = None,
    threshold_m: float = DEFAULT_THRESHOLD_M,
    threads: int = 2,
    test_time_flips: int | None = None,
) -> dict[float, dict[str, Any]]:
    """:func:`evaluate_avm`'s report for each marking-point threshold, the model run once per image.

    Only the decoding of the marking points and the slot assembly depend on the threshold, so
    each frame's engine outputs are post-processed once per threshold (a pipeline, and its slot
    tracker, per threshold); the reports equal separate :func:`evaluate_avm` runs.

    Raises:
        ConfigError: as :func:`evaluate_avm`, or no thresholds.
    """
    thresholds = tuple(dict.fromkeys(float(value) for value in point_thresholds))
    if not thresholds:
        raise ConfigError("no marking-point thresholds to evaluate")
    reports = _evaluate(
        model_path,
        data,
        thresholds,
        index=index,
        metres_per_pixel=metres_per_pixel,
        threshold_m=threshold_m,
        threads=threads,
        test_time_flips=test_time_flips,
    )
    return dict(zip(thresholds, reports, strict=True))


def _with_slot_overrides(
    base: ScenarioConfig, *, test_time_flips: int | None, point_threshold: float | None
) -> ScenarioConfig:
    """``base`` with ``slots.test_time_flips`` / ``slots.point_threshold`` replaced where given."""
    overrides = {
        key: value
        for key, value in (("test_time_flips", test_time_flips), ("point_threshold", point_threshold))
        if value is not None
    }
    if not overrides:
        return base
    slots = {**(base.params.get("slots") or {}), **overrides}
    if test_time_flips is not None:
        slots.pop("cuda_test_time_flips", None)  # the given number, on whatever device the engine runs
    return dataclasses.replace(base, params={**base.params, "slots": slots})


def _labelled_image(
    sample: AvmSample, metres_per_pixel: float | None
) -> tuple[np.ndarray, ParkingLabel, float | None]:
    """A labelled AVM image -> (image, its label scaled to it, its metres per pixel or None: unknown)."""
    image = cv2.imread(str(sample.image_path), cv2.IMREAD_COLOR)
    if image is None:
        raise ConfigError(f"cannot read image {sample.image_path}")
    raw_label = read_parking_label(sample.label_path)
    return (
        image,
        raw_label.scaled_to((int(image.shape[0]), int(image.shape[1]))),
        raw_label.image_metres_per_pixel(int(image.shape[1]), given=metres_per_pixel),
    )


def _evaluate(
    model_path: str | Path,
    data: Path,
    point_thresholds: tuple[float | None, ...],
    *,
    index: Path | None = None,
    metres_per_pixel: float | None = None,
    threshold_m: float = DEFAULT_THRESHOLD_M,
    count: int | None = None,
    overlays: Path | None = None,
    overlay_every: int = 1,
    threads: int = 2,
    scenario: str | None = None,
    oracle: bool = False,
    test_time_flips: int | None = None,
    points_from: str = "marking_points",
) -> list[dict[str, Any]]:
    """One report per threshold of ``point_thresholds`` (None: the scenario's / model's own); the
    engine runs once per image, through the first threshold's pipeline. Overlays are drawn for
    the first threshold."""
    from seg_perception.config import load_scenario
    from seg_perception.inference.pipeline import SegmentationPipeline
    from seg_perception.training.engines import open_engine

    samples, unlabelled = avm_samples(Path(data), index=index)
    if not samples:
        raise ConfigError(f"{data} holds no AVM images with labels (DMPR-PS JSON, LabelMe XML/JSON)")
    samples = samples[:count] if count else samples
    engine = open_engine(model_path, threads=threads)
    loaded = load_scenario(scenario or engine.metadata.scenario)
    bases = [
        _with_slot_overrides(loaded, test_time_flips=test_time_flips, point_threshold=threshold)
        for threshold in point_thresholds
    ]
    accumulators = [ParkingAccumulator(threshold_m=threshold_m) for _ in bases]
    per_frames: list[list[dict[str, Any]]] = [[] for _ in bases]
    # (frame size, metres per pixel) -> one pipeline per threshold
    pipelines: dict[tuple[tuple[int, int], float], list[Any]] = {}
    sources: set[str] = set()
    assumed_scale = False
    try:
        for number, sample in enumerate(samples):
            image, label, frame_mpp = _labelled_image(sample, metres_per_pixel)
            size = (int(image.shape[0]), int(image.shape[1]))
            # without a scale the model sees the frame as the metric does: ps2.0's 10 m across its width
            model_mpp = frame_mpp if frame_mpp is not None else ps2_metres_per_pixel(size[1])
            assumed_scale = assumed_scale or frame_mpp is None
            key = (size, model_mpp)
            if key not in pipelines:
                pipelines[key] = [
                    SegmentationPipeline(engine, _scenario_for(base, size, model_mpp), base.primary_camera)
                    for base in bases
                ]
            threshold_px = frame_threshold_px(size[1], frame_mpp, threshold_m)
            if oracle:
                true_mask = _true_mask(sample.image_path, size)
                true_points = oracle_points(label)
            else:
                segmentation = pipelines[key][0].segment(image)
            for which, pipeline in enumerate(pipelines[key]):
                pipeline.reset_tracking()  # labelled images are single frames: nothing held from the last
                if oracle:
                    slots = pipeline.slots_from_marking_points(true_points, true_mask)
                    result: Any = SimpleNamespace(slots=slots, marking_points=true_points)
                    points, source = true_points[:, :2], "oracle"
                else:
                    result = pipeline.postprocess(segmentation, polygons=False)
                    points, source = predicted_points(result, threshold_px, points_from=points_from)
                sources.add(source)
                matches = accumulators[which].update(
                    image_width=size[1],
                    predicted_points=points,
                    true_points=label.points,
                    predicted_entrances=slot_entrances(result.slots),
                    true_entrances=label.entrances(),
                    metres_per_pixel=frame_mpp,
                    group=sample.group,
                    tags=sample.tags,
                )
                per_frames[which].append(
                    _frame_record(sample, label, len(points), len(result.slots), matches)
                )
                if which == 0 and overlays is not None and number % max(overlay_every, 1) == 0:
                    target = overlays / f"{sample.group}_{Path(sample.name).stem}.png"
                    target.parent.mkdir(parents=True, exist_ok=True)
                    cv2.imwrite(str(target), draw_overlay(image, label, points, result.slots, matches))
    finally:
        engine.close()
    common = {
        "model": str(model_path),
        "data": str(data),
        "images": len(samples),
        "unlabelled_images_skipped": unlabelled,
        "metres_per_pixel_of_label_frame": metres_per_pixel,
        "predicted_points_from": sorted(sources),
        "oracle": oracle,
        "ps2_scale_assumed": assumed_scale,
    }
    return [
        {**accumulator.report(), **common, "point_threshold": threshold, "per_frame": per_frame}
        for accumulator, per_frame, threshold in zip(accumulators, per_frames, point_thresholds, strict=True)
    ]


def iter_groups(report: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(group, entry)`` with ``all`` first."""
    groups = report["groups"]
    for name in sorted(groups, key=lambda n: (n != "all", n)):
        yield name, groups[name]
