"""AVM (stitched bird's-eye) parking scenes (scenario ``parking``).

The parking lot is laid out in metres in a world frame (x right, y along the
driving aisle). A frame is the metric top-down view around the ego vehicle:
pixel = ``origin_px + R(ego heading) (world - ego position) / metres_per_pixel``
with forward = up. Slot interiors of free slots are labelled ``free_slot``,
painted lines ``slot_line``; whatever stands above the ground (parked cars, pillars,
walls, kerbs, people, poles) and the ego car hide what is under them.

What makes the images look like real stitched AVM views rather than a map:

- objects above the ground are smeared radially away from the camera that sees them
  (:mod:`~seg_perception.data.synthetic.avm_objects`), and everything blurs and
  streaks more the farther it is from the car;
- four camera sectors (front, right, rear, left) with their own exposure, white balance
  and noise, blended over seams of random width;
- ground kinds (asphalt, concrete, brick and grass pavers, painted and epoxy floors) with
  oil stains, wet patches, manholes, painted slot numbers, text and arrows
  (:mod:`~seg_perception.data.synthetic.avm_texture`); indoor garages with pillars,
  walls and light reflections on glossy floors;
- slot lines solid, dashed, doubled or short ticks, white, yellow or blue, worn and
  partly hidden; with or without an entrance line, so marking points are T, L or I
  shaped; rows on both sides, in groups, cut by the view edges; some outdoor rows marked by
  wide unpainted concrete bands among pavers instead, each slot with its own corners at the
  band edges.

Ground truth per frame: the label mask, slots (entrance corners first, occupancy, type)
and marking points (position, direction, shape) in pixels.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any

import cv2
import numpy as np

from seg_perception.config import ClassRoles
from seg_perception.data.synthetic import avm_objects as objects
from seg_perception.data.synthetic.avm_texture import (
    GroundTexture,
    arrow_polygon,
    choose_ground,
    make_ground,
    paint_text,
)
from seg_perception.data.synthetic.render import (
    blend_where,
    fill_polygons,
    noise_crop,
    photometric_finish,
    rgb,
    smooth_noise,
)
from seg_perception.geometry import MarkingPoint, ParkingSlot

EGO_REAR_M, EGO_FRONT_M, EGO_HALF_WIDTH_M = -1.0, 3.7, 0.95
EGO_CENTRE_AHEAD_M = (EGO_FRONT_M + EGO_REAR_M) / 2.0  # the car's middle, ahead of the rear axle
MIRROR_M = 2.0  # side cameras sit in the mirrors, this far ahead of the rear axle
CAR_COLOURS = (  # white and silver cars are the most common
    (40, 40, 40), (200, 200, 205), (120, 120, 125), (30, 30, 150), (140, 60, 20), (225, 225, 225),
    (60, 90, 40), (20, 20, 25), (90, 130, 170), (235, 235, 240), (160, 160, 165), (215, 220, 225),
    (180, 180, 185), (240, 240, 240),
)  # fmt: skip
PAINTS = {"white": (230, 232, 232), "yellow": (40, 190, 225), "blue": (190, 120, 40)}
PAINT_P = {"white": 0.62, "yellow": 0.3, "blue": 0.08}
LINE_STYLES = ("solid", "dashed", "double", "ticks")
LINE_STYLE_P = (0.55, 0.12, 0.13, 0.2)
SLOT_KINDS = ("perpendicular", "parallel", "angled")
SLOT_KIND_P = (0.55, 0.22, 0.23)
EGO_LOOKS = ("black_box", "dark_car", "grey_box")
FAINT_PAINT_P = 0.35  # share of lots whose paint is faint (worn, or white on light concrete)
FAINT_PAINT_FADE = (0.35, 0.75)  # their paint strength is scaled by this
FAINT_PAINT_MIN = 0.15  # paint never fades below this share of its colour
SOFT_PAINT_P = 0.6  # share of lots whose lines have soft edges
SOFT_PAINT_SIGMA_M = (0.01, 0.05)  # Gaussian sigma of the soft edges, metres on the ground
WALKWAY_P_INDOOR, WALKWAY_P_OUTDOOR = 0.4, 0.15  # lots with painted walkway / kerb bands along the aisle
WALKWAY_COLOURS = ((70, 160, 60), (40, 190, 225), (170, 170, 170), (190, 120, 40), (60, 60, 200))  # BGR
MIN_SOFT_PX = 0.3  # softer edges than this are drawn hard
CURVED_P = 0.2  # share of single views whose aisle and rows curve (ramps, round garages, bends)
CURVE_RADIUS_M = (40.0, 90.0)  # radius of the aisle's curve (tighter ones squeeze the inner row's slots)
CURVE_STREAM = 7  # key of the curve's own random stream (see sample_parking_world)
LOOKS_STREAM = 11  # key of the stream of the looks added after the curve (see _crossing_looks)
CROSSING_LINES_P = 0.6  # walkway bands across which the separating lines run on to the aisle
LIGHT_STREAK_P_INDOOR, LIGHT_STREAK_P_OUTDOOR = 0.35, 0.1  # lots with long light streaks on the floor
LIGHT_STREAK_LENGTH_M = (3.0, 9.0)  # a lamp tube's or a window's reflection, or a sun streak
LIGHT_STREAK_WIDTH_M = (0.06, 0.3)
BANDS_STREAM = 13  # key of the stream that turns outdoor rows into band rows (see sample_parking_world)
BAND_ROWS_P = 0.2  # outdoor rows whose slots lie between wide unpainted bands (concrete strips among pavers)
BAND_PAVER_GROUND_P = 0.75  # such lots mostly have paver slots; the rest keep their ground
PAVER_GROUNDS = ("brick", "grass_pavers")
BAND_WIDTH_M = (0.45, 0.75)  # a separating band, across (wider than a double line's 0.25-0.5 m gap)
BAND_ENTRANCE_WIDTH_M = (0.2, 0.5)  # the band along the entrances
BAND_ENTRANCE_P = 0.85  # band rows with a band along the entrances (else the separators end open)
BAND_CONTRAST = (30, 70)  # a band's grey differs from the ground's mean by this much
BAND_GREY_RANGE = (40.0, 235.0)  # ...and stays inside this range (darker or lighter, whichever fits)
BAND_TINT = (0.94, 1.06)  # per-channel factor: concrete is not quite neutral grey
# between two groups of slots of a separator row: a walkway, narrower than any slot (a slot-wide
# space between two separating lines is a slot to anyone who looks, and unlabelled it taught the
# metrics to count the slot assembly's right answer as a false slot)
GROUP_GAP_M = (0.8, 1.8)
_SECTOR_CAMERAS = (1, 2, 3, 4)  # front, right, rear, left (sector ids of :func:`_sector_geometry`)


@dataclass
class SlotGeometry:
    """One slot in world metres: corners with the entrance edge first."""

    corners: np.ndarray  # (4, 2)
    kind: str
    free: bool
    car_color: tuple[int, int, int] | None = None
    car_jitter: tuple[float, float, float] = (0.0, 0.0, 0.0)  # lateral, longitudinal (m), yaw (rad)
    markings: str = "paint"  # what marks the slot: painted lines, or a stacked garage's "platform"
    # Corners the label reports when they differ from the painted slot: slots beside a double
    # separating line meet at its middle (its one marking point), not at its inner line.
    label_corners: np.ndarray | None = None


@dataclass
class WorldMark:
    """A marking point in world metres: position, unit direction into the slots, shape."""

    position: np.ndarray
    direction: np.ndarray
    shape: str


@dataclass
class PaintedLine:
    """A painted polygon (world metres) and its paint colour."""

    polygon: np.ndarray
    colour: tuple[int, int, int]
    band: bool = False  # an unpainted concrete band of a band row (its grey is set against the ground)


@dataclass
class ParkingWorld:
    """The static parking lot of one drive."""

    size: tuple[int, int]
    metres_per_pixel: float
    origin_px: tuple[float, float]
    speed: float
    slots: list[SlotGeometry]
    lines: list[PaintedLine]
    marks: list[WorldMark]
    solids: list[objects.Solid]
    ground: GroundTexture = field(repr=False)
    wear: np.ndarray = field(repr=False)
    sector_gain: np.ndarray = field(repr=False)  # (H, W, 3) float32, blended over the seams
    noise_scale: np.ndarray = field(repr=False)  # (H, W, 1) float32: each camera's noise sigma / 16
    camera_heights: np.ndarray = field(repr=False)  # (5,) metres, index = sector id
    sharpness: np.ndarray = field(repr=False)  # weight of the sharp image, (H, W) float32
    streaks: np.ndarray = field(repr=False)  # (H, W, 3) float32 brightness of radial streaks on objects
    reflections: np.ndarray | None = field(repr=False, default=None)  # (H, W) float32 additive light
    style: dict[str, Any] = field(default_factory=dict)
    paint_soft_px: float = 0.0  # Gaussian sigma of the paint's edges (stitching and lens blur), pixels
    shadow_strength: float = 0.4
    smear: float = 0.02  # length of the radial blur, as a fraction of the image size
    pose0: tuple[float, float, float] = (0.0, 0.0, 0.0)
    weave: float = 0.0
    # Rows curve around a centre this far from the car's middle (metres; + right, - left, 0 straight).
    curve_radius_m: float = 0.0

    def pose(self, time_s: float) -> tuple[float, float, float]:
        """Ego (x, y, heading) at ``time_s``; heading counter-clockwise from +y."""
        x0, y0, yaw0 = self.pose0
        return (
            x0 + self.weave * np.sin(0.25 * time_s),
            y0 + self.speed * time_s,
            yaw0 + 0.5 * self.weave * 0.25 * np.cos(0.25 * time_s),
        )

    def world_to_pixel(self, time_s: float) -> np.ndarray:
        """(3, 3) affine world metres -> pixels at ``time_s``."""
        ex, ey, yaw = self.pose(time_s)
        fwd = np.array([-np.sin(yaw), np.cos(yaw)])
        right = np.array([np.cos(yaw), np.sin(yaw)])
        k = 1.0 / self.metres_per_pixel
        ox, oy = self.origin_px
        rot = np.array([right * k, -fwd * k])
        offset = np.array([ox, oy]) - rot @ np.array([ex, ey])
        return np.vstack([np.hstack([rot, offset[:, None]]), [0.0, 0.0, 1.0]])


def _apply(affine: np.ndarray, points: np.ndarray) -> np.ndarray:
    return points @ affine[:2, :2].T + affine[:2, 2]


def _line_poly(p: np.ndarray, q: np.ndarray, width: float) -> np.ndarray:
    """Rectangle of a painted segment p->q, extended by half a width at both ends (square caps)."""
    d = q - p
    d = d / max(np.linalg.norm(d), 1e-9)
    n = np.array([-d[1], d[0]]) * width / 2.0
    a, b = p - d * width / 2.0, q + d * width / 2.0
    return np.array([a + n, b + n, b - n, a - n])


def _u_cap(
    centre: np.ndarray, axis: np.ndarray, radius: float, width: float, segments: int = 10
) -> np.ndarray:
    """A painted half ring joining a pair of separating lines on the aisle side (``-axis``)."""
    d = axis / max(float(np.linalg.norm(axis)), 1e-9)
    n = np.array([-d[1], d[0]])
    theta = np.linspace(0.0, np.pi, segments + 1)[:, None]
    ring = np.cos(theta) * n - np.sin(theta) * d  # from +n round the aisle side to -n
    outer = centre + ring * (radius + width / 2.0)
    inner = centre + ring * max(radius - width / 2.0, 0.0)
    return np.vstack([outer, inner[::-1]])


def _separator(
    rng: np.random.Generator, start: np.ndarray, axis: np.ndarray, depth: float, width: float, style: str
) -> list[np.ndarray]:
    """Polygons of one separating line from the entrance ``start`` along ``axis``."""
    end = start + axis * depth
    if style == "ticks":
        return [_line_poly(start, start + axis * min(depth, float(rng.uniform(0.5, 1.2))), width)]
    if style == "dashed":
        polys = [_line_poly(start, start + axis * 0.6, width)]  # the junction stays whole
        dash, gap = float(rng.uniform(0.4, 0.9)), float(rng.uniform(0.3, 0.6))
        along = 0.6 + gap
        while along < depth:
            polys.append(_line_poly(start + axis * along, start + axis * min(along + dash, depth), width))
            along += dash + gap
        return polys
    return [_line_poly(start, end, width)]


@dataclass
class _RowStyle:
    """How one row of slots is marked (drawn once per row)."""

    kind: str
    line_style: str
    entrance_line: bool
    back_line: bool
    paint: tuple[int, int, int]
    width: float
    double_gap: float
    rounded: bool = False  # double lines joined by a half circle at the entrance ("U" marks)
    band_width: float = 0.0  # band rows: width of a separating band (``width`` is the entrance band's)


# one row's slots, painted lines, marking points and objects
_RowParts = tuple[list[SlotGeometry], list[PaintedLine], list[WorldMark], list[objects.Solid]]


def _row_style(
    rng: np.random.Generator, paint: tuple[int, int, int], width: float, *, indoor: bool
) -> _RowStyle:
    kind = str(rng.choice(SLOT_KINDS, p=SLOT_KIND_P))
    line_style = str(rng.choice(LINE_STYLES, p=LINE_STYLE_P))
    if kind == "parallel" and line_style == "double":
        line_style = "solid"
    if indoor and rng.random() < 0.3:  # a stacked garage: steel platforms instead of painted slots
        kind, line_style = "perpendicular", "platforms"
        paint = PAINTS["yellow"] if rng.random() < 0.7 else paint
    # most painted lots (and ps2.0) mark the entrance: T and L points outnumber open line ends
    entrance_p = 0.55 if kind == "parallel" else 0.6
    if rng.random() < 0.1:
        paint = PAINTS[str(rng.choice(list(PAINTS)))]
    return _RowStyle(
        kind=kind,
        line_style=line_style,
        entrance_line=bool(rng.random() < entrance_p),
        back_line=bool(kind == "parallel" or rng.random() < 0.6),
        paint=paint,
        width=width,
        double_gap=float(rng.uniform(0.25, 0.5)),
        rounded=bool(rng.random() < 0.5),
    )


def _row_geometry(rng: np.random.Generator, side: int, kind: str) -> tuple[float, float, np.ndarray]:
    """A row's slot pitch along the aisle, slot depth and unit axis into the slots (angled: leaning)."""
    if kind == "parallel":
        return float(rng.uniform(5.2, 6.8)), float(rng.uniform(2.0, 2.6)), np.array([side, 0.0])
    if kind == "perpendicular":
        return float(rng.uniform(2.2, 3.0)), float(rng.uniform(4.6, 5.6)), np.array([side, 0.0])
    angle = np.deg2rad(rng.uniform(40.0, 75.0))
    depth = float(rng.uniform(4.6, 5.4))
    pitch = float(rng.uniform(2.3, 2.9)) / np.sin(angle)
    lean = 1.0 if rng.random() < 0.5 else -1.0
    return pitch, depth, np.array([side * np.sin(angle), lean * np.cos(angle)])


@dataclass(frozen=True)
class _RowFurniture:
    """Pillars between a row's groups of slots (indoor) and wheel stoppers in its free slots."""

    pillar_depth: float  # share of the slot depth the pillar stands at
    pillar_size: float
    pillar_colour: tuple[int, int, int]
    striped: bool
    stopper: bool
    stopper_colour: tuple[int, int, int]

    @classmethod
    def sample(cls, rng: np.random.Generator) -> _RowFurniture:
        return cls(
            pillar_depth=float(rng.uniform(0.3, 0.9)),
            pillar_size=float(rng.uniform(0.5, 0.9)),
            pillar_colour=rgb(rng.integers(150, 225, 3)),
            striped=bool(rng.random() < 0.5),
            stopper=bool(rng.random() < 0.3),
            stopper_colour=(30, 200, 230) if rng.random() < 0.5 else (150, 150, 150),
        )


@dataclass(frozen=True)
class _PaintedRow:
    """Where a painted row lies, how its slots are laid out and furnished."""

    side: int
    x_entrance: float
    style: _RowStyle
    pitch: float
    depth: float
    axis: np.ndarray  # unit vector from the entrance into the slots
    occupancy: float
    furniture: _RowFurniture
    indoor: bool


def _slot_group(rng: np.random.Generator, row: _PaintedRow, y: float, y_hi: float, parts: _RowParts) -> float:
    """One group of slots of a painted row from ``y`` along the aisle, added to ``parts``.

    Returns where the next group starts, past the gap (with a pillar or a pole in it) after this one.
    """
    slots, lines, marks, solids = parts
    style, axis, depth, furniture = row.style, row.axis, row.depth, row.furniture
    along = np.array([0.0, 1.0])
    double = style.line_style == "double"
    count = int(rng.integers(2, 9)) if rng.random() < 0.6 else int(np.ceil((y_hi - y) / row.pitch))
    count = max(1, count)
    entrances = [np.array([row.x_entrance, y + i * row.pitch]) for i in range(count + 1)]
    for i, e in enumerate(entrances):
        interior = 0 < i < count
        offsets = [-style.double_gap / 2.0, style.double_gap / 2.0] if (double and interior) else [0.0]
        if double and interior and style.rounded:
            lines.append(PaintedLine(_u_cap(e, axis, style.double_gap / 2.0, style.width), style.paint))
        for off in offsets:
            for poly in _separator(rng, e + along * off, axis, depth, style.width, style.line_style):
                lines.append(PaintedLine(poly, style.paint))
        # One marking point per separator, a double one's too: at its middle, where the
        # two slots beside it meet (two points a few centimetres apart are one junction to
        # a detector, and a slot's entrance would sit at either twin by chance).
        if style.entrance_line:
            shape = "T" if interior or double else "L"
        else:
            shape = "I"
        marks.append(WorldMark(e.copy(), axis.copy(), shape))
    if style.back_line:
        back = axis * depth
        lines.append(
            PaintedLine(_line_poly(entrances[0] + back, entrances[-1] + back, style.width), style.paint)
        )
    if style.entrance_line:
        lines.append(PaintedLine(_line_poly(entrances[0], entrances[-1], style.width), style.paint))
    for i in range(count):
        shrink = style.double_gap / 2.0 if double else 0.0
        e0 = entrances[i] + along * (shrink if i > 0 else 0.0)
        e1 = entrances[i + 1] - along * (shrink if i + 1 < count else 0.0)
        slot = _drawn_slot(rng, (e0, e1), axis * depth, row.side, style.kind, row.occupancy)
        if double:  # the separators' marking points
            slot.label_corners = _corners((entrances[i], entrances[i + 1]), axis * depth, row.side)
        slots.append(slot)
        if not slot.free:
            solids += _parked_car(slot)
        elif furniture.stopper and style.kind != "parallel":
            bar_centre = (e0 + e1) / 2.0 + axis * (depth - 0.5)
            solids.append(objects.wheel_stopper(bar_centre, e1 - e0, furniture.stopper_colour))
    end = entrances[-1]
    gap = float(rng.uniform(*GROUP_GAP_M))
    if row.indoor and rng.random() < 0.85:
        centre = end + along * (gap / 2.0) + axis * depth * furniture.pillar_depth
        solids.append(
            objects.pillar(centre, furniture.pillar_size, furniture.pillar_colour, furniture.striped)
        )
    elif rng.random() < 0.2:
        solids.append(objects.pole(end + along * (gap / 2.0) + axis * 0.5, 0.08, (90, 140, 170)))
    return float(end[1]) + gap


def _row(
    rng: np.random.Generator,
    side: int,
    x_entrance: float,
    y_lo: float,
    y_hi: float,
    style: _RowStyle,
    *,
    indoor: bool,
) -> _RowParts:
    """Slots, painted lines, marking points and objects of one row of slots along the aisle."""
    parts: _RowParts = ([], [], [], [])
    occupancy = float(rng.uniform(0.15, 0.75))
    pitch, depth, axis = _row_geometry(rng, side, style.kind)
    furniture = _RowFurniture.sample(rng)
    if style.line_style == "platforms":
        return _platform_row(rng, side, x_entrance, y_lo, y_hi, style, occupancy)
    if style.line_style == "bands":
        return _band_row(
            rng, side, x_entrance, (y_lo, y_hi), style, occupancy, pitch=pitch, depth=depth, axis=axis
        )
    row = _PaintedRow(side, x_entrance, style, pitch, depth, axis, occupancy, furniture, indoor)
    y = y_lo
    while y < y_hi:
        y = _slot_group(rng, row, y, y_hi, parts)
    back_x = x_entrance + side * depth + side * 0.3
    solids = parts[3]
    if indoor and rng.random() < 0.8:
        colour = rgb(rng.integers(150, 230, 3))
        solids.append(objects.wall(np.array([back_x, y_lo]), np.array([back_x, y_hi]), 0.3, colour))
    elif not indoor and rng.random() < 0.4:
        colour = rgb(rng.integers(140, 200, 3))
        solids.append(objects.kerb(np.array([back_x, y_lo]), np.array([back_x, y_hi]), colour))
    return parts


def _corners(entrance: tuple[np.ndarray, np.ndarray], back: np.ndarray, side: int) -> np.ndarray:
    """A slot's four corners from its entrance ends and the vector to its back: the entrance first,
    ordered left to right as seen from the aisle."""
    e0, e1 = entrance
    return np.array([e0, e1, e1 + back, e0 + back]) if side > 0 else np.array([e1, e0, e0 + back, e1 + back])


def _drawn_slot(
    rng: np.random.Generator,
    entrance: tuple[np.ndarray, np.ndarray],
    back: np.ndarray,
    side: int,
    kind: str,
    occupancy: float,
) -> SlotGeometry:
    """A slot with its occupancy, car colour and the parked car's offset drawn from ``rng``."""
    free = bool(rng.random() >= occupancy)
    color = None if free else CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
    jitter = (
        float(rng.uniform(-0.12, 0.12)),
        float(rng.uniform(-0.3, 0.3)),
        float(rng.uniform(-0.04, 0.04)),
    )
    return SlotGeometry(
        corners=_corners(entrance, back, side), kind=kind, free=free, car_color=color, car_jitter=jitter
    )


def _band_style(rng: np.random.Generator, style: _RowStyle) -> _RowStyle:
    """``style`` turned into a band row's: unpainted concrete bands instead of paint lines."""
    return replace(
        style,
        line_style="bands",
        width=float(rng.uniform(*BAND_ENTRANCE_WIDTH_M)),
        band_width=float(rng.uniform(*BAND_WIDTH_M)),
        entrance_line=bool(rng.random() < BAND_ENTRANCE_P),
    )


def _contrast_bands(rng: np.random.Generator, lines: list[PaintedLine], ground: np.ndarray) -> None:
    """Give the lot's bands one concrete grey that stands off the ground's mean (lighter or darker)."""
    mean = float(ground.mean())
    delta = float(rng.uniform(*BAND_CONTRAST))
    lowest, highest = BAND_GREY_RANGE
    darker = mean - delta >= lowest and (mean + delta > highest or rng.random() < 0.5)
    grey = mean - delta if darker else mean + delta
    colour = rgb(rng.uniform(*BAND_TINT, 3) * grey)
    for line in lines:
        if line.band:
            line.colour = colour


def _unworn_bands(world: ParkingWorld, bands: list[np.ndarray]) -> np.ndarray:
    """The paint's wear, except on concrete bands (``bands``: their pixel polygons): they are no
    paint and do not fade."""
    if not bands:
        return world.wear
    drawn = np.zeros(world.size, np.float32)
    fill_polygons(drawn, bands, 1.0)
    # as soft as the paint's edges, so no seam shows
    whole = (
        cv2.GaussianBlur(drawn, (0, 0), world.paint_soft_px) if world.paint_soft_px >= MIN_SOFT_PX else drawn
    )
    return np.maximum(world.wear, whole).astype(np.float32)


def _band_row(
    rng: np.random.Generator,
    side: int,
    x_entrance: float,
    y_range: tuple[float, float],
    style: _RowStyle,
    occupancy: float,
    *,
    pitch: float,
    depth: float,
    axis: np.ndarray,
) -> _RowParts:
    """A row of slots between wide unpainted bands (concrete strips between paver slots).

    A band is so wide (``BAND_WIDTH_M``) that each slot keeps its own corners: a marking point at
    each edge of a band where it meets the entrance (two per band between two slots, one at a
    row's end), as labels of such lots put them. ``pitch`` is the slot's
    width (along the entrance); the bands come on top.
    """
    lines: list[PaintedLine] = []
    slots: list[SlotGeometry] = []
    marks: list[WorldMark] = []
    solids: list[objects.Solid] = []
    along = np.array([0.0, 1.0])
    half_gap = style.band_width / 2.0 / abs(float(axis[0]))  # band centre to edge, along the entrance
    pitch += 2.0 * half_gap
    shape = "L" if style.entrance_line else "I"
    y, y_hi = y_range
    while y < y_hi:
        count = int(rng.integers(2, 9)) if rng.random() < 0.6 else int(np.ceil((y_hi - y) / pitch))
        count = max(1, count)
        centres = [np.array([x_entrance, y + i * pitch]) for i in range(count + 1)]
        for i, centre in enumerate(centres):
            lines.append(
                PaintedLine(
                    _line_poly(centre, centre + axis * depth, style.band_width), style.paint, band=True
                )
            )
            if i > 0:
                marks.append(WorldMark(centre - along * half_gap, axis.copy(), shape))
            if i < count:
                marks.append(WorldMark(centre + along * half_gap, axis.copy(), shape))
        if style.entrance_line:  # its slot-side edge is the entrance, so the corners sit on it
            offset = np.array([-side * style.width / 2.0, 0.0])
            start, end = centres[0] - along * half_gap + offset, centres[-1] + along * half_gap + offset
            lines.append(PaintedLine(_line_poly(start, end, style.width), style.paint, band=True))
        if style.back_line:
            back = axis * depth
            start, end = centres[0] - along * half_gap + back, centres[-1] + along * half_gap + back
            lines.append(PaintedLine(_line_poly(start, end, style.band_width), style.paint, band=True))
        for i in range(count):
            entrance = (centres[i] + along * half_gap, centres[i + 1] - along * half_gap)
            slot = _drawn_slot(rng, entrance, axis * depth, side, style.kind, occupancy)
            slot.markings = "band"
            slots.append(slot)
            if not slot.free:
                solids += _parked_car(slot)
        if rng.random() < 0.2:  # a lamp post at the back end of the group's last band
            solids.append(objects.pole(centres[-1] + axis * (depth + 0.3), 0.08, (90, 140, 170)))
        # the next group shares this band: a gap between two bands would be drawn like a slot (two
        # bands, ground between) without being one
        y = float(centres[-1][1])
    if rng.random() < 0.4:
        back_x = x_entrance + side * depth + side * 0.3
        colour = rgb(rng.integers(140, 200, 3))
        solids.append(objects.kerb(np.array([back_x, y_range[0]]), np.array([back_x, y_hi]), colour))
    return slots, lines, marks, solids


def _platform_row(
    rng: np.random.Generator,
    side: int,
    x_entrance: float,
    y_lo: float,
    y_hi: float,
    style: _RowStyle,
    occupancy: float,
) -> _RowParts:
    """A stacked garage row: a steel platform per slot, a painted kerb line along the entrances.

    The slot is the platform. Its marking points are where neighbouring platforms meet at the
    front: one point in the middle of the gap between two platforms (the junction a detector
    sees, and where real garage labels put it), in front of the raised edges. The steel tops
    are ridged along the slot (anti-slip plates), unpainted.
    """
    lines: list[PaintedLine] = []
    slots: list[SlotGeometry] = []
    marks: list[WorldMark] = []
    solids: list[objects.Solid] = []
    pitch, depth = float(rng.uniform(2.4, 2.9)), float(rng.uniform(5.0, 5.6))
    gap = float(rng.uniform(0.15, 0.4))  # between neighbouring platforms
    height = float(rng.uniform(0.08, 0.25))
    axis, along = np.array([float(side), 0.0]), np.array([0.0, 1.0])
    steel = rgb(rng.integers(110, 190) + rng.integers(-8, 9, 3))
    edge = rgb(v * 0.55 for v in steel)
    kerb = x_entrance - side * float(rng.uniform(0.1, 0.4))
    lines.append(
        PaintedLine(_line_poly(np.array([kerb, y_lo]), np.array([kerb, y_hi]), style.width), style.paint)
    )
    ridges = (float(rng.uniform(0.05, 0.15)), float(rng.uniform(0.55, 0.85)))  # spacing (m), shade
    inset = 0.05  # the raised edge starts just behind the corner on the ground
    y = y_lo
    marks.append(WorldMark(np.array([x_entrance, y]), axis.copy(), "L"))
    while y + pitch < y_hi:
        e0 = np.array([x_entrance, y + gap / 2.0])
        e1 = np.array([x_entrance, y + pitch - gap / 2.0])
        b0, b1 = e0 + axis * depth, e1 + axis * depth
        corners = np.array([e0, e1, b1, b0]) if side > 0 else np.array([e1, e0, b0, b1])
        m0, m1 = np.array([x_entrance, y]), np.array([x_entrance, y + pitch])  # gap middles
        label_corners = (
            np.array([m0, m1, m1 + axis * depth, m0 + axis * depth])
            if side > 0
            else np.array([m1, m0, m0 + axis * depth, m1 + axis * depth])
        )
        marks.append(WorldMark(m1.copy(), axis.copy(), "L"))
        footprint = np.array([
            e0 + axis * inset + along * inset, e1 + axis * inset - along * inset,
            b1 - along * inset, b0 + along * inset,
        ])  # fmt: skip
        solids.append(objects.platform(footprint, height, edge, steel, ridges=ridges))
        free = bool(rng.random() >= occupancy)
        colour = None if free else CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
        jitter = (float(rng.uniform(-0.1, 0.1)), float(rng.uniform(-0.2, 0.2)), 0.0)
        slot = SlotGeometry(
            corners=corners,
            kind="perpendicular",
            free=free,
            car_color=colour,
            car_jitter=jitter,
            markings="platform",
            label_corners=label_corners,
        )
        slots.append(slot)
        if not free:
            solids += _parked_car(slot)
        y += pitch
    return slots, lines, marks, solids


def _parked_car(slot: SlotGeometry) -> list[objects.Solid]:
    e_mid = (slot.corners[0] + slot.corners[1]) / 2.0
    b_mid = (slot.corners[2] + slot.corners[3]) / 2.0
    axis = b_mid - e_mid
    depth = float(np.linalg.norm(axis))
    normal = np.array([-axis[1], axis[0]]) / max(depth, 1e-9)
    lateral, longitudinal, yaw = slot.car_jitter
    ca, sa = np.cos(yaw), np.sin(yaw)
    axis_r = np.array([ca * axis[0] - sa * axis[1], sa * axis[0] + ca * axis[1]])
    width_slot = float(np.linalg.norm(slot.corners[1] - slot.corners[0]))
    assert slot.car_color is not None
    if slot.kind == "parallel":
        centre = (e_mid + b_mid) / 2.0 + normal * longitudinal + axis / max(depth, 1e-9) * lateral
        car_axis = np.array([-axis_r[1], axis_r[0]])
        return objects.car(
            centre, car_axis, min(4.6, width_slot - 0.9), min(1.85, depth - 0.35), slot.car_color
        )
    centre = (e_mid + b_mid) / 2.0 + normal * lateral + axis / max(depth, 1e-9) * longitudinal * 0.5
    car_w = min(1.85, width_slot * 0.9 - 0.3) if slot.kind == "perpendicular" else 1.8
    return objects.car(centre, axis_r, min(4.7, depth - 0.3), car_w, slot.car_color)


@functools.lru_cache(maxsize=8)
def _sector_geometry(
    size: tuple[int, int], origin: tuple[float, float], mpp: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Camera sector id per pixel (0 under the ego car), camera positions, a sharpness map, angle bins."""
    h, w = size
    ox, oy = origin
    corners = {  # ego-car corners in pixels: front-left, front-right, rear-right, rear-left
        "fl": (ox - EGO_HALF_WIDTH_M / mpp, oy - EGO_FRONT_M / mpp),
        "fr": (ox + EGO_HALF_WIDTH_M / mpp, oy - EGO_FRONT_M / mpp),
        "rr": (ox + EGO_HALF_WIDTH_M / mpp, oy - EGO_REAR_M / mpp),
        "rl": (ox - EGO_HALF_WIDTH_M / mpp, oy - EGO_REAR_M / mpp),
    }
    far = {
        "fl": (-2.0 * w, -2.0 * h),
        "fr": (3.0 * w, -2.0 * h),
        "rr": (3.0 * w, 3.0 * h),
        "rl": (-2.0 * w, 3.0 * h),
    }
    sector_id = np.zeros((h, w), np.uint8)
    quads = {
        1: ["fl", "fr"],  # front camera
        2: ["fr", "rr"],  # right
        3: ["rr", "rl"],  # rear
        4: ["rl", "fl"],  # left
    }
    for sid, (a, b) in quads.items():
        poly = np.array([corners[a], far[a], far[b], corners[b]], np.float64)
        fill_polygons(sector_id, [poly], sid)
    cameras = np.array([
        (ox, oy - (EGO_FRONT_M + EGO_REAR_M) / 2.0 / mpp),  # (under the car: unused)
        (ox, oy - EGO_FRONT_M / mpp),
        (ox + EGO_HALF_WIDTH_M / mpp, oy - MIRROR_M / mpp),
        (ox, oy - EGO_REAR_M / mpp),
        (ox - EGO_HALF_WIDTH_M / mpp, oy - MIRROR_M / mpp),
    ])  # fmt: skip
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    centre_y = oy - (EGO_FRONT_M + EGO_REAR_M) / 2.0 / mpp
    dx, dy = xx - ox, yy - centre_y
    # distance from the car body in metres: blur and stretch grow with it
    outside = np.hypot(np.maximum(np.abs(dx) * mpp - EGO_HALF_WIDTH_M, 0.0),
                       np.maximum(np.abs(dy) * mpp - (EGO_FRONT_M - EGO_REAR_M) / 2.0, 0.0))  # fmt: skip
    angle_bin = ((np.arctan2(dy, dx) + np.pi) / (2 * np.pi) * 1023).astype(np.int16)
    for array in (sector_id, outside, angle_bin):
        array.flags.writeable = False  # shared by every scene of this size
    return sector_id, cameras, outside, angle_bin


def _sector_of(point: np.ndarray, sector_id: np.ndarray) -> int:
    h, w = sector_id.shape
    x = int(np.clip(point[0], 0, w - 1))
    y = int(np.clip(point[1], 0, h - 1))
    return int(sector_id[y, x]) or 1


@dataclass
class _Rows:
    """The rows of slots on both sides of the aisle, with their paint, marking points and solids."""

    slots: list[SlotGeometry] = field(default_factory=list)
    lines: list[PaintedLine] = field(default_factory=list)
    marks: list[WorldMark] = field(default_factory=list)
    solids: list[objects.Solid] = field(default_factory=list)
    kinds: list[dict[str, Any]] = field(default_factory=list)  # per row: kind, line style, entrance line


def _sample_rows(
    rng: np.random.Generator,
    band_rng: np.random.Generator,
    band_sides: list[int],
    *,
    aisle: float,
    y_range: tuple[float, float],
    paint: tuple[int, int, int],
    line_w: float,
    indoor: bool,
) -> _Rows:
    """A row (or a wall: none) on each side of an aisle ``aisle`` m wide, and people walking in it."""
    y_lo, y_hi = y_range
    rows = _Rows()
    for side in (-1, 1):
        if rng.random() < 0.1:
            continue  # a wall or kerb on this side: no slots
        style = _row_style(rng, paint, line_w, indoor=indoor)
        if side in band_sides:
            style = _band_style(band_rng, style)
        rows.kinds.append(
            {"kind": style.kind, "lines": style.line_style, "entrance_line": style.entrance_line}
        )
        slots, lines, marks, solids = _row(rng, side, side * aisle / 2.0, y_lo, y_hi, style, indoor=indoor)
        rows.slots += slots
        rows.lines += lines
        rows.marks += marks
        rows.solids += solids
    for _ in range(int(rng.integers(0, 3)) if rng.random() < 0.35 else 0):
        centre = np.array([rng.uniform(-aisle / 2.0 + 0.8, aisle / 2.0 - 0.8), rng.uniform(y_lo, y_hi)])
        if abs(centre[0]) < EGO_HALF_WIDTH_M + 0.6 and -2.0 < centre[1] < 5.0:
            continue  # not standing on the ego car
        shirt = rgb(rng.integers(20, 230, 3))
        rows.solids.append(objects.person(centre, float(rng.uniform(0, np.pi)), shirt))
    return rows


def _sample_lateral(rng: np.random.Generator, aisle: float) -> float:
    """The car's offset across the aisle: when searching for a slot, its side 0.5-1.8 m from a row."""
    if rng.random() < 0.7:
        clearance = aisle / 2.0 - EGO_HALF_WIDTH_M
        return float(rng.choice([-1.0, 1.0]) * rng.uniform(clearance - 1.8, clearance - 0.5))
    return float(rng.uniform(-0.6, 0.6))


@dataclass
class _CameraLook:
    """How the four stitched cameras see the lot: gains, blur, streaks, floor reflections."""

    sector_id: np.ndarray  # (H, W) sector of each pixel (0: the car, 1-4: front, right, rear, left)
    sector_gain: np.ndarray
    sharpness: np.ndarray
    streaks: np.ndarray
    reflections: np.ndarray | None
    camera_heights: np.ndarray


def _sample_camera_look(
    rng: np.random.Generator,
    size: tuple[int, int],
    origin_px: tuple[float, float],
    metres_per_pixel: float,
    *,
    indoor: bool,
) -> _CameraLook:
    h, w = size
    sector_id, cameras, outside, angle_bin = _sector_geometry(size, origin_px, metres_per_pixel)
    gains = np.ones((5, 3), np.float32)
    gains[1:] = rng.uniform(0.75, 1.25, (4, 1)) * rng.uniform(0.94, 1.06, (4, 3))
    blend_px = float(rng.uniform(0.05, 1.0)) / metres_per_pixel
    # each camera darkens away from its axis (lens vignetting); the seams blend over blend_px.
    # Built at a quarter of the size, where the blur is cheap.
    qw, qh = max(w // 4, 4), max(h // 4, 4)
    small_sector = cv2.resize(sector_id, (qw, qh), interpolation=cv2.INTER_NEAREST)
    yy, xx = np.mgrid[0:qh, 0:qw].astype(np.float32) * np.float32(4.0)
    centres = cameras[small_sector]
    reach = np.hypot(xx - centres[..., 0], yy - centres[..., 1]) * metres_per_pixel
    falloff = float(rng.uniform(0.0, 0.05))  # per metre from the camera
    small = gains[small_sector] * np.clip(1.0 - falloff * reach, 0.55, 1.0)[..., None]
    small = cv2.GaussianBlur(small.astype(np.float32), (0, 0), max(blend_px / 12.0, 0.3))
    sector_gain = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)
    # sharp near the car, soft and streaky far away: weight of the sharp image
    soft_from = float(rng.uniform(1.0, 3.0))
    sharpness = np.clip(1.0 - (outside - soft_from) / float(rng.uniform(3.0, 8.0)), 0.15, 1.0).astype(
        np.float32
    )
    streaks = (1.0 + float(rng.uniform(0.15, 0.4)) * cv2.resize(
        rng.uniform(-1, 1, (1, 256)).astype(np.float32), (1024, 1), interpolation=cv2.INTER_LINEAR
    )[0]).astype(np.float32)  # fmt: skip
    # the ground streaks too, the more the farther from the car (texture stretched along the rays)
    ground_streaks = cv2.resize(
        rng.uniform(-1, 1, (1, 512)).astype(np.float32), (1024, 1), interpolation=cv2.INTER_LINEAR
    )[0]
    far = 1.0 - sharpness
    streak_gain = 1.0 + float(rng.uniform(0.0, 0.25)) * ground_streaks[angle_bin] * far
    sector_gain *= streak_gain[..., None]
    reflections = _reflections(rng, size) if (indoor and rng.random() < 0.75) else None
    if rng.random() < (0.7 if indoor else 0.25):  # lamps or sky glare mirrored by the floor: bright rays
        rays = np.zeros(1024, np.float32)
        for _ in range(int(rng.integers(2, 9))):
            ray_centre, width = int(rng.integers(0, 1024)), float(rng.uniform(3.0, 25.0))
            offsets = (np.arange(1024) - ray_centre + 512) % 1024 - 512
            rays += float(rng.uniform(15, 60)) * np.exp(-0.5 * (offsets / width) ** 2).astype(np.float32)
        glare = rays[angle_bin] * far
        reflections = glare if reflections is None else reflections + glare
    camera_heights = np.array([1.0, *rng.uniform(0.6, 0.95, 1), *rng.uniform(0.85, 1.1, 1),
                               *rng.uniform(0.75, 1.0, 1), *rng.uniform(0.85, 1.1, 1)])  # fmt: skip
    return _CameraLook(
        sector_id=sector_id,
        sector_gain=sector_gain,
        sharpness=sharpness,
        streaks=cv2.merge([streaks[angle_bin]] * 3),
        reflections=reflections,
        camera_heights=camera_heights,
    )


def sample_parking_world(
    rng: np.random.Generator,
    size: tuple[int, int],
    *,
    metres_per_pixel: float,
    origin_px: tuple[float, float],
    duration_s: float,
    speed: float,
    side_view_p: float = 0.0,
) -> ParkingWorld:
    """Lay out a random parking lot around the ego's path for a drive of ``duration_s``.

    With probability ``side_view_p`` the frames are side views: only a strip beside the car
    (3-5 m wide, from its left or right side) is kept, the rest black — the left/right views
    parking systems also use, as a pipeline sees them padded to its square input.

    The parts are drawn from ``rng`` in a fixed order (ground kind, rows, the car's path, ground,
    paint wear, cameras, the rest); looks added later draw from streams of their own, so that
    every other seed's lot stays as it was.
    """
    h, w = size
    view_radius = float(np.hypot(h, w)) / 2.0 * metres_per_pixel + 1.0
    travel = speed * duration_s
    y_lo, y_hi = -view_radius - float(rng.uniform(0, 3)), travel + view_radius
    indoor = bool(rng.random() < 0.35)
    ground_kind = choose_ground(rng, indoor=indoor)
    # Band rows come from a stream of their own: every other seed's lot stays as it was drawn.
    band_rng = np.random.default_rng([_stream_key(rng), BANDS_STREAM])
    band_sides = [] if indoor else [side for side in (-1, 1) if band_rng.random() < BAND_ROWS_P]
    if band_sides and ground_kind not in PAVER_GROUNDS and band_rng.random() < BAND_PAVER_GROUND_P:
        ground_kind = str(band_rng.choice(PAVER_GROUNDS))
    aisle = float(rng.uniform(5.0, 7.5))
    line_w = float(rng.uniform(0.08, 0.25))
    paint_name = str(rng.choice(list(PAINT_P), p=list(PAINT_P.values())))
    paint = PAINTS[paint_name]
    rows = _sample_rows(
        rng,
        band_rng,
        band_sides,
        aisle=aisle,
        y_range=(y_lo, y_hi),
        paint=paint,
        line_w=line_w,
        indoor=indoor,
    )
    lateral = _sample_lateral(rng, aisle)
    patterned = ground_kind in PAVER_GROUNDS
    tex_mpp = metres_per_pixel * (1.25 if patterned else 2.0)
    stains = int(rng.integers(1, 8) * max(1.0, travel / 10.0))
    ground = make_ground(
        rng,
        ground_kind,
        x_range=(-view_radius - 1.0, view_radius + 1.0),
        y_range=(y_lo - 1.0, y_hi + 1.0),
        tex_mpp=tex_mpp,
        stains=stains,
    )
    _decorate_ground(
        rng, ground, rows.slots, paint, aisle, (y_lo, y_hi), painted=ground_kind in ("painted", "epoxy")
    )
    if band_sides:
        _contrast_bands(band_rng, rows.lines, ground.image)

    wear_strength = float(rng.uniform(0.0, 0.65))
    wear = 1.0 - wear_strength * (0.5 + 0.5 * smooth_noise(rng, size, max(3.0, w / 40.0)))
    wear = np.clip(wear * float(rng.uniform(0.7, 1.0)), 0.3, 1.0).astype(np.float32)
    look = _sample_camera_look(rng, size, origin_px, metres_per_pixel, indoor=indoor)
    world = ParkingWorld(
        size=size,
        metres_per_pixel=metres_per_pixel,
        origin_px=origin_px,
        speed=speed,
        slots=rows.slots,
        lines=rows.lines,
        marks=rows.marks,
        solids=rows.solids,
        ground=ground,
        wear=wear,
        sector_gain=look.sector_gain,
        noise_scale=(rng.uniform(0.5, 4.0, 5).astype(np.float32) / 16.0)[look.sector_id][..., None],
        camera_heights=look.camera_heights,
        sharpness=look.sharpness,
        streaks=look.streaks,
        reflections=look.reflections,
        shadow_strength=float(rng.uniform(0.15, 0.6)),
        smear=float(rng.uniform(0.01, 0.06)),
        style={
            "indoor": indoor,
            "ground": ground_kind,
            "paint": paint_name,
            "rows": rows.kinds,
            "objects": sorted({solid.kind for solid in rows.solids}),
            "ego_look": str(rng.choice(EGO_LOOKS, p=[0.6, 0.25, 0.15])),
            "ego_scale": float(rng.uniform(1.0, 1.25)),
            "view": str(rng.choice(["left", "right"])) if rng.random() < side_view_p else "full",
            "strip_m": (float(rng.uniform(0.0, 0.4)), float(rng.uniform(3.0, 5.0))),  # into the box, out
        },
        pose0=(
            lateral,
            float(rng.uniform(-1.0, 1.0)),
            float(np.deg2rad(rng.uniform(-6, 6))),
        ),
        weave=float(rng.uniform(0.0, 0.3)),
    )
    # Drawn last: the rest of a seed's lot stays as it was drawn before these looks existed.
    _paint_realism(rng, world, aisle, (y_lo, y_hi), indoor=indoor)
    # A still view of a curved aisle, drawn from a stream of its own: taking numbers from ``rng``
    # here would shift the rendering's noise, so every other seed's image would change too.
    curve_rng = np.random.default_rng([_stream_key(rng), CURVE_STREAM])
    if duration_s == 0.0 and curve_rng.random() < CURVED_P:
        world.curve_radius_m = float(curve_rng.choice([-1.0, 1.0]) * curve_rng.uniform(*CURVE_RADIUS_M))
    world.style["curve_radius_m"] = round(world.curve_radius_m, 2)
    _crossing_looks(np.random.default_rng([_stream_key(rng), LOOKS_STREAM]), world, aisle, indoor=indoor)
    return world


def _crossing_looks(rng: np.random.Generator, world: ParkingWorld, aisle: float, *, indoor: bool) -> None:
    """Paint and light that cross the slot lines where real AVM views show false junctions.

    - separating lines that run on across a walkway band to the aisle: the band's edges then meet
      them in T-like crossings a metre from the slots' entrances, which are not marking points;
    - long straight light streaks on the floor (a lamp tube's or a window's reflection, a sun
      streak) crossing lines at any angle.

    Drawn from a stream of their own (``rng``), so every other look of a seed stays as it was.
    """
    look = world.style["paint_look"]
    crossing: list[int] = []
    if look["walkways"]:
        to_tex = world.ground.world_to_texture()
        paint = PAINTS[world.style["paint"]]
        for band in look["walkways"]:
            if rng.random() >= CROSSING_LINES_P:
                continue
            side = band["side"]
            reach = band["inset_m"] + band["width_m"] + float(rng.uniform(0.0, 0.6))
            width = float(rng.uniform(0.08, 0.2))
            polygons = []
            for slot in world.slots:
                if slot.markings != "paint" or np.sign(slot.corners[0, 0]) != side:
                    continue
                for entrance, back in ((0, 3), (1, 2)):
                    start = slot.corners[entrance]
                    into = slot.corners[back] - start
                    length = float(np.linalg.norm(into))
                    if length < 1e-6 or abs(into[0]) < 0.3 * length:
                        continue  # a side that does not point away from the aisle cannot cross the band
                    outward = -into / length
                    end = start + outward * reach / abs(outward[0])
                    polygons.append(_apply(to_tex, _line_poly(start, end, width)))
            if polygons:
                fill_polygons(world.ground.image, polygons, paint)
                crossing.append(int(side))
    look["crossing_lines"] = crossing
    streaks = 0
    if rng.random() < (LIGHT_STREAK_P_INDOOR if indoor else LIGHT_STREAK_P_OUTDOOR):
        h, w = world.size
        light = np.zeros((h, w), np.float32)
        streaks = int(rng.integers(1, 5))
        for _ in range(streaks):
            centre = rng.uniform((0.0, 0.0), (w, h))
            angle = float(rng.uniform(0.0, np.pi))
            half = float(rng.uniform(*LIGHT_STREAK_LENGTH_M)) / world.metres_per_pixel / 2.0
            offset = half * np.array([np.cos(angle), np.sin(angle)])
            thickness = max(1, round(float(rng.uniform(*LIGHT_STREAK_WIDTH_M)) / world.metres_per_pixel))
            a, b = np.round(centre - offset).astype(int), np.round(centre + offset).astype(int)
            cv2.line(
                light, (int(a[0]), int(a[1])), (int(b[0]), int(b[1])), float(rng.uniform(30, 90)), thickness
            )
        soft = np.asarray(cv2.GaussianBlur(light, (0, 0), max(0.5, float(rng.uniform(0.3, 1.5)))), np.float32)
        world.reflections = soft if world.reflections is None else world.reflections + soft
    look["light_streaks"] = streaks


def _stream_key(rng: np.random.Generator) -> int:
    """A number fixed by ``rng``'s current state that does not advance it."""
    state = rng.bit_generator.state["state"]
    value = state["state"] if isinstance(state, dict) else state
    return int(value) % (1 << 63)


def _paint_realism(
    rng: np.random.Generator,
    world: ParkingWorld,
    aisle: float,
    y_range: tuple[float, float],
    *,
    indoor: bool,
) -> None:
    """Paint as real stitched AVM views show it: faint, soft-edged, beside unlabelled walkway bands.

    - faint paint (old, or white on light concrete): the whole lot's paint blends further
      into the ground;
    - soft edges: stitching, lens blur and upsampling spread every line over a few pixels;
    - walkway and kerb bands painted along the aisle (green, yellow, grey, blue, red), parallel
      to the rows: long edges that cross no separating line and are no slot marking.
    """
    faint = rng.random() < FAINT_PAINT_P
    fade = float(rng.uniform(*FAINT_PAINT_FADE))
    if faint:
        world.wear = np.clip(world.wear * fade, FAINT_PAINT_MIN, 1.0).astype(np.float32)
    soft = rng.random() < SOFT_PAINT_P
    sigma_m = float(rng.uniform(*SOFT_PAINT_SIGMA_M))
    world.paint_soft_px = sigma_m / world.metres_per_pixel if soft else 0.0
    bands: list[dict[str, Any]] = []
    if rng.random() < (WALKWAY_P_INDOOR if indoor else WALKWAY_P_OUTDOOR):
        to_tex = world.ground.world_to_texture()
        y_lo, y_hi = y_range
        for side in (-1.0, 1.0):
            if rng.random() < 0.35:
                continue
            inset = float(rng.uniform(0.25, 1.6))  # from the entrance towards the aisle
            width = float(rng.uniform(0.15, 0.7))
            colour = WALKWAY_COLOURS[int(rng.integers(len(WALKWAY_COLOURS)))]
            colour = rgb(np.asarray(colour) * float(rng.uniform(0.75, 1.1)))
            x_in = side * (aisle / 2.0 - inset)
            x_out = x_in - side * width
            band = np.array(
                [[x_in, y_lo - 1.0], [x_in, y_hi + 1.0], [x_out, y_hi + 1.0], [x_out, y_lo - 1.0]]
            )
            fill_polygons(world.ground.image, [_apply(to_tex, band)], colour)
            bands.append({"side": int(side), "inset_m": round(inset, 3), "width_m": round(width, 3)})
    world.style["paint_look"] = {
        "faint": faint,
        "soft_sigma_m": round(sigma_m, 4) if soft else 0.0,
        "walkways": bands,
    }


def _decorate_ground(
    rng: np.random.Generator,
    ground: GroundTexture,
    slots: list[SlotGeometry],
    paint: tuple[int, int, int],
    aisle: float,
    y_range: tuple[float, float],
    *,
    painted: bool,
) -> None:
    """Paint slot fills, slot numbers, text and arrows into the ground texture (unlabelled)."""
    to_tex = ground.world_to_texture()
    tex_mpp = float(ground.to_world[0, 0])
    if painted and rng.random() < 0.5:
        fill = rgb(rng.integers(40, 220, 3))
        fill_polygons(ground.image, [_apply(to_tex, s.corners) for s in slots], fill)
    if slots and rng.random() < 0.6:
        first = int(rng.integers(1, 900))
        colour = paint if rng.random() < 0.7 else rgb(rng.integers(120, 255, 3))
        at_back = rng.random() < 0.5
        prefix = str(rng.choice(["", "", "A", "B", "P", "B2-"]))
        for index, slot in enumerate(slots):
            entrance = (slot.corners[0] + slot.corners[1]) / 2.0
            back = (slot.corners[2] + slot.corners[3]) / 2.0
            where = entrance + (back - entrance) * (0.8 if at_back else 0.2)
            axis = _apply(to_tex, back[None])[0] - _apply(to_tex, entrance[None])[0]
            angle = float(np.arctan2(axis[1], axis[0]))
            width_m = float(np.linalg.norm(slot.corners[1] - slot.corners[0]))
            height_px = min(0.45, 0.25 * width_m) / tex_mpp
            text = f"{prefix}{first + index:03d}"
            paint_text(ground.image, text, tuple(_apply(to_tex, where[None])[0]), height_px, angle, colour)
    if rng.random() < 0.5:  # arrows along the aisle
        y_lo, y_hi = y_range
        direction = np.array([0.0, 1.0 if rng.random() < 0.5 else -1.0])
        for y in np.arange(y_lo + float(rng.uniform(0, 8)), y_hi, float(rng.uniform(8.0, 15.0))):
            x = float(rng.uniform(-aisle / 4.0, aisle / 4.0))
            arrow = arrow_polygon(np.array([x, y]), direction, float(rng.uniform(2.0, 4.0)), 0.6)
            fill_polygons(ground.image, [_apply(to_tex, arrow)], paint)
    if rng.random() < 0.25:  # words painted across the aisle
        y = float(rng.uniform(*y_range))
        text = str(rng.choice(["SLOW", "EXIT", "STOP", "P", "NO PARKING", "VIP"]))
        paint_text(
            ground.image, text, tuple(_apply(to_tex, np.array([[0.0, y]]))[0]), 0.6 / tex_mpp, 0.0, paint
        )


def _reflections(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Additive light of ceiling lamps mirrored by a glossy floor (image space, float32)."""
    h, w = size
    small: np.ndarray = np.zeros((max(h // 8, 4), max(w // 8, 4)), np.float32)
    for _ in range(int(rng.integers(2, 7))):
        cx, cy = float(rng.uniform(0, small.shape[1])), float(rng.uniform(0, small.shape[0]))
        rx = float(rng.uniform(0.5, 2.0))
        ry = rx * float(rng.uniform(2.0, 6.0))
        cv2.ellipse(
            small, ((cx, cy), (2 * rx, 2 * ry), float(rng.uniform(0, 180))), float(rng.uniform(40, 110)), -1
        )
    small = cv2.GaussianBlur(small, (0, 0), 1.5)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


POLAR_ANGLES = 360


@functools.lru_cache(maxsize=8)
def _polar_maps(size: tuple[int, int], centre: tuple[float, float]) -> tuple[np.ndarray, ...]:
    """``cv2.remap`` maps image -> polar (rows: angle, cols: radius in pixels) and back.

    Own maps rather than ``cv2.warpPolar``, which leaves pixels uninitialised (and scenes
    non-deterministic) when the centre is off the image middle.
    """
    h, w = size
    cx, cy = centre
    radius = int(np.ceil(np.hypot(max(cx, w - cx), max(cy, h - cy)))) + 1
    theta = np.linspace(0.0, 2.0 * np.pi, POLAR_ANGLES, endpoint=False, dtype=np.float32)[:, None]
    r = np.arange(radius, dtype=np.float32)[None, :]
    to_polar = ((cx + r * np.cos(theta)).astype(np.float32), (cy + r * np.sin(theta)).astype(np.float32))
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    angle = np.mod(np.arctan2(yy - cy, xx - cx), 2.0 * np.pi) * (POLAR_ANGLES / (2.0 * np.pi))
    back = (np.hypot(xx - cx, yy - cy).astype(np.float32), angle.astype(np.float32))
    maps = (*cv2.convertMaps(*to_polar, cv2.CV_16SC2), *cv2.convertMaps(*back, cv2.CV_16SC2))
    for array in maps:
        array.flags.writeable = False
    return maps


def _radial_smear(
    image: np.ndarray, centre: tuple[float, float], sharpness: np.ndarray, length_px: int
) -> np.ndarray:
    """Blur along rays from ``centre``, mixed in where ``sharpness`` is low (far from the car)."""
    h, w = image.shape[:2]
    map1, map2, back1, back2 = _polar_maps((h, w), (float(centre[0]), float(centre[1])))
    polar = cv2.remap(image, map1, map2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    polar = cv2.blur(polar, (max(length_px, 1), 1))
    back = cv2.remap(polar, back1, back2, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return cv2.blendLinear(image, back, sharpness, 1.0 - sharpness)


def _draw_solids(
    world: ParkingWorld,
    image: np.ndarray,
    mask: np.ndarray,
    occluder: np.ndarray,
    to_px: np.ndarray,
    cameras: np.ndarray,
    sector_id: np.ndarray,
) -> None:
    """Project every object that may reach the view, farthest from its camera first.

    An object hides the ground: its outline goes into ``occluder`` and its pixels lose their label
    in ``mask``. A garage platform (a solid with a flat top) is the slot's own surface, raised: where
    it shows, top and side faces, it carries the label of the ground it stands on (free space on a
    free platform), so that an empty platform reads as a free slot however far the camera stretches it.
    """
    h, w = world.size
    drawn = []
    for solid in world.solids:
        footprint = _apply(to_px, solid.footprint)
        low, high = footprint.min(axis=0), footprint.max(axis=0)
        # the smear runs away from a camera inside the view: an object outside stays outside
        if high[0] < 0 or high[1] < 0 or low[0] > w - 1 or low[1] > h - 1:
            continue
        centre = footprint.mean(axis=0)
        sector = _sector_of(centre, sector_id)
        camera = cameras[sector]
        drawn.append(
            (float(np.linalg.norm(centre - camera)), solid, footprint, camera, world.camera_heights[sector])
        )
    drawn.sort(key=lambda item: -item[0])
    # read before any object is drawn: a neighbour's stretched platform may cover this footprint
    surfaces = [
        _ground_label(mask, footprint) if solid.top is not None else 0 for _, solid, footprint, _, _ in drawn
    ]
    for (_, solid, footprint, camera, height), surface in zip(drawn, surfaces, strict=True):
        bands = objects.project_bands(footprint, camera, float(height), solid.bands)
        outline = [bands[0][0]]  # the top band's polygon spans the whole object
        if solid.top is not None:
            scale = objects.stretch(max(b.z1 for b in solid.bands), float(height))
            top = camera + (footprint - camera) * scale
            fill_polygons(image, [top], solid.top)
            if solid.ridges is not None:
                _draw_ridges(image, top, solid, world.metres_per_pixel * scale)
            outline.append(top)
        fill_polygons(occluder, [bands[0][0]], 1)
        fill_polygons(mask, outline, surface)
        for polygon, colour in bands:
            fill_polygons(image, [polygon], colour)


def _ground_label(mask: np.ndarray, footprint: np.ndarray) -> int:
    """The most common label of ``mask`` inside the ``footprint`` polygon (0 outside the image)."""
    h, w = mask.shape
    x0, y0 = np.clip(np.floor(footprint.min(axis=0)).astype(int), 0, [w, h])
    x1, y1 = np.clip(np.ceil(footprint.max(axis=0)).astype(int) + 1, 0, [w, h])
    inside = np.zeros((max(y1 - y0, 0), max(x1 - x0, 0)), np.uint8)
    fill_polygons(inside, [footprint - np.array([x0, y0], np.float64)], 1)
    labels = mask[y0:y1, x0:x1][inside > 0]
    return int(np.bincount(labels).argmax()) if labels.size else 0


def _draw_ridges(image: np.ndarray, top: np.ndarray, solid: objects.Solid, metres_per_px: float) -> None:
    """Ridges along a platform's top (footprint order: front edge, then back edge reversed)."""
    assert solid.ridges is not None and solid.top is not None
    spacing_m, shade = solid.ridges
    front, back = (top[0], top[1]), (top[3], top[2])
    width_px = float(np.linalg.norm(front[1] - front[0]))
    count = int(width_px * metres_per_px / spacing_m)
    if count < 2 or width_px / count < 2.0:
        return  # too fine to draw at this resolution
    colour = tuple(int(v * shade) for v in solid.top)
    for f in (np.arange(count) + 0.5) / count:
        a = front[0] + f * (front[1] - front[0])
        b = back[0] + f * (back[1] - back[0])
        cv2.line(image, tuple(np.rint(a).astype(int)), tuple(np.rint(b).astype(int)), colour, 1, cv2.LINE_AA)


def _cast_shadows(world: ParkingWorld, image: np.ndarray, to_px: np.ndarray) -> None:
    """Soft dark ground around tall objects (parked cars, pillars): ambient occlusion of a lot."""
    h, w = world.size
    shade = np.zeros((h, w), np.uint8)
    grow = 0.35 / world.metres_per_pixel
    for solid in world.solids:
        if solid.kind not in ("car", "pillar", "wall"):
            continue
        footprint = _apply(to_px, solid.footprint)
        centre = footprint.mean(axis=0)
        offsets = footprint - centre
        norms = np.maximum(np.linalg.norm(offsets, axis=1, keepdims=True), 1e-6)
        fill_polygons(shade, [centre + offsets * (1.0 + grow / norms)], 255)
    if not shade.any():
        return
    soft = cv2.blur(shade, (max(3, int(grow)) | 1, max(3, int(grow)) | 1))
    weight = 1.0 - world.shadow_strength * soft.astype(np.float32) / 255.0
    np.copyto(image, cv2.multiply(image, cv2.merge([weight, weight, weight]), dtype=cv2.CV_8U))


def _draw_lot(
    world: ParkingWorld, roles: ClassRoles, to_px: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[tuple[int, SlotGeometry, np.ndarray]]]:
    """The ground and the paint, worn and softened -> (image, mask, slots near the view in pixels)."""
    h, w = world.size
    line_id, free_id = roles.require("slot_line"), roles.require("free_space")
    # WARP_INVERSE_MAP: the matrix maps output pixels to texture pixels
    image = cv2.warpAffine(
        world.ground.image,
        np.linalg.inv(to_px @ world.ground.to_world)[:2],
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    mask = np.zeros((h, w), np.uint8)
    margin = 3.0 / world.metres_per_pixel
    visible = []
    for slot_id, slot in enumerate(world.slots):
        px = _apply(to_px, slot.corners)
        if (
            px[:, 0].max() < -margin
            or px[:, 0].min() > w + margin
            or px[:, 1].max() < -margin
            or px[:, 1].min() > h + margin
        ):
            continue
        visible.append((slot_id, slot, px))
        if slot.free:
            fill_polygons(mask, [px], free_id)
    bare = image.copy()
    by_colour: dict[tuple[int, int, int], list[np.ndarray]] = {}
    bands: list[np.ndarray] = []
    for line in world.lines:
        polygon = _apply(to_px, line.polygon)
        by_colour.setdefault(line.colour, []).append(polygon)
        if line.band:
            bands.append(polygon)
    for colour, polys in by_colour.items():
        fill_polygons(image, polys, colour)
        fill_polygons(mask, polys, line_id)
    wear = _unworn_bands(world, bands)
    if world.paint_soft_px >= MIN_SOFT_PX:
        # the paint layer blurred: edges spread over the ground, thin lines lose contrast; the
        # label stays the painted polygon
        paint = cv2.subtract(image.astype(np.float32), bare.astype(np.float32))
        paint = cv2.GaussianBlur(paint, (0, 0), world.paint_soft_px)
        paint *= wear[..., None]
        image = cv2.add(bare.astype(np.float32), paint)
        image = np.clip(image, 0, 255).astype(np.uint8)
    else:
        blend_where(image, bare, wear, mask == line_id)  # worn paint
    return image, mask, visible


def _draw_ego(
    world: ParkingWorld, image: np.ndarray, mask: np.ndarray, occluder: np.ndarray
) -> tuple[np.ndarray, float]:
    """The ego car: stitched AVM images show a blank box or a car icon there -> (its box, its middle row)."""
    ox, oy = world.origin_px
    k = world.style["ego_scale"] / world.metres_per_pixel
    half_w, front, rear = EGO_HALF_WIDTH_M * k, EGO_FRONT_M * k, EGO_REAR_M * k
    mid_y = oy - (EGO_FRONT_M + EGO_REAR_M) / 2.0 / world.metres_per_pixel
    half_l = (front - rear) / 2.0
    box = np.array([[ox - half_w, mid_y - half_l], [ox + half_w, mid_y - half_l],
                    [ox + half_w, mid_y + half_l], [ox - half_w, mid_y + half_l]])  # fmt: skip
    look = world.style["ego_look"]
    if look == "dark_car":
        ego = objects.car(np.array([ox, mid_y]), np.array([0.0, -1.0]), 2 * half_l, 2 * half_w, (30, 30, 34))
        ego_outline = ego[0].footprint
        fill_polygons(image, [ego_outline], (22, 22, 24))
    else:
        ego_outline = box
        fill_polygons(image, [box], (0, 0, 0) if look == "black_box" else (60, 60, 60))
    fill_polygons(occluder, [ego_outline], 1)
    fill_polygons(mask, [ego_outline], 0)
    return box, mid_y


def _camera_finish(
    world: ParkingWorld,
    image: np.ndarray,
    *,
    time_s: float,
    ego_centre: tuple[float, float],
    rng: np.random.Generator,
) -> np.ndarray:
    """What the cameras and the stitching add: sector gains, floor reflections, radial smear, noise, JPEG."""
    h, w = world.size
    image = cv2.multiply(image, world.sector_gain, dtype=cv2.CV_8U)
    if world.reflections is not None:
        shift = int(world.speed * time_s * 0.5 / world.metres_per_pixel) % h
        light = np.roll(world.reflections, shift, axis=0) if shift else world.reflections
        image = cv2.add(image, cv2.merge([light, light, light]), dtype=cv2.CV_8U)
    # the far field of a stitched view is stretched: blur along the rays, more with distance
    image = _radial_smear(image, ego_centre, world.sharpness, max(3, int(world.smear * max(h, w))))
    # each camera has its own noise level
    noise = noise_crop(rng, (h, w)).astype(np.float32) * world.noise_scale
    image = cv2.add(image, noise, dtype=cv2.CV_8U)
    return photometric_finish(image, rng, blur_p=0.25, jpeg_p=0.4)


def _slot_labels(
    visible: list[tuple[int, SlotGeometry, np.ndarray]],
    to_px: np.ndarray,
    bend: _Bend | None,
    keep: tuple[int, int] | None,
    occluder: np.ndarray,
    box: np.ndarray,
) -> list[ParkingSlot]:
    """The slots whose entrance lies in the image (back corners may lie outside), in pixels."""
    h, w = occluder.shape
    slots: list[ParkingSlot] = []
    for slot_id, slot, painted_px in visible:
        px = painted_px if slot.label_corners is None else _apply(to_px, slot.label_corners)
        if bend is not None:
            px = bend.points(px)
        entrance = px[:2]
        if not (
            (entrance >= 0).all() and (entrance[:, 0] <= w - 1).all() and (entrance[:, 1] <= h - 1).all()
        ):
            continue
        if keep is not None and not ((entrance[:, 0] >= keep[0]) & (entrance[:, 0] < keep[1])).all():
            continue
        centre = np.clip(px.mean(axis=0).round().astype(int), 0, [w - 1, h - 1])
        if occluder[centre[1], centre[0]] and slot.free and _under_ego(centre, box):
            continue  # under the ego car
        slots.append(
            ParkingSlot(
                corners=px.astype(np.float32),
                free=slot.free,
                instance_id=slot_id,  # the lot's own numbering: one physical slot keeps it in every frame
                extra={"type": slot.kind, "occupied": not slot.free, "markings": slot.markings},
            )
        )
    return slots


def _mark_labels(
    world: ParkingWorld,
    to_px: np.ndarray,
    bend: _Bend | None,
    keep: tuple[int, int] | None,
    occluder: np.ndarray,
) -> list[MarkingPoint]:
    """The marking points inside the image (and the side view's strip), in pixels."""
    h, w = occluder.shape
    marks: list[MarkingPoint] = []
    rot = to_px[:2, :2]
    for mark in world.marks:
        p = _apply(to_px, mark.position[None])[0]
        d = rot @ mark.direction
        if bend is not None:
            d = d / max(float(np.linalg.norm(d)), 1e-9)
            d = bend.points(p[None] + d[None] * 0.5)[0]
            p = bend.points(p[None])[0]
            d = d - p
        if not (0 <= p[0] <= w - 1 and 0 <= p[1] <= h - 1):
            continue
        if keep is not None and not keep[0] <= p[0] < keep[1]:
            continue
        marks.append(
            MarkingPoint(
                position=p.astype(np.float32),
                direction=float(np.arctan2(d[1], d[0])),
                shape=mark.shape,
                occluded=bool(occluder[round(p[1]) % h, round(p[0]) % w]),
            )
        )
    return marks


def render_parking(
    world: ParkingWorld, roles: ClassRoles, *, time_s: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, list[ParkingSlot], list[MarkingPoint]]:
    """Draw the lot at ``time_s`` -> (image BGR, mask, slots in pixels, marking points in pixels)."""
    h, w = world.size
    to_px = world.world_to_pixel(time_s)
    image, mask, visible = _draw_lot(world, roles, to_px)

    sector_id, cameras, _, _ = _sector_geometry(world.size, world.origin_px, world.metres_per_pixel)
    _cast_shadows(world, image, to_px)
    occluder = np.zeros((h, w), np.uint8)
    _draw_solids(world, image, mask, occluder, to_px, cameras, sector_id)
    if occluder.any():  # radial streaks over what stands above the ground
        lit = cv2.multiply(image, world.streaks, dtype=cv2.CV_8U)
        np.copyto(image, lit, where=occluder[..., None].astype(bool))

    bend = _Bend.of(world, to_px)
    if bend is not None:  # the ground and what stands on it follow the curve; the car does not
        image, mask, occluder = bend.layers(image, mask, occluder)
    box, mid_y = _draw_ego(world, image, mask, occluder)
    image = _camera_finish(world, image, time_s=time_s, ego_centre=(world.origin_px[0], mid_y), rng=rng)
    keep = _side_view_columns(world, box)
    if keep is not None:  # a side view: black (and unlabelled) beyond the strip
        lo, hi = keep
        for array in (image, mask):
            array[:, :lo] = 0
            array[:, hi:] = 0
        occluder[:, :lo] = 1
        occluder[:, hi:] = 1
    slots = _slot_labels(visible, to_px, bend, keep, occluder, box)
    return image, mask, slots, _mark_labels(world, to_px, bend, keep, occluder)


@dataclass(frozen=True)
class _Bend:
    """A straight lot bent into a curve around the aisle's middle beside the car (pixels).

    In the aisle's own axes (``across`` it, ``along`` it: the car may sit at a slight angle),
    a line along the aisle becomes an arc of ``radius`` around a centre on the ``side`` of it,
    and a line across it a radius, as on a curved row. Near the car it is the identity.
    """

    anchor: np.ndarray  # (2,) pixels
    axes: np.ndarray  # (2, 2) rows: unit "across" and "along" directions in pixels
    radius: float  # pixels
    side: float  # +1: the centre lies along +across, -1: the other way

    @classmethod
    def of(cls, world: ParkingWorld, to_px: np.ndarray) -> _Bend | None:
        if world.curve_radius_m == 0.0:
            return None
        # the aisle's middle line beside the car: the rows on both sides keep their scale
        # within aisle / 2 / radius (slot widths stay plausible)
        ego_y = world.pose(0.0)[1]  # curves are drawn for still views only
        anchor = _apply(to_px, np.array([[0.0, ego_y + EGO_CENTRE_AHEAD_M]]))[0]
        axes = to_px[:2, :2].T.copy()  # world x and y in pixels
        axes /= np.linalg.norm(axes, axis=1, keepdims=True)
        radius = abs(world.curve_radius_m) / world.metres_per_pixel
        return cls(anchor, axes, radius, float(np.sign(world.curve_radius_m)))

    def points(self, points: np.ndarray) -> np.ndarray:
        """Straight-lot pixels -> curved-lot pixels."""
        local = (np.asarray(points, np.float64) - self.anchor) @ self.axes.T
        r, theta = self.radius - self.side * local[..., 0], local[..., 1] / self.radius
        bent = np.stack([self.side * (self.radius - r * np.cos(theta)), r * np.sin(theta)], axis=-1)
        return bent @ self.axes + self.anchor

    def layers(self, image: np.ndarray, mask: np.ndarray, occluder: np.ndarray) -> tuple[np.ndarray, ...]:
        """Image, label mask and occluder resampled onto the curve; what the straight view did not
        hold is black, unlabelled and hidden (stitched views have such ragged outer borders)."""
        h, w = mask.shape
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
        across = (xx - self.anchor[0]) * self.axes[0, 0] + (yy - self.anchor[1]) * self.axes[0, 1]
        along = (xx - self.anchor[0]) * self.axes[1, 0] + (yy - self.anchor[1]) * self.axes[1, 1]
        a = self.radius - self.side * across
        r, theta = np.hypot(a, along), np.arctan2(along, a)
        src_across, src_along = self.side * (self.radius - r), self.radius * theta
        map_x = (self.anchor[0] + src_across * self.axes[0, 0] + src_along * self.axes[1, 0]).astype(
            np.float32
        )
        map_y = (self.anchor[1] + src_across * self.axes[0, 1] + src_along * self.axes[1, 1]).astype(
            np.float32
        )
        outside = (map_x < -0.5) | (map_x > w - 0.5) | (map_y < -0.5) | (map_y > h - 0.5)
        bent_image = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT)
        bent_mask = cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        bent_occluder = cv2.remap(occluder, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_CONSTANT)
        bent_mask[outside] = 0
        bent_occluder[outside] = 1
        return bent_image, bent_mask, bent_occluder


def _side_view_columns(world: ParkingWorld, box: np.ndarray) -> tuple[int, int] | None:
    """Columns ``[lo, hi)`` a side view keeps, or None for the full view."""
    view = world.style.get("view", "full")
    if view == "full":
        return None
    into_box, out = world.style["strip_m"]
    w = world.size[1]
    if view == "right":
        edge = float(box[:, 0].max())
        lo, hi = edge - into_box / world.metres_per_pixel, edge + out / world.metres_per_pixel
    else:
        edge = float(box[:, 0].min())
        lo, hi = edge - out / world.metres_per_pixel, edge + into_box / world.metres_per_pixel
    return int(np.clip(round(lo), 0, w)), int(np.clip(round(hi), 0, w))


def _under_ego(point: np.ndarray, box: np.ndarray) -> bool:
    return bool(
        box[:, 0].min() <= point[0] <= box[:, 0].max() and box[:, 1].min() <= point[1] <= box[:, 1].max()
    )
