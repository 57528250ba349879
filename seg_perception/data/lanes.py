"""Standard lane datasets: TuSimple and CULane labels, readers, writers and training datasets.

TuSimple: JSON lines, one frame per line::

    {"lanes": [[-2, -2, 632, 625, ...], ...], "h_samples": [240, 250, ...], "raw_file": "clips/.../20.jpg"}

``lanes[i][k]`` is lane ``i``'s x at row ``h_samples[k]`` (-2 where the lane is absent);
``raw_file`` is relative to the dataset root.

CULane: beside every ``<name>.jpg`` a ``<name>.lines.txt`` with one lane per line,
``x1 y1 x2 y2 ...`` in pixels. List files (``list/train_gt.txt``) name the images, one per
line, first column, relative to the root with a leading ``/``.

The training datasets rasterise every lane polyline into a class-id mask (a lane is drawn
as a line tapering from ``line_width_px`` at the bottom of the image to 1 px at its far end,
roughly the look of painted lines in perspective), so the package's segmentation models
fine-tune on these datasets like on any image/mask pair.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from torch.utils.data import Dataset

from seg_perception.data.datasets import Transform, _apply, read_image
from seg_perception.data.errors import DatasetError
from seg_perception.media_files import IMAGE_SUFFIXES
from seg_perception.metrics.lanes import (
    TUSIMPLE_ABSENT,
    polyline_to_tusimple,
    tusimple_min_rows,
    tusimple_rows,
    tusimple_to_polyline,
)
from seg_perception.postprocess.hood import hood_rows
from seg_perception.postprocess.lanes import AT_JUNCTION_M
from seg_perception.postprocess.lanes.curves import frame_entry_fraction

TUSIMPLE_TRAIN_LABELS = ("label_data_0313.json", "label_data_0601.json")
TUSIMPLE_VAL_LABELS = ("label_data_0531.json",)
CULANE_LISTS = {"train": "list/train_gt.txt", "val": "list/val_gt.txt", "test": "list/test.txt"}


@dataclass
class TuSimpleLabel:
    """One TuSimple frame: lanes as x per ``h_samples`` row, and the image path relative to the root."""

    raw_file: str
    h_samples: list[float]
    lanes: list[list[float]]
    extra: dict[str, Any] = field(default_factory=dict)

    def polylines(self) -> list[np.ndarray]:
        """Each lane as an ``(N, 2)`` polyline ``(x, y)`` of its labelled rows (empty lanes dropped)."""
        lines = [tusimple_to_polyline(lane, self.h_samples) for lane in self.lanes]
        return [line for line in lines if len(line)]

    @classmethod
    def from_polylines(
        cls, raw_file: str, polylines: Iterable[np.ndarray], h_samples: Sequence[float], **extra: Any
    ) -> TuSimpleLabel:
        """Sample polylines at ``h_samples`` rows; lanes that cross none of them are left out."""
        lanes = []
        for line in polylines:
            xs = polyline_to_tusimple(line, h_samples)
            if (xs >= 0).any():
                lanes.append([round(float(x), 1) if x >= 0 else int(TUSIMPLE_ABSENT) for x in xs])
        return cls(raw_file=raw_file, h_samples=[float(h) for h in h_samples], lanes=lanes, extra=dict(extra))

    def to_json(self) -> dict[str, Any]:
        h_samples = [int(h) if float(h).is_integer() else h for h in self.h_samples]
        return {"lanes": self.lanes, "h_samples": h_samples, "raw_file": self.raw_file, **self.extra}


def read_tusimple_labels(path: str | Path) -> list[TuSimpleLabel]:
    """Read a TuSimple label file (JSON lines).

    Raises:
        DatasetError: the file is missing, or a line is not a valid TuSimple record (the
            message names the file and line).
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise DatasetError(f"TuSimple label file {path} does not exist") from err
    labels = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise DatasetError(f"{path}:{number} is not valid JSON: {err}") from err
        missing = [key for key in ("lanes", "h_samples", "raw_file") if key not in record]
        if missing:
            raise DatasetError(f"{path}:{number} lacks the TuSimple keys {missing}")
        h_samples = [float(h) for h in record["h_samples"]]
        lanes = [[float(x) for x in lane] for lane in record["lanes"]]
        bad = [i for i, lane in enumerate(lanes) if len(lane) != len(h_samples)]
        if bad:
            raise DatasetError(
                f"{path}:{number}: lane {bad[0]} has {len(lanes[bad[0]])} values"
                f" for {len(h_samples)} h_samples"
            )
        extra = {k: v for k, v in record.items() if k not in ("lanes", "h_samples", "raw_file")}
        labels.append(TuSimpleLabel(str(record["raw_file"]), h_samples, lanes, extra))
    return labels


def write_tusimple_labels(path: str | Path, labels: Iterable[TuSimpleLabel]) -> int:
    """Write labels as JSON lines; returns the number written."""
    count = 0
    with Path(path).open("w") as stream:
        for label in labels:
            stream.write(json.dumps(label.to_json()) + "\n")
            count += 1
    return count


def read_culane_lines(path: str | Path) -> list[np.ndarray]:
    """Lanes of a CULane ``.lines.txt`` file as ``(N, 2)`` float polylines.

    Raises:
        DatasetError: the file is missing or a line holds an odd count or non-numbers.
    """
    path = Path(path)
    try:
        text = path.read_text()
    except FileNotFoundError as err:
        raise DatasetError(f"CULane lane file {path} does not exist") from err
    lanes = []
    for number, line in enumerate(text.splitlines(), start=1):
        values = line.split()
        if not values:
            continue
        try:
            numbers = np.array([float(v) for v in values])
        except ValueError as err:
            raise DatasetError(f"{path}:{number} holds something that is not a number: {err}") from err
        if len(numbers) % 2:
            raise DatasetError(f"{path}:{number} has {len(numbers)} numbers; expected x y pairs")
        lanes.append(numbers.reshape(-1, 2))
    return lanes


def write_culane_lines(path: str | Path, lanes: Iterable[np.ndarray]) -> None:
    """Write polylines as a CULane ``.lines.txt`` file (one lane per line, ``x y`` pairs)."""
    rows = []
    for lane in lanes:
        points = np.asarray(lane, dtype=np.float64).reshape(-1, 2)
        if len(points):
            rows.append(" ".join(f"{x:.3f} {y:.3f}" for x, y in points))
    Path(path).write_text("".join(row + "\n" for row in rows))


def culane_lines_path(image_path: Path) -> Path:
    """``a/b/00000.jpg`` -> ``a/b/00000.lines.txt``."""
    return image_path.with_suffix(".lines.txt")


def culane_image_path(lines_path: Path) -> Path:
    """The frame a ``.lines.txt`` labels: ``<name>.jpg``, as CULane stores its frames, else the
    ``<name>`` of another image suffix that exists (``seg-perception generate --culane`` writes
    PNG); ``<name>.jpg`` when there is none, for the reader to report missing."""
    stem = lines_path.name[: -len(".lines.txt")]
    for suffix in dict.fromkeys((".jpg", *IMAGE_SUFFIXES)):
        candidate = lines_path.with_name(stem + suffix)
        if candidate.is_file():
            return candidate
    return lines_path.with_name(stem + ".jpg")


def _densify(line: np.ndarray, step_px: float) -> np.ndarray:
    """The polyline with extra vertices so that no segment is longer than ``step_px``."""
    out = [line[:1]]
    for a, b in itertools.pairwise(line):
        pieces = max(1, int(np.ceil(np.hypot(*(b - a)) / step_px)))
        out.append(a + (b - a) * (np.arange(1, pieces + 1)[:, None] / pieces))
    return np.concatenate(out)


def rasterize_lane_mask(
    lanes: Sequence[np.ndarray],
    shape: tuple[int, int],
    *,
    class_id: int = 1,
    line_width_px: float | None = None,
    taper: bool = True,
) -> np.ndarray:
    """Class-id mask of lane polylines.

    Args:
        lanes: ``(N, 2)`` pixel polylines.
        shape: (height, width) of the mask.
        class_id: Value written on lane pixels.
        line_width_px: Width at the bottom image row; default ``width / 100`` (13 px at 1280).
        taper: Narrow each lane linearly with its height above the bottom, down to 1 px at the
            highest labelled row of the frame (painted lines shrink with distance).
    """
    height, width = shape
    mask = np.zeros(shape, np.uint8)
    full = float(line_width_px if line_width_px is not None else max(2.0, width / 100.0))
    lines = [np.asarray(lane, np.float64).reshape(-1, 2) for lane in lanes]
    lines = [line[np.isfinite(line).all(axis=1)] for line in lines]
    lines = [line for line in lines if len(line) >= 2]
    if not lines:
        return mask
    top = min(float(line[:, 1].min()) for line in lines)
    span = max(height - 1 - top, 1.0)
    for line in lines:
        for a, b in itertools.pairwise(_densify(line, step_px=4.0)):
            share = ((a[1] + b[1]) / 2.0 - top) / span if taper else 1.0
            thickness = max(1, round(1.0 + (full - 1.0) * float(np.clip(share, 0.0, 1.0))))
            cv2.line(mask, (round(a[0]), round(a[1])), (round(b[0]), round(b[1])), class_id, thickness)
    return mask


class LaneMaskDataset(Dataset[Any]):
    """Frames with lane polylines, rasterised into class-id masks when read (TuSimple, CULane).

    Args:
        root: Dataset root.
        dataset: The dataset's name, for messages.
        class_id: Class id of the lane class in the model's class map.
        line_width_px, taper: See :func:`rasterize_lane_mask`.
        transform: ``(image_bgr, mask) -> ...``.

    Raises:
        DatasetError: ``root`` is not a folder.
    """

    def __init__(
        self,
        root: str | Path,
        dataset: str,
        *,
        class_id: int,
        line_width_px: float | None,
        taper: bool,
        transform: Transform | None,
    ) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{dataset} root {self.root} does not exist")
        self.class_id = class_id
        self.line_width_px = line_width_px
        self.taper = taper
        self.transform = transform

    def image_path(self, index: int) -> Path:
        """Image file of frame ``index``."""
        raise NotImplementedError

    def lanes(self, index: int) -> list[np.ndarray]:
        """Lane polylines of frame ``index``."""
        raise NotImplementedError

    def __getitem__(self, index: int) -> Any:
        image = read_image(self.image_path(index))
        mask = rasterize_lane_mask(
            self.lanes(index),
            image.shape[:2],
            class_id=self.class_id,
            line_width_px=self.line_width_px,
            taper=self.taper,
        )
        return _apply(self.transform, image, mask)


class TuSimpleDataset(LaneMaskDataset):
    """TuSimple frames with lane masks rasterised from the labels.

    Args:
        root: Dataset root (``raw_file`` paths are relative to it).
        label_files: Label JSON-lines files, relative to ``root`` or absolute.
        class_id: Class id of the lane class in the model's class map.
        line_width_px, taper: See :func:`rasterize_lane_mask`.
        transform: ``(image_bgr, mask) -> ...``.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        label_files: Sequence[str | Path] = TUSIMPLE_TRAIN_LABELS,
        class_id: int = 1,
        line_width_px: float | None = None,
        taper: bool = True,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(
            root, "TuSimple", class_id=class_id, line_width_px=line_width_px, taper=taper, transform=transform
        )
        if not label_files:
            raise DatasetError("TuSimpleDataset needs at least one label file")
        self.labels: list[TuSimpleLabel] = []
        for name in label_files:
            path = Path(name) if Path(name).is_absolute() else self.root / name
            self.labels += read_tusimple_labels(path)
        if not self.labels:
            raise DatasetError(f"the TuSimple label files {list(label_files)} hold no frames")

    def __len__(self) -> int:
        return len(self.labels)

    def image_path(self, index: int) -> Path:
        return self.root / self.labels[index].raw_file

    def lanes(self, index: int) -> list[np.ndarray]:
        return self.labels[index].polylines()


class CULaneDataset(LaneMaskDataset):
    """CULane frames (``<name>.jpg`` + ``<name>.lines.txt``) with rasterised lane masks.

    Args:
        root: Dataset root.
        list_file: A CULane list file relative to ``root`` (first column = image path); ``None``
            takes every ``*.lines.txt`` under the root with its frame (:func:`culane_image_path`:
            the ``.jpg``, or the ``.png`` of a folder ``seg-perception generate --culane`` wrote).
        class_id, line_width_px, taper, transform: As for :class:`TuSimpleDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        *,
        list_file: str | None = CULANE_LISTS["train"],
        class_id: int = 1,
        line_width_px: float | None = None,
        taper: bool = True,
        transform: Transform | None = None,
    ) -> None:
        super().__init__(
            root, "CULane", class_id=class_id, line_width_px=line_width_px, taper=taper, transform=transform
        )
        if list_file is None:
            self.images = sorted(culane_image_path(p) for p in self.root.rglob("*.lines.txt"))
        else:
            listing = self.root / list_file
            if not listing.is_file():
                raise DatasetError(f"CULane list file {listing} does not exist")
            self.images = [
                self.root / line.split()[0].lstrip("/")
                for line in listing.read_text().splitlines()
                if line.strip()
            ]
        if not self.images:
            raise DatasetError(f"no CULane frames under {self.root}")

    def __len__(self) -> int:
        return len(self.images)

    def image_path(self, index: int) -> Path:
        return self.images[index]

    def lanes(self, index: int) -> list[np.ndarray]:
        return read_culane_lines(culane_lines_path(self.images[index]))


#: A line's stretch before a junction this short (the car is at the junction) is no stretch.
JUNCTION_MIN_STRETCH_M = 1.0


def above_hood(lane: Any, hood: np.ndarray) -> Any:
    """``lane`` with its image points under the hood's edge (``(K, 2)`` pixels, left to right) made
    NaN (outside every frame), but for the last one before the road is seen, moved onto the edge."""
    image = np.asarray(lane.image, dtype=np.float64).reshape(-1, 2).copy()
    ground = np.asarray(lane.ground, dtype=np.float64).reshape(-1, 2).copy()
    # how far below the hood's edge each point lies (negative: above it; NaN stays NaN)
    depth = image[:, 1] - np.interp(image[:, 0], hood[:, 0], hood[:, 1])
    under = depth > 0  # False for NaN
    if not under.any():
        return lane
    seen = np.flatnonzero(~under & np.isfinite(image).all(axis=1))
    first = int(seen[0]) if seen.size else len(image)
    # points run near to far: the line comes out from under the hood between these two
    if 0 < first < len(image) and under[first - 1]:
        outer, inner = image[first - 1], image[first]
        t = depth[first - 1] / (depth[first - 1] - depth[first])
        image[first - 1] = outer + t * (inner - outer)
        ground[first - 1] = ground[first - 1] + t * (ground[first] - ground[first - 1])
        under[first - 1] = False
    image[under] = np.nan
    return replace(lane, image=image, ground=ground)


def stretches_to_label(lanes: Sequence[Any], size: tuple[int, int]) -> list[int]:
    """Indices into ``lanes`` (a synthetic frame's :class:`LaneTruth` pieces) of the stretches a
    labeller marks: each line's stretch up to the first junction ahead, or the stretches across it when
    the car is at the junction: the frame shows no line before it, or none for :data:`AT_JUNCTION_M` or
    more (the lane extractor's convention: a stretch that short is not a lane to steer by). One line
    is never two lanes of the frame.

    The generator cuts every line at the same junctions, so the k-th stretch (longer than
    :data:`JUNCTION_MIN_STRETCH_M`) of each line lies between the same two junctions.
    """
    stretches: dict[int, list[int]] = {}
    for index, lane in enumerate(lanes):
        forward = np.asarray(lane.ground, dtype=np.float64).reshape(-1, 2)[:, 1]
        if forward.max() - forward.min() > JUNCTION_MIN_STRETCH_M:
            stretches.setdefault(int(lane.lane_id), []).append(index)
    before = [found[0] for found in stretches.values()]
    across = [found[1] for found in stretches.values() if len(found) > 1]
    if not across or any(
        marked_in_frame(lanes[index], size) and seen_ahead_m(lanes[index], size) >= AT_JUNCTION_M
        for index in before
    ):
        return before
    return across


def seen_ahead_m(lane: Any, size: tuple[int, int]) -> float:
    """How far ahead (metres) the frame shows the line: from where it enters the frame to where it leaves."""
    height, width = size
    ground = np.asarray(lane.ground, dtype=np.float64).reshape(-1, 2)
    image = np.asarray(lane.image, dtype=np.float64).reshape(-1, 2)
    inside = inside_frame(image, size)
    if not inside.any():
        return 0.0
    forward = to_frame_edges(image, inside, width, height, ground)[0][:, 1]
    return float(forward.max() - forward.min())


def marked_in_frame(lane: Any, size: tuple[int, int]) -> bool:
    """Whether a labeller marks the line in the frame: in sight, and a polyline (two points) inside the
    frame, as the generator's TuSimple labels hold it (:func:`scene_lane_polylines`)."""
    image = np.asarray(lane.image, dtype=np.float64).reshape(-1, 2)
    return bool(lane.in_sight and inside_frame(image, size).sum() >= 2)


def inside_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Which of the ``(N, 2)`` pixel points lie inside a frame of ``size`` = (H, W)."""
    height, width = size
    return (image[:, 0] >= 0) & (image[:, 0] <= width - 1) & (image[:, 1] >= 0) & (image[:, 1] <= height - 1)


def to_frame_edges(
    image: np.ndarray,
    inside: np.ndarray,
    width: int,
    height: int,
    ground: np.ndarray | None = None,
    hood: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(ground, image)`` of a sampled line's samples marked ``inside``, with the points where it
    enters and leaves the frame added (``ground`` interpolated alike; None: zeros).

    The generator samples a line from the ground the bottom pixel edge sees, half a row below the
    frame, so its first sample inside lies up to one sample spacing up; a labelled real frame's
    lines run to the frame's edge, and so do the boundaries they are scored against. With ``hood``
    (its edge's row under each column) the frame's lower edge is the hood's. Where the sample next
    to the marked ones lies inside the frame, above any hood (a vehicle hides it), the line ends at
    its last marked sample.
    """
    first = int(np.argmax(inside))
    last = len(inside) - 1 - int(np.argmax(inside[::-1]))
    run = np.flatnonzero(inside)  # a line that leaves and re-enters a side keeps its inside samples
    values = ground if ground is not None else np.zeros_like(image)
    image_parts, ground_parts = [image[run]], [values[run]]
    for outer, inner in ((first - 1, first), (last + 1, last)):
        if not 0 <= outer < len(image) or not np.isfinite(image[outer]).all():
            continue
        under_hood = hood is not None and image[outer, 1] > hood_rows(hood, image[outer, :1])[0]
        if inside_frame(image[outer : outer + 1], (height, width))[0] and not under_hood:
            continue
        t = frame_entry_fraction(image[outer], image[inner], width, height, hood)
        where = 0 if outer < inner else len(image_parts)
        image_parts.insert(where, (image[outer] + t * (image[inner] - image[outer]))[None])
        ground_parts.insert(where, (values[outer] + t * (values[inner] - values[outer]))[None])
    return np.vstack(ground_parts), np.vstack(image_parts)


def tusimple_h_samples(height: int, top_row: float) -> list[float]:
    """Rows for a TuSimple label of a ``height``-row frame: every ``height / 72`` rows (10 at 720)
    from ``top_row`` (rounded up to the step) to the bottom, as the benchmark samples 160..710."""
    step = max(1, round(height / 72))
    first = int(np.ceil(max(top_row, 0.0) / step)) * step
    return [float(row) for row in range(first, height, step)]


def scene_lane_polylines(sample: Any, *, lanes_per_side: int = 0) -> list[np.ndarray]:
    """Image polylines of a synthetic front scene's lanes, TuSimple-style.

    Each lane keeps its in-frame points from its first to its last visible point, so a
    vehicle hiding the middle of a line does not cut it, while the part under the car's
    hood or past the last visible paint is left out. Where the line runs on out of the frame
    (or under the hood, ``meta["hood_edge_px"]``) beyond those points, it ends on the frame's
    (the hood's) edge, as a labeller draws it and as the drives' truth holds it
    (:func:`seg_perception.training.lane_eval.lanes_of_sample`): the generator samples a line
    every few metres, so its nearest sample in sight can lie tens of rows above the edge it
    crosses. A line a vehicle hides up to some point starts where it is seen.

    Args:
        lanes_per_side: Only the lines this near the car on each side (1: the ego lane's, 2: also
            the next one out, as TuSimple and CULane label); 0: every line in sight.
    """
    height, width = sample.mask.shape
    hood_edge = getattr(sample, "meta", {}).get("hood_edge_px")
    hood = None
    if hood_edge is not None:  # the hood's edge row under each column
        edge = np.asarray(hood_edge, dtype=np.float64).reshape(-1, 2)
        hood = np.interp(np.arange(width, dtype=np.float64), edge[:, 0], edge[:, 1])
    lanes = list(sample.lanes)
    hooded = lanes if hood_edge is None else [above_hood(lane, edge) for lane in lanes]
    lines = []
    for index in stretches_to_label(hooded, (height, width)):
        lane = lanes[index]
        points = np.asarray(lane.image, np.float64)
        if not lane.in_sight or (lanes_per_side > 0 and abs(lane.position) > lanes_per_side):
            continue
        visible = np.flatnonzero(lane.visible)
        first, last = int(visible[0]), int(visible[-1])
        seen = np.zeros(len(points), bool)  # in the frame from the first to the last visible sample
        seen[first : last + 1] = inside_frame(points[first : last + 1], (height, width))
        polyline = to_frame_edges(points, seen, width, height, hood=hood)[1]
        if len(polyline) >= 2:
            lines.append(polyline)
    return lines


def scene_tusimple_label(sample: Any, raw_file: str, *, lanes_per_side: int = 0) -> TuSimpleLabel:
    """TuSimple label of a synthetic front scene (:class:`SceneSample` with ``lanes``).

    ``h_samples`` start just below the true horizon (from the sample's camera) and run to the
    bottom of the frame every ``height / 72`` rows. ``lanes_per_side`` as in
    :func:`scene_lane_polylines`. A lane on fewer rows than :func:`tusimple_min_rows` (a far stub
    beyond a junction) is left out: the benchmark would count it matched by any prediction.
    """
    from seg_perception.data.synthetic.camera import PinholeCamera

    height = sample.mask.shape[0]
    model = sample.meta.get("camera_model", {})
    top = 0.0
    if "K" in model:
        camera = PinholeCamera(
            width=int(model["width"]), height=int(model["height"]), focal_px=float(model["K"][0]),
            cx=float(model["cx"]), cy=float(model["cy"]), mount_height_m=float(model["mount_height_m"]),
            pitch_rad=float(model["pitch_rad"]), roll_rad=float(model["roll_rad"]),
            k1=float(model["D"][0]), k2=float(model["D"][1]),
        )  # fmt: skip
        horizon = camera.project_output(np.array([0.0]), np.array([1.0e4]), 0.0)[0, 1]
        top = float(horizon) + 0.02 * height
    h_samples = tusimple_h_samples(height, top)
    min_rows = tusimple_min_rows(len(h_samples))
    polylines = scene_lane_polylines(sample, lanes_per_side=lanes_per_side)
    return TuSimpleLabel.from_polylines(
        raw_file, [line for line in polylines if tusimple_rows(line, h_samples) >= min_rows], h_samples
    )
