"""Real AVM parking labels: ps2.0 (its MATLAB files, DMPR-PS JSON) and point lists (LabelMe XML / JSON).

DMPR-PS JSON (ps2.0 as the DMPR-PS authors distribute it), one file per image::

    {"marks": [[x, y, dir_x, dir_y, shape], ...], "slots": [[1, 2, type, angle], ...]}

``marks`` rows start with ``x, y`` in the 600 x 600 image, in MATLAB's pixel coordinates (the
first pixel is ``(1, 1)``; read as the package's 0-based pixels, ``x - 1``, as DMPR-PS itself
converts them: :data:`DMPR_PIXEL_ORIGIN`); when a row has at least four
values, ``(dir_x, dir_y)`` is a second point along the marking line, giving the direction;
a single mark may come as a flat list. ``slots`` rows start with the 1-based indices of the
slot's two entrance marks.

ps2.0 as its authors distribute it: a MATLAB file beside each image (``<stem>.mat``, as their
labelling tool saves it) holding the same two arrays, ``marks`` (rows ``x, y``; the tool's
directional version adds the second point) and ``slots`` (rows ``first, second, type, angle``).
Marks of two columns carry no direction: such labels score points and slots, but cannot train
the marking-point head or feed ``--oracle``, which need one.

LabelMe XML: ``<object><name>…</name><polygon><pt><x>…</x><y>…</y></pt>…</polygon></object>``,
every ``pt`` a point, with the label frame's size in ``<imagesize><nrows>``/``<ncols>``.
LabelMe JSON: ``{"shapes": [{"label": …, "points": [[x, y], …], "shape_type": "point"}],
"imageHeight": …, "imageWidth": …}``. Point lists pair nothing: their labels carry points only.

Coordinates are scaled from the label frame to the actual image when the two differ (e.g.
strips stored at half the size their labels were drawn at).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from seg_perception.data.errors import DatasetError

DMPR_FRAME = (600, 600)  # (height, width) of ps2.0 images
#: ps2.0's marks are MATLAB pixel coordinates, whose first pixel is (1, 1); the package's pixels
#: start at 0 (OpenCV's). DMPR-PS itself converts a mark to OpenCV pixels as ``x - 1``: it
#: normalises labels by ``(x - 0.5) / 600`` and draws a normalised ``u`` at ``600 u - 0.5``.
DMPR_PIXEL_ORIGIN = 1.0
_TEXT_LABEL_SUFFIXES = (".json", ".xml")
#: MATLAB labels are looked for last: ps2.0's own ``.mat`` beside an image has no directions,
#: DMPR-PS's JSON of the same image (in its ``ps_json_label`` tree) has.
MATLAB_LABEL_SUFFIX = ".mat"
# label folders beside an image folder "x" (or "x_img"): "x" itself, "x_xml", "x_xml_ori", ...
_LABEL_FOLDER_SUFFIXES = ("", "_xml", "_xml_ori", "_label", "_labels", "_json")
_IMAGE_FOLDER_SUFFIXES = ("_img", "_images", "_image")
#: DMPR-PS keeps ps2.0's labels in a tree of their own beside the images' (``ps_json_label/<split>/``).
DMPR_LABEL_FOLDER = "ps_json_label"
#: How many folders deep a ps2.0 split may be (``testing/all``: 2), for :func:`find_label`.
DMPR_LABEL_DEPTH = 3


@dataclass
class ParkingLabel:
    """Marking points and slots of one AVM image, in the image's pixels.

    Attributes:
        points: (N, 2) float64 marking points (or slot corners) ``(x, y)``.
        slots: Slots as 0-based index pairs into ``points``: the two entrance points. None
            when the format pairs nothing (point lists).
        directions: (N,) radians of each point's marking line (image axes), NaN where unknown.
        shapes: Per point, the format's shape code as text, or "" where unknown.
        names: Per point, the label's name (LabelMe), or "".
        label_size: (height, width) of the frame the label was drawn in.
        source: The label file.
        metres_per_pixel: Ground resolution of the label frame when the file says (the
            package's own extension of DMPR-PS JSON: top-level ``metres_per_pixel`` and
            ``image_size`` [height, width], written by ``seg-perception generate``).
    """

    points: np.ndarray
    slots: list[tuple[int, int]] | None = None
    directions: np.ndarray | None = None
    shapes: list[str] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    label_size: tuple[int, int] | None = None
    source: str = ""
    metres_per_pixel: float | None = None

    def entrances(self) -> np.ndarray | None:
        """(M, 2, 2) entrance point pairs of the labelled slots; None when the format pairs nothing."""
        if self.slots is None:
            return None
        if not self.slots:
            return np.zeros((0, 2, 2))
        return np.stack([self.points[[a, b]] for a, b in self.slots])

    def image_metres_per_pixel(self, image_width: int, *, given: float | None = None) -> float | None:
        """Ground resolution of the image this label belongs to, ``image_width`` pixels wide.

        ``given`` (metres per pixel of the label frame, e.g. a user's for a dataset whose labels do
        not say) replaces the label's own; either is scaled from the label frame to the image. None
        when neither says.
        """
        scale = given if given is not None else self.metres_per_pixel
        if scale is None:
            return None
        label_width = self.label_size[1] if self.label_size else image_width
        return float(scale) * label_width / image_width

    def scaled_to(self, image_size: tuple[int, int]) -> ParkingLabel:
        """The label in an image of ``image_size`` (height, width), scaled from ``label_size``."""
        if self.label_size is None or tuple(self.label_size) == tuple(image_size):
            return self
        sy = image_size[0] / self.label_size[0]
        sx = image_size[1] / self.label_size[1]
        directions = self.directions
        if directions is not None and sx != sy:
            directions = np.arctan2(np.sin(directions) * sy, np.cos(directions) * sx)
        return ParkingLabel(
            points=self.points * np.array([sx, sy]),
            slots=self.slots,
            directions=directions,
            shapes=list(self.shapes),
            names=list(self.names),
            label_size=(int(image_size[0]), int(image_size[1])),
            source=self.source,
            metres_per_pixel=None if self.metres_per_pixel is None else self.metres_per_pixel / sx,
        )


def _load_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise DatasetError(f"cannot read {path} as JSON ({err})") from err


def parse_dmpr_json(data: Any, *, source: str = "", label_size: tuple[int, int] = DMPR_FRAME) -> ParkingLabel:
    """A DMPR-PS label from its decoded JSON (see the module docstring).

    Raises:
        DatasetError: ``marks`` is missing or malformed, or a slot names a mark that does not exist.
    """
    if not isinstance(data, dict) or "marks" not in data:
        raise DatasetError(f"{source or 'label'}: a DMPR-PS label needs a 'marks' list")
    try:
        marks = np.asarray(data["marks"], np.float64)
        if marks.size and marks.ndim == 1:
            marks = marks[None]
        marks = marks.reshape(len(marks), -1) if marks.size else np.zeros((0, 2))
        if marks.shape[1] < 2:
            raise ValueError("each mark needs x and y")
        raw_slots = np.asarray(data.get("slots", []), np.float64)
        if raw_slots.size and raw_slots.ndim == 1:
            raw_slots = raw_slots[None]
        raw_slots = raw_slots.reshape(len(raw_slots), -1) if raw_slots.size else np.zeros((0, 2))
        if raw_slots.shape[1] < 2:
            raise ValueError("each slot needs two mark numbers")
    except (TypeError, ValueError) as err:
        raise DatasetError(f"{source or 'label'}: malformed DMPR-PS marks/slots ({err})") from err
    points = marks[:, :2] - DMPR_PIXEL_ORIGIN
    directions = np.full(len(points), np.nan)
    shapes = [""] * len(points)
    if marks.shape[1] >= 4:
        delta = marks[:, 2:4] - marks[:, :2]
        directions = np.where(np.linalg.norm(delta, axis=1) > 0, np.arctan2(delta[:, 1], delta[:, 0]), np.nan)
    if marks.shape[1] >= 5:
        shapes = [f"{v:g}" for v in marks[:, 4]]
    slots = []
    for row in raw_slots:
        first, second = int(row[0]), int(row[1])
        if not (1 <= first <= len(points) and 1 <= second <= len(points)) or first == second:
            raise DatasetError(
                f"{source or 'label'}: slot {row[:2].tolist()} names marks outside 1..{len(points)}"
            )
        slots.append((first - 1, second - 1))
    if "image_size" in data:  # the package's extension: the frame the marks refer to
        try:
            label_size = (int(data["image_size"][0]), int(data["image_size"][1]))
        except (TypeError, ValueError, IndexError) as err:
            raise DatasetError(f"{source or 'label'}: image_size must be [height, width]") from err
    scale = data.get("metres_per_pixel")
    if scale is not None and not (isinstance(scale, (int, float)) and scale > 0):
        raise DatasetError(f"{source or 'label'}: metres_per_pixel must be a positive number, got {scale!r}")
    return ParkingLabel(
        points=points,
        slots=slots,
        directions=directions,
        shapes=shapes,
        names=[""] * len(points),
        label_size=label_size,
        source=source,
        metres_per_pixel=float(scale) if scale is not None else None,
    )


def read_matlab_label(path: Path) -> dict[str, Any]:
    """The ``marks`` and ``slots`` arrays of a ps2.0 MATLAB label, as :func:`parse_dmpr_json` takes them.

    Raises:
        DatasetError: the file is not a MATLAB file scipy reads (v7.3 files are HDF5: save them with
            ``-v7``), or it has no ``marks``.
    """
    try:
        content = scipy.io.loadmat(str(path))
    except NotImplementedError as err:  # scipy's answer to a v7.3 (HDF5) file
        raise DatasetError(f"{path}: a MATLAB v7.3 file; save it with -v7 to read it here ({err})") from err
    except (OSError, ValueError, TypeError, scipy.io.matlab.MatReadError) as err:
        raise DatasetError(f"cannot read {path} as a MATLAB file ({err})") from err
    if "marks" not in content:
        raise DatasetError(f"{path}: a ps2.0 MATLAB label needs a 'marks' array")
    return {"marks": content["marks"], "slots": content.get("slots", np.zeros((0, 4)))}


def parse_labelme_json(data: Any, *, source: str = "") -> ParkingLabel:
    """Points of a LabelMe JSON file: every point of every shape.

    Raises:
        DatasetError: ``shapes`` is missing or a shape's points are malformed.
    """
    if not isinstance(data, dict) or not isinstance(data.get("shapes"), list):
        raise DatasetError(f"{source or 'label'}: a LabelMe JSON label needs a 'shapes' list")
    points: list[tuple[float, float]] = []
    names: list[str] = []
    for shape in data["shapes"]:
        try:
            xy = np.asarray(shape["points"], np.float64).reshape(-1, 2)
        except (KeyError, TypeError, ValueError) as err:
            raise DatasetError(f"{source or 'label'}: malformed LabelMe shape {shape!r:.80} ({err})") from err
        points.extend((float(x), float(y)) for x, y in xy)
        names.extend([str(shape.get("label", ""))] * len(xy))
    size = None
    if data.get("imageHeight") and data.get("imageWidth"):
        size = (int(data["imageHeight"]), int(data["imageWidth"]))
    return _point_label(points, names, size, source)


def _point_label(
    points: list[tuple[float, float]], names: list[str], size: tuple[int, int] | None, source: str
) -> ParkingLabel:
    """A label of loose points (LabelMe): no slot pairing, no marking-point shapes."""
    return ParkingLabel(
        points=np.array(points, np.float64).reshape(-1, 2),
        slots=None,
        shapes=[""] * len(points),
        names=names,
        label_size=size,
        source=source,
    )


def parse_labelme_xml(text: str, *, source: str = "") -> ParkingLabel:
    """Points of a LabelMe XML annotation: every ``pt`` of every object not marked deleted.

    Raises:
        DatasetError: the XML is malformed or a point lacks a numeric x or y.
    """
    try:
        root = ET.fromstring(text)
    except ET.ParseError as err:
        raise DatasetError(f"{source or 'label'}: malformed LabelMe XML ({err})") from err
    points, names = [], []
    for obj in root.iter("object"):
        if (obj.findtext("deleted") or "0").strip() == "1":
            continue
        name = (obj.findtext("name") or "").strip()
        for pt in obj.iter("pt"):
            try:
                points.append((float(pt.findtext("x") or ""), float(pt.findtext("y") or "")))
            except ValueError as err:
                raise DatasetError(f"{source or 'label'}: a point of {name!r} has no numeric x/y") from err
            names.append(name)
    size = None
    rows, cols = root.findtext("imagesize/nrows"), root.findtext("imagesize/ncols")
    if rows and cols:
        try:
            size = (int(float(rows)), int(float(cols)))
        except ValueError:
            size = None
    return _point_label(points, names, size, source)


def read_parking_label(path: str | Path, *, label_size: tuple[int, int] | None = None) -> ParkingLabel:
    """Read a label file: ``.xml`` LabelMe, ``.json`` DMPR-PS (``marks``) or LabelMe (``shapes``), ``.mat``.

    Args:
        path: The label file.
        label_size: (height, width) the coordinates refer to when the file does not say
            (DMPR-PS JSON and ps2.0 MATLAB: default 600 x 600).

    Raises:
        DatasetError: the file is missing, unreadable or in none of these formats.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"label file {path} does not exist")
    if path.suffix.lower() == ".xml":
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as err:
            raise DatasetError(f"cannot read {path} ({err})") from err
        label = parse_labelme_xml(text, source=str(path))
    elif path.suffix.lower() == ".json":
        data = _load_json(path)
        if isinstance(data, dict) and "marks" in data:
            label = parse_dmpr_json(data, source=str(path), label_size=label_size or DMPR_FRAME)
        elif isinstance(data, dict) and "shapes" in data:
            label = parse_labelme_json(data, source=str(path))
        else:
            raise DatasetError(f"{path}: neither a DMPR-PS ('marks') nor a LabelMe ('shapes') label")
    elif path.suffix.lower() == MATLAB_LABEL_SUFFIX:
        label = parse_dmpr_json(
            read_matlab_label(path), source=str(path), label_size=label_size or DMPR_FRAME
        )
    else:
        raise DatasetError(f"{path}: unknown label format (expected .json, .xml or .mat)")
    if label.label_size is None and label_size is not None:
        label.label_size = label_size
    return label


def find_label(image_path: str | Path) -> Path | None:
    """The label file of an image: same stem, ``.json``, ``.xml`` or ``.mat``, beside it or in a sibling one.

    Sibling folders tried for an image in ``<dir>/<name>/``: ``<name>_xml``, ``<name>_xml_ori``,
    ``<name>_label(s)``, ``<name>_json``, and the same with a trailing ``_img``, ``_images`` or
    ``_image`` removed from ``<name>``, then ``<dir>/<name>/labels/``, and ``<dir>/labels/`` for
    ``<dir>/images/`` (the layout ``seg-perception generate`` writes). Last, DMPR-PS's layout of ps2.0:
    ``<base>/ps_json_label/<split>/<stem>.json`` for an image ``<base>/<split>/<stem>.jpg`` (``<split>``
    up to :data:`DMPR_LABEL_DEPTH` folders deep, e.g. ``training`` or ``testing/all``). A ``.mat`` file
    (ps2.0's own labels, beside its images) is taken only when none of these has a JSON or XML label.
    """
    image_path = Path(image_path)
    folder = image_path.parent
    bases = [folder.name]
    for image_suffix in _IMAGE_FOLDER_SUFFIXES:
        if folder.name.endswith(image_suffix):
            bases.append(folder.name[: -len(image_suffix)])
    candidates = [folder.parent / f"{base}{suffix}" for base in bases for suffix in _LABEL_FOLDER_SUFFIXES]
    candidates.append(folder / "labels")
    if folder.name == "images":
        candidates.append(folder.parent / "labels")
    for directory in candidates:
        for suffix in _TEXT_LABEL_SUFFIXES:
            label = directory / f"{image_path.stem}{suffix}"
            if label.is_file():
                return label
    split = Path(folder.name)
    for base in list(folder.parents)[:DMPR_LABEL_DEPTH]:
        label = base / DMPR_LABEL_FOLDER / split / f"{image_path.stem}.json"
        if label.is_file():
            return label
        split = Path(base.name) / split
    for directory in candidates:
        label = directory / f"{image_path.stem}{MATLAB_LABEL_SUFFIX}"
        if label.is_file():
            return label
    return None


DMPR_SHAPE_CODES = {"T": 0, "L": 1, "I": 2}
DMPR_SLOT_TYPES = {"perpendicular": 1, "parallel": 2, "angled": 3}
_DIRECTION_STEP_PX = 20.0  # the second point of a mark row lies this far along its direction


def to_dmpr_json(
    marking_points: list[Any], slots: list[Any], *, match_px: float = 1.0, include_occluded: bool = False
) -> dict[str, Any]:
    """A DMPR-PS style label of synthetic ground truth (coordinates in the image's own pixels, written
    from 1 as ps2.0's are: :data:`DMPR_PIXEL_ORIGIN`).

    Marks are ``[x, y, x + 20 cos(direction), y + 20 sin(direction), shape]`` (shape: T 0, L 1,
    I 2); slots ``[first mark, second mark, type, 90]`` (1-based; type: perpendicular 1,
    parallel 2, angled 3), for slots whose two entrance corners are marks.

    Marks something above the ground hides (``occluded``) are left out, and so the slots whose
    entrance they are, unless ``include_occluded``: a labeller marks what the image shows, as the
    training target (:func:`seg_perception.data.marking_points.marking_point_rows`) and ``eval-bag``
    hold it.
    """
    marking_points = [m for m in marking_points if include_occluded or not getattr(m, "occluded", False)]
    marks = []
    positions = np.array([np.asarray(m.position, np.float64) for m in marking_points]).reshape(-1, 2)
    for mark, position in zip(marking_points, positions, strict=True):
        step = _DIRECTION_STEP_PX * np.array([np.cos(mark.direction), np.sin(mark.direction)])
        at = position + DMPR_PIXEL_ORIGIN
        marks.append([*np.round(at, 2).tolist(), *np.round(at + step, 2).tolist(),
                      DMPR_SHAPE_CODES.get(mark.shape, 0)])  # fmt: skip
    rows = []
    for slot in slots:
        indices = []
        for corner in np.asarray(slot.corners, np.float64)[:2]:
            distances = np.linalg.norm(positions - corner, axis=1) if len(positions) else np.zeros(0)
            if not distances.size or distances.min() > match_px:
                break
            indices.append(int(distances.argmin()) + 1)
        if len(indices) == 2:
            rows.append([*indices, DMPR_SLOT_TYPES.get(str(slot.extra.get("type")), 1), 90])
    return {"marks": marks, "slots": rows}
