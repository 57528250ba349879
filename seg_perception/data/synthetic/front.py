"""Front-camera road scenes (scenarios ``highway`` and ``road``).

A :class:`FrontWorld` is the static content of one drive, laid out in road
coordinates ``(t, s)``: ``s`` metres along the road from the start, ``t`` metres
to the right of the ego lane's centre line. Rendering a frame maps road
coordinates to the ground plane through the road's curvature, projects with a
pinhole camera and fills polygons, so dashes shorten with distance and scroll as
the ego vehicle moves; the lens (roll, distortion) is applied to the finished
picture and its labels together.

Paint is labelled with exactly the pixels it was drawn on; anything drawn later in
front of it (vehicles, trees, barriers, snow banks, the car's own hood) is not.
Everything that merely looks like paint is background: headlights, tail lights,
street lamps and their pools of light, sun glare and its sheen on the road,
reflections on a wet road, snow banks, yellow and white cars, kerbs, concrete
barriers, old ground-off markings, tar seams. Faint paint (worn, far, at night
outside the headlights) stays labelled: the model has to find it.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import cv2
import numpy as np

from seg_perception.config import ClassRoles
from seg_perception.data.synthetic.camera import PinholeCamera
from seg_perception.data.synthetic.conditions import (
    DARK_P,
    Conditions,
    LightSource,
    apply_lighting,
    draw_lights,
    fade_rows,
    fog_overlay,
    ground_grid,
    headlight_light,
    pool_light,
    rain_overlay,
    sample_conditions,
    sensor_finish,
    sun_glare,
)
from seg_perception.data.synthetic.render import (
    blend_where,
    ellipse_polygon,
    ellipse_polygons,
    fill_disjoint_polygons,
    fill_polygons,
    ground_texture,
    luma_noise_crop,
    rgb,
    smooth_noise,
)
from seg_perception.data.synthetic.sample import LaneTruth, runs_where

WHITE_PAINT = (228, 232, 232)
YELLOW_PAINT = (40, 185, 225)
DOT_WHITE = (215, 220, 220)
# Share of highways whose lane lines are Botts' dots (raised ceramic dots, as on Californian roads).
BOTTS_DOTS_P = 0.12
BARRIER_P = 0.6  # highways: probability of a barrier on each side of the road
CAR_COLOURS = (
    (40, 40, 40),
    (200, 200, 205),
    (120, 120, 125),
    (30, 30, 150),
    (140, 60, 20),
    (235, 235, 235),
    (60, 90, 40),
    (20, 20, 25),
    (90, 130, 170),
    (0, 200, 240),
    (20, 170, 230),
    (245, 245, 245),
    (30, 110, 220),
    (170, 170, 175),
    (40, 40, 180),
)  # fmt: skip  (BGR: ..., yellow taxi, school-bus yellow, white, orange, silver, red)
TRUCK_COLOURS = ((240, 240, 240), (225, 228, 230), (20, 190, 240), (40, 40, 170), (150, 90, 30), (60, 60, 60))
SKY_FAR = 220.0  # metres drawn for the road surface
TREE = 2  # occluder value of trees (textured like leaves); everything else occludes with 1
LANE_LABEL_MIN_PX = 0.6  # paint is labelled out to where it is this wide at 512 px image width
WEAVE_M = 0.25  # the ego car weaves this far either side of its lane's centre
EGO_WIDTH_M = 1.9  # a vehicle whose body overlaps the ego car's path is followed, not driven through
FOLLOW_GAP_M = 15.0  # a slower vehicle in the ego car's path is followed this far ahead at most
LANE_CHANGE_S = (3.0, 6.0)  # how long a lane change takes (s)


@dataclass
class LaneLine:
    """A longitudinal marking at lateral offset ``t`` (metres)."""

    t: float
    width: float
    color: tuple[int, int, int]
    style: str  # "solid" | "dashed" | "double" | "dots" (Botts' dots)
    dash: float = 3.0
    gap: float = 9.0
    phase: float = 0.0
    double_gap: float = 0.15
    fade: float = 1.0  # 1 fresh paint .. 0.25 nearly gone
    lane_id: int = 0
    yellow: bool = False


@dataclass
class Vehicle:
    """A box-shaped vehicle seen from behind (or, oncoming, from the front)."""

    t: float
    s0: float
    speed: float
    width: float
    height: float
    length: float
    color: tuple[int, int, int]
    truck: bool = False

    def distance_ahead(
        self, time_s: float, ego_speed: float, ego_lanes_t: tuple[float, ...] = (0.0,)
    ) -> float:
        """How far ahead of the ego car the vehicle's rear is ``time_s`` seconds into the drive (m).

        A slower vehicle in a lane the ego car drives in (``ego_lanes_t``: the lanes' lateral
        offsets; the second one of a lane change) is caught up with and then followed at the gap it
        started with, at most :data:`FOLLOW_GAP_M`, as a driver would: the ego car never drives
        through it. Vehicles in other lanes keep their own speed and are overtaken.
        """
        ahead = self.s0 + (self.speed - ego_speed) * time_s
        reach = (self.width + EGO_WIDTH_M) / 2.0 + WEAVE_M
        if any(abs(self.t - lane_t) < reach for lane_t in ego_lanes_t):
            ahead = max(ahead, min(self.s0, FOLLOW_GAP_M))
        return ahead


@dataclass(frozen=True)
class LaneChange:
    """The ego car moving into the next lane during a drive: a smooth (half-cosine) lateral step."""

    start_s: float  # seconds into the drive when it starts
    duration_s: float
    offset_m: float  # lateral step (the lane width; positive: to the right)

    def lateral_m(self, time_s: float) -> float:
        """How far the car has moved across by ``time_s`` (m)."""
        progress = float(np.clip((time_s - self.start_s) / self.duration_s, 0.0, 1.0))
        return self.offset_m * (1.0 - float(np.cos(np.pi * progress))) / 2.0

    def lateral_speed(self, time_s: float) -> float:
        """The car's speed across the road at ``time_s`` (m/s)."""
        progress = (time_s - self.start_s) / self.duration_s
        if not 0.0 < progress < 1.0:
            return 0.0
        return self.offset_m * np.pi / (2.0 * self.duration_s) * float(np.sin(np.pi * progress))


@dataclass(frozen=True)
class BarrierLook:
    """How one roadside barrier is drawn. Real barriers carry long bright edges (a sunlit concrete
    top, a steel beam's ridge mirroring the sky, a pale foot) that converge like lane lines; a model
    that never saw them as background takes them for paint."""

    height: float = 0.85  # metres above the road (concrete: its top; rail: the beam's top)
    offset: float = 0.0  # metres beyond the usual 0.6 m from the road's edge
    face_shade: float = 1.05  # face brightness against the kerb (concrete) or steel colour
    top_width: float = 0.0  # concrete: flat top seen from the camera above it (0: none)
    top_shade: float = 1.0  # concrete: top brightness against the kerb colour
    foot_height: float = 0.0  # concrete: a band at its foot in another shade (0: none)
    foot_shade: float = 1.0
    ridge_shade: float = 0.0  # rail: brightness of the beam's ridge against the steel (0: no ridge)


def sample_barrier_look(rng: np.random.Generator, kind: str) -> BarrierLook:
    """A random look for a barrier of ``kind`` (``rail`` | ``concrete``)."""
    offset = float(rng.uniform(0.0, 2.0)) if rng.random() < 0.4 else 0.0
    if kind == "rail":
        return BarrierLook(
            height=float(rng.uniform(0.7, 0.9)),
            offset=offset,
            face_shade=float(rng.uniform(0.7, 1.15)),
            ridge_shade=float(rng.uniform(1.2, 1.6)) if rng.random() < 0.7 else 0.0,
        )
    return BarrierLook(
        height=float(rng.uniform(0.8, 1.1)),
        offset=offset,
        face_shade=float(rng.uniform(0.6, 1.05)),
        top_width=float(rng.uniform(0.15, 0.35)) if rng.random() < 0.8 else 0.0,
        top_shade=float(rng.uniform(1.1, 1.5)),
        foot_height=float(rng.uniform(0.05, 0.3)) if rng.random() < 0.5 else 0.0,
        foot_shade=float(rng.uniform(0.7, 1.4)),
    )


RAIL_STEEL = (160, 165, 170)  # BGR
RAIL_DEPTH_M = 0.3  # height of a steel beam


@dataclass
class FrontWorld:
    """Everything static in one drive; ``render`` draws it at a given ego position."""

    camera: PinholeCamera
    urban: bool
    speed: float
    curvature: float
    curvature_rate: float
    yaw: float
    ego_offset: float
    road_left: float
    road_right: float
    marking_range: float
    lines: list[LaneLine]
    gaps: list[tuple[float, float]]
    crosswalks: list[tuple[float, float, list[tuple[float, float]]]]  # s0, length, stripes (t0, t1)
    stop_lines: list[tuple[float, float, float, float]]  # s0, depth, t0, t1
    vehicles: list[Vehicle]
    patches: list[np.ndarray]  # (K, 2) road-coordinate polygons (t, s)
    cracks: list[np.ndarray]
    shadows: list[np.ndarray]
    trees: list[tuple[float, float, float, float, tuple[int, int, int]]]  # t, s, radius, height, colour
    buildings: list[tuple[float, float, float, float, tuple[int, int, int]]]  # t, s0, s1, height, colour
    barriers: list[tuple[float, str]]  # lateral offset, "rail" | "concrete"
    colors: dict[str, tuple[int, int, int]]
    texture: np.ndarray = field(repr=False)
    wear: np.ndarray = field(repr=False)
    hills: np.ndarray = field(repr=False)
    conditions: Conditions = field(default_factory=Conditions)
    ghosts: list[LaneLine] = field(default_factory=list)
    seams: list[np.ndarray] = field(default_factory=list)  # tar seams: (K, 2) (t, s) polylines
    joints: float = 0.0  # concrete slab length (0: asphalt)
    tracks: list[float] = field(default_factory=list)  # lateral centres of worn wheel paths
    kerbs: bool = False
    street_lights: list[tuple[float, float, float, float]] = field(
        default_factory=list
    )  # pole t, s, height, lamp t
    snow_banks: list[tuple[float, np.ndarray, np.ndarray]] = field(
        default_factory=list
    )  # outer t, s, inner t(s)
    hood: dict[str, float] | None = None
    ego_lane_index: int = 0
    grass_grain: int = 16  # amplitude of the grass and leaf texture
    barrier_looks: list[BarrierLook] = field(default_factory=list)  # one per barrier, in its order
    lane_change: LaneChange | None = None

    @property
    def s_near(self) -> float:
        """Nearest ground distance worth drawing: a little closer than the bottom image row sees."""
        return max(0.3, 0.8 * self.camera.near_ground_m)

    def centre_x(self, s: np.ndarray) -> np.ndarray:
        """Ground x of the ego lane's centre line at forward distance ``s`` (clothoid-ish)."""
        return (
            -self.ego_offset + self.yaw * s + self.curvature / 2.0 * s**2 + self.curvature_rate / 6.0 * s**3
        )

    def to_image(
        self, t: np.ndarray, s: np.ndarray, z: np.ndarray | float = 0.0, lateral: float = 0.0
    ) -> np.ndarray:
        """Road coordinates relative to the ego (s ahead, t lateral) -> pixel coordinates."""
        return self.camera.project(self.centre_x(s) + t - lateral, s, z)

    @property
    def ego_lanes_t(self) -> tuple[float, ...]:
        """Lateral offsets of the lanes the ego car drives in: its own, and the next one of a lane change."""
        return (0.0,) if self.lane_change is None else (0.0, self.lane_change.offset_m)

    def ego_lateral_m(self, time_s: float) -> float:
        """The ego car's offset from its first lane's centre ``time_s`` seconds into the drive (m):
        a gentle weave, plus the lane change's step."""
        weave = WEAVE_M * float(np.sin(0.4 * time_s))
        return weave + (0.0 if self.lane_change is None else self.lane_change.lateral_m(time_s))

    def at_time(self, time_s: float) -> FrontWorld:
        """The world as the car sees it ``time_s`` seconds into the drive: during a lane change the
        car heads across the road (``lateral speed / speed``, small), which turns the road's centre
        line by as much the other way. Itself when the car heads along the road."""
        if self.lane_change is None:
            return self
        heading = self.lane_change.lateral_speed(time_s) / max(self.speed, 1e-6)
        return self if heading == 0.0 else replace(self, yaw=self.yaw - heading)


def _intervals_minus(
    intervals: list[tuple[float, float]], gaps: list[tuple[float, float]]
) -> list[tuple[float, float]]:
    out = intervals
    for g0, g1 in gaps:
        nxt: list[tuple[float, float]] = []
        for a, b in out:
            if b <= g0 or a >= g1:
                nxt.append((a, b))
                continue
            if a < g0:
                nxt.append((a, g0))
            if b > g1:
                nxt.append((g1, b))
        out = nxt
    return out


def _dash_intervals(lo: float, hi: float, dash: float, gap: float, phase: float) -> list[tuple[float, float]]:
    period = dash + gap
    first = int(np.floor((lo - phase) / period))
    last = int(np.ceil((hi - phase) / period))
    out = []
    for k in range(first, last + 1):
        a = phase + k * period
        a0, b0 = max(a, lo), min(a + dash, hi)
        if b0 > a0:
            out.append((a0, b0))
    return out


def _strip_ts(t0: float, t1: float, s0: float, s1: float, n: int = 0) -> np.ndarray:
    """(2n, 2) road-coordinate polygon (t, s) of the rectangle [t0, t1] x [s0, s1]."""
    n = n or int(np.clip((s1 - s0) / 1.5, 2, 40))
    s = np.linspace(s0, s1, n)
    return np.stack([np.r_[np.full(n, t0), np.full(n, t1)], np.r_[s, s[::-1]]], axis=1)


def _project_many(world: FrontWorld, polys_ts: list[np.ndarray], lateral: float) -> list[np.ndarray]:
    """Project many ground polygons (t, s) with one vectorised call."""
    if not polys_ts:
        return []
    points = np.concatenate(polys_ts)
    image_pts = world.to_image(points[:, 0], points[:, 1], lateral=lateral)
    return np.split(image_pts, np.cumsum([len(p) for p in polys_ts])[:-1])


def _strip(
    world: FrontWorld, t0: float, t1: float, s0: float, s1: float, lateral: float, n: int = 0
) -> np.ndarray:
    """Image polygon of the road-coordinate rectangle [t0, t1] x [s0, s1] (s relative to the ego)."""
    return _project_many(world, [_strip_ts(t0, t1, s0, s1, n)], lateral)[0]


def _shade(colour: tuple[float, ...], factor: float) -> tuple[int, int, int]:
    return rgb(np.clip(c * factor, 0, 255) for c in colour)


def _mix(a: tuple[int, ...], b: tuple[int, ...], share_a: float) -> tuple[int, int, int]:
    return rgb(share_a * x + (1.0 - share_a) * y for x, y in zip(a, b, strict=True))


def _shoulder_colour(rng: np.random.Generator, asphalt: int) -> tuple[int, int, int]:
    """Highway shoulder: older grey asphalt, or gravel / dirt in greys and browns (BGR)."""
    if rng.random() < 0.5:
        return _shade((asphalt, asphalt, asphalt), float(rng.uniform(0.85, 1.25)))
    base = float(rng.uniform(90, 170))
    return _shade((base * 0.8, base * 0.92, base), 1.0)


@dataclass(frozen=True)
class _Layout:
    """The lanes of one drive's road and their lines."""

    lane_w: float
    n_lanes: int
    ego_lane: int
    marking_w: float
    bounds: list[float]  # lateral offset of each lane boundary, left to right
    centre_line: int  # index of the urban centre line in ``bounds`` (-1: none)
    lines: list[LaneLine]


def _sample_layout(rng: np.random.Generator, *, urban: bool, botts_dots_p: float) -> _Layout:
    """Lanes, their widths and the painted lines between them (solid, dashed, double, dots)."""
    lane_w = float(rng.uniform(2.9, 3.5) if urban else rng.uniform(3.3, 3.8))
    n_lanes = int(rng.integers(2, 5) if urban else rng.integers(2, 6))
    ego_lane = int(rng.integers(n_lanes // 2, n_lanes) if urban else rng.integers(0, n_lanes))
    marking_w = float(rng.uniform(0.10, 0.25))
    bounds = [(k - ego_lane) * lane_w - lane_w / 2.0 for k in range(n_lanes + 1)]
    dash, gap = (
        (float(rng.uniform(2.0, 3.5)), float(rng.uniform(3.0, 6.0)))
        if urban
        else (float(rng.uniform(3.0, 6.0)), float(rng.uniform(6.0, 12.0)))
    )
    centre_line = int(rng.integers(1, n_lanes)) if urban and n_lanes >= 2 and rng.random() < 0.6 else -1
    botts = (not urban) and rng.random() < botts_dots_p  # California-style raised dots instead of dashes
    worn_world = rng.random() < 0.35
    lines: list[LaneLine] = []
    for k, t in enumerate(bounds):
        edge = k in (0, n_lanes)
        color = WHITE_PAINT
        if k == centre_line:
            style = "double" if rng.random() < 0.6 else "solid"
            color = YELLOW_PAINT if rng.random() < 0.8 else WHITE_PAINT
        elif edge:
            if rng.random() < (0.35 if urban else 0.15):
                continue  # many roads have no edge line, just a kerb or the asphalt's end
            style = "solid"
            color = YELLOW_PAINT if (k == 0 and rng.random() < (0.3 if urban else 0.45)) else WHITE_PAINT
        else:
            style = "dashed" if rng.random() < 0.85 else "solid"
            if botts and rng.random() < 0.85:
                style = "dots"
        fade = (
            float(rng.uniform(0.3, 0.8))
            if (worn_world and rng.random() < 0.6)
            else float(rng.uniform(0.8, 1.0))
        )
        lines.append(
            LaneLine(
                t=t,
                width=marking_w * (1.3 if edge and not urban else 1.0),
                color=DOT_WHITE if style == "dots" else color,
                style=style,
                dash=dash,
                gap=gap,
                phase=float(rng.uniform(0, dash + gap)),
                double_gap=float(rng.uniform(0.1, 0.25)),
                fade=fade,
                lane_id=k,
                yellow=color == YELLOW_PAINT,
            )
        )
    return _Layout(lane_w, n_lanes, ego_lane, marking_w, bounds, centre_line, lines)


@dataclass
class _Junctions:
    """Urban junctions ahead: where lane lines pause, stop lines and crosswalks."""

    gaps: list[tuple[float, float]] = field(default_factory=list)
    crosswalks: list[tuple[float, float, list[tuple[float, float]]]] = field(default_factory=list)
    stop_lines: list[tuple[float, float, float, float]] = field(default_factory=list)


def _sample_junctions(rng: np.random.Generator, layout: _Layout, reach: float) -> _Junctions:
    """Junctions from a few metres ahead to ``reach`` metres along the road."""
    bounds, centre_line = layout.bounds, layout.centre_line
    junctions = _Junctions()
    # the first junction lies 5-22 m ahead: the range in which a planner acts on stop lines and
    # crosswalks, and where their stripes are tall enough in the image to be labelled reliably
    s_event = float(rng.uniform(5.0, 22.0))
    while s_event < reach:
        has_cross = rng.random() < 0.8
        stop_depth = float(rng.uniform(0.3, 0.5))
        stop_s = s_event - float(rng.uniform(1.0, 3.0))
        cross_len = float(rng.uniform(2.5, 4.0))
        junction = float(rng.uniform(8.0, 18.0)) if rng.random() < 0.45 else 0.0
        end = s_event + (cross_len if has_cross else 0.0) + junction + 0.5
        junctions.gaps.append((stop_s - 0.3, end))
        if rng.random() < 0.75:
            t_from = bounds[centre_line] if centre_line >= 0 else bounds[0]
            junctions.stop_lines.append((stop_s, stop_depth, t_from, bounds[-1]))
        if has_cross:
            stripe_w, stripe_gap = float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.7))
            stripes, t = [], bounds[0] + float(rng.uniform(0.0, 0.3))
            while t + stripe_w <= bounds[-1]:
                stripes.append((t, t + stripe_w))
                t += stripe_w + stripe_gap
            junctions.crosswalks.append((s_event, cross_len, stripes))
        s_event = end + float(rng.uniform(30.0, 90.0))
    return junctions


def _sample_vehicles(
    rng: np.random.Generator, layout: _Layout, *, urban: bool, speed: float
) -> list[Vehicle]:
    """Cars and trucks in the lanes (oncoming left of an urban centre line); a quarter of drives have none."""
    vehicles = []
    for _ in range(int(rng.integers(0, 6 if urban else 5) + 1)):
        lane = int(rng.integers(0, layout.n_lanes))
        truck = rng.random() < (0.12 if urban else 0.25)
        oncoming = urban and 0 <= layout.centre_line and lane < layout.centre_line
        palette = TRUCK_COLOURS if truck else CAR_COLOURS
        vehicles.append(
            Vehicle(
                t=(lane - layout.ego_lane) * layout.lane_w + float(rng.uniform(-0.3, 0.3)),
                s0=float(rng.uniform(6.0, 80.0)),
                speed=(-1.0 if oncoming else 1.0) * speed * float(rng.uniform(0.7, 1.2)),
                width=float(rng.uniform(2.4, 2.6) if truck else rng.uniform(1.7, 2.0)),
                height=float(rng.uniform(3.0, 4.0) if truck else rng.uniform(1.4, 1.9)),
                length=float(rng.uniform(8, 16) if truck else rng.uniform(4.0, 5.0)),
                color=palette[int(rng.integers(len(palette)))],
                truck=truck,
            )
        )
    if rng.random() < 0.25:
        vehicles = []
    return vehicles


@dataclass
class _SurfaceMarks:
    """What lies on the asphalt besides paint: patches, shadows, cracks, seams, ghost lines, wheel tracks."""

    patches: list[np.ndarray]
    shadows: list[np.ndarray]
    cracks: list[np.ndarray]
    seams: list[np.ndarray]
    ghosts: list[LaneLine]
    concrete: bool
    tracks: list[float]


def _sample_surface_marks(
    rng: np.random.Generator,
    layout: _Layout,
    *,
    urban: bool,
    road: tuple[float, float],
    total: float,
) -> _SurfaceMarks:
    """Marks on the road between lateral offsets ``road`` over ``total`` metres of it."""
    road_left, road_right = road
    bounds = layout.bounds

    def road_polys(count: int, length: tuple[float, float], lat: tuple[float, float]) -> list[np.ndarray]:
        if count <= 0:
            return []
        return list(
            ellipse_polygons(
                rng.uniform(*lat, count), rng.uniform(0.0, total, count), rng.uniform(0.3, 1.5, count),
                rng.uniform(*length, count), rng.uniform(-0.3, 0.3, count), n=10,
            )
        )  # fmt: skip

    density = max(1.0, total / 100.0)
    patches = road_polys(int(rng.integers(0, 7) * density), (1.0, 6.0), (road_left, road_right))
    shadows = road_polys(int(rng.integers(0, 6) * density), (2.0, 8.0), (road_left - 3.0, road_right + 3.0))
    if rng.random() < 0.3:  # dappled tree shadows across the road
        count = int(rng.integers(5, 25) * density)
        shadows += list(
            ellipse_polygons(
                rng.uniform(road_left - 2.0, road_right + 2.0, count), rng.uniform(0.0, total, count),
                rng.uniform(0.4, 2.5, count), rng.uniform(0.5, 3.0, count), rng.uniform(0, np.pi, count), n=9,
            )
        )  # fmt: skip
    if rng.random() < 0.2:  # a bridge or a building's shadow across the whole road
        s = float(rng.uniform(10.0, 60.0))
        depth = float(rng.uniform(3.0, 15.0))
        shadows.append(
            np.array(
                [
                    [road_left - 5, s],
                    [road_right + 5, s],
                    [road_right + 5, s + depth],
                    [road_left - 5, s + depth],
                ]
            )
        )
    cracks = []
    for _ in range(int(rng.integers(0, 10) * density)):
        s, t = float(rng.uniform(0.0, total)), float(rng.uniform(road_left, road_right))
        steps = rng.normal(0.0, 1.0, (6, 2)) * np.array([0.4, 1.2])
        cracks.append(np.array([t, s]) + np.cumsum(steps, axis=0))
    seams = []
    if rng.random() < 0.45:  # sealed seams next to a lane line: dark lines that are not paint
        t = bounds[int(rng.integers(0, layout.n_lanes + 1))] + float(rng.choice([-0.35, 0.35]))
        seam_s = np.arange(0.0, total, 2.0)
        seams.append(np.stack([t + rng.normal(0.0, 0.03, seam_s.size), seam_s], axis=1))
    for _ in range(int(rng.integers(0, 5) * density) if rng.random() < 0.4 else 0):
        # tar snakes: long wandering crack sealant, often crossing lanes
        s, t = float(rng.uniform(0.0, total)), float(rng.uniform(road_left, road_right))
        steps = rng.normal(0.0, 1.0, (25, 2)) * np.array([0.25, 1.0]) + np.array([0.0, 1.0])
        seams.append(np.array([t, s]) + np.cumsum(steps, axis=0))
    ghosts = []
    if rng.random() < 0.25:  # ground-off or blacked-out old markings beside the new ones
        lines = layout.lines
        for line in [lines[k] for k in rng.permutation(len(lines))[: int(rng.integers(1, 3))]]:
            offset = float(rng.choice([-1.0, 1.0]) * rng.uniform(0.25, 1.2))
            ghosts.append(
                LaneLine(
                    t=line.t + offset,
                    width=line.width * float(rng.uniform(1.0, 2.0)),
                    color=(0, 0, 0),
                    style=str(rng.choice(["solid", "dashed"])),
                    dash=line.dash,
                    gap=line.gap,
                    phase=float(rng.uniform(0, 10)),
                    fade=float(rng.uniform(0.6, 1.3)),
                )
            )
    concrete = (not urban) and rng.random() < 0.25
    tracks = []
    if rng.random() < 0.5:
        for k in range(layout.n_lanes):
            centre = (bounds[k] + bounds[k + 1]) / 2.0
            tracks += [centre - 0.85, centre + 0.85]
    return _SurfaceMarks(patches, shadows, cracks, seams, ghosts, concrete, tracks)


@dataclass
class _Roadside:
    """What stands beside the road: buildings, barriers, trees, street lights, snow banks."""

    trees: list[tuple[float, float, float, float, tuple[int, int, int]]]
    buildings: list[tuple[float, float, float, float, tuple[int, int, int]]]
    barriers: list[tuple[float, str]]
    street_lights: list[tuple[float, float, float, float]]
    snow_banks: list[tuple[float, np.ndarray, np.ndarray]]


def _sample_roadside(
    rng: np.random.Generator,
    layout: _Layout,
    conditions: Conditions,
    *,
    urban: bool,
    road: tuple[float, float],
    total: float,
    barrier_p: float,
) -> _Roadside:
    """Roadside objects outside the road's lateral extent ``road`` over ``total`` metres."""
    road_left, road_right = road
    trees, buildings, barriers = [], [], []
    if urban:
        for side in (-1, 1):
            s = float(rng.uniform(0.0, 10.0))
            base_t = (road_left if side < 0 else road_right) + side * float(rng.uniform(3.0, 6.0))
            while s < total:
                length = float(rng.uniform(10.0, 35.0))
                grey = int(rng.integers(70, 200))
                tint = rng.integers(-25, 25, 3)
                color = rgb(np.clip(grey + d, 0, 255) for d in tint)
                buildings.append(
                    (
                        base_t + side * float(rng.uniform(0, 2)),
                        s,
                        s + length,
                        float(rng.uniform(6.0, 25.0)),
                        color,
                    )
                )
                s += length + float(rng.uniform(0.0, 8.0))
    else:
        if rng.random() < barrier_p:
            barriers.append((road_right + 0.6, "rail" if rng.random() < 0.7 else "concrete"))
        if rng.random() < barrier_p:
            barriers.append((road_left - 0.6, "concrete" if rng.random() < 0.5 else "rail"))
    for _ in range(int(rng.integers(3, 14) * max(1.0, total / 100.0))):
        side = -1 if rng.random() < 0.5 else 1
        road_edge = road_left if side < 0 else road_right
        t = road_edge + side * float(rng.uniform(1.5, 14.0))
        green = (int(rng.integers(20, 60)), int(rng.integers(70, 120)), int(rng.integers(30, 70)))
        trees.append(
            (
                t,
                float(rng.uniform(5.0, total)),
                float(rng.uniform(1.5, 3.5)),
                float(rng.uniform(4.0, 9.0)),
                green,
            )
        )
    street_lights = []
    if urban or rng.random() < 0.5 or conditions.time == "night":
        spacing = float(rng.uniform(25.0, 50.0))
        sides = [1] if rng.random() < 0.5 else [-1, 1]
        for side in sides:
            pole_t = (road_right if side > 0 else road_left) + side * float(rng.uniform(0.5, 1.5))
            lamp_t = pole_t - side * float(rng.uniform(1.0, 3.0))
            pole_h = float(rng.uniform(7.0, 11.0))
            for s in np.arange(float(rng.uniform(0.0, spacing)), total, spacing):
                street_lights.append((pole_t, float(s), pole_h, lamp_t))

    snow_banks = []
    if conditions.weather == "snow":
        s_grid = np.arange(0.0, total + 4.0, 2.0)
        for side, bound in ((-1, layout.bounds[0]), (1, layout.bounds[-1])):
            reach = float(
                rng.uniform(-0.4, 0.6)
            )  # how far past the edge line (into the road) the bank reaches
            wobble = np.cumsum(rng.normal(0.0, 0.15, s_grid.size))
            wobble -= np.convolve(wobble, np.ones(9) / 9, mode="same")
            inner = bound - side * reach + wobble * 0.8
            snow_banks.append((bound + side * 12.0, s_grid, inner))
    return _Roadside(trees, buildings, barriers, street_lights, snow_banks)


def _sample_hood(rng: np.random.Generator) -> dict[str, float] | None:
    """The ego car's hood (and dashboard) in the frame's bottom, in a third of drives."""
    if rng.random() >= 0.35:
        return None
    hood = {
        "top": float(rng.uniform(0.82, 0.95)),  # fraction of the height where the hood's edge peaks
        "bend": float(rng.uniform(0.0, 0.12)),
        "dash": float(rng.random() < 0.35),
        "shine": float(rng.uniform(0.1, 0.5)),
    }
    colour = CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
    hood.update(b=float(colour[0]), g=float(colour[1]), r=float(colour[2]))
    return hood


def _sample_colours(
    rng: np.random.Generator, conditions: Conditions, *, urban: bool, concrete: bool
) -> dict[str, tuple[int, int, int]]:
    """The drive's palette: road, shoulder, ground, sky by time and weather, hills, kerbs, snow."""
    night = conditions.time == "night"
    if concrete:
        asphalt = int(rng.integers(140, 190))
    else:
        asphalt = int(rng.integers(60, 135))
    if conditions.wet > 0.0:
        asphalt = int(asphalt * (1.0 - 0.35 * conditions.wet))
    sky_top = (int(rng.integers(170, 230)), int(rng.integers(120, 180)), int(rng.integers(60, 120)))
    sky_low = (int(rng.integers(200, 245)), int(rng.integers(195, 235)), int(rng.integers(180, 225)))
    if conditions.weather in ("overcast", "rain", "snow"):
        grey = int(rng.integers(150, 225))
        sky_top = sky_low = (grey, grey, grey - 5)
    if conditions.time == "dusk":
        sky_top = (int(rng.integers(90, 140)), int(rng.integers(60, 100)), int(rng.integers(50, 90)))
        sky_low = (int(rng.integers(90, 160)), int(rng.integers(130, 190)), int(rng.integers(180, 240)))
    if night:
        sky_top = (int(rng.integers(20, 50)), int(rng.integers(10, 30)), int(rng.integers(5, 20)))
        sky_low = (int(rng.integers(40, 80)), int(rng.integers(35, 70)), int(rng.integers(30, 75)))
    ground = (60, 150, 180) if urban else (int(rng.integers(30, 70)), int(rng.integers(90, 140)),
                                            int(rng.integers(70, 120)))  # fmt: skip
    if not urban and rng.random() < 0.35:  # dry grass
        ground = (int(rng.integers(60, 110)), int(rng.integers(130, 170)), int(rng.integers(160, 200)))
    if conditions.weather == "snow":
        white = int(rng.integers(200, 245))
        ground = (white, white, white - 5)
    colors = {
        "asphalt": (asphalt + int(rng.integers(-5, 6)), asphalt, asphalt - int(rng.integers(0, 8))),
        "shoulder": (asphalt + 25, asphalt + 25, asphalt + 22) if urban else _shoulder_colour(rng, asphalt),
        "ground": ground,
        "sky_top": sky_top,
        "sky_low": sky_low,
        "hills": (int(rng.integers(70, 110)), int(rng.integers(90, 130)), int(rng.integers(70, 100))),
        "kerb": (int(rng.integers(150, 215)),) * 3,
        "snow": (int(rng.integers(215, 250)), int(rng.integers(215, 250)), int(rng.integers(215, 250))),
    }
    if night:
        colors["hills"] = _shade(colors["hills"], 0.3)
    return colors


def _sample_lane_change(
    rng: np.random.Generator, layout: _Layout, *, duration_s: float, lane_change_p: float
) -> LaneChange | None:
    """A move into a next lane of the same direction in the first ``duration_s`` seconds, or None."""
    if not (lane_change_p > 0.0 and rng.random() < lane_change_p):
        return None
    first_same_way = (
        layout.centre_line if layout.centre_line >= 0 else 0
    )  # urban lanes left of it are oncoming
    sides = [side for side in (-1, 1) if first_same_way <= layout.ego_lane + side < layout.n_lanes]
    if not sides:
        return None
    change_s = float(rng.uniform(*LANE_CHANGE_S))
    return LaneChange(
        start_s=float(rng.uniform(0.0, max(duration_s - change_s, 0.0))),
        duration_s=change_s,
        offset_m=float(sides[int(rng.integers(len(sides)))]) * layout.lane_w,
    )


def sample_front_world(
    rng: np.random.Generator,
    size: tuple[int, int],
    *,
    urban: bool,
    duration_s: float,
    speed: float,
    botts_dots_p: float = BOTTS_DOTS_P,
    barrier_p: float = BARRIER_P,
    dark_p: float = DARK_P,
    lane_change_p: float = 0.0,
) -> FrontWorld:
    """Lay out a random road, its markings, vehicles, scenery, light and weather for a drive.

    The parts are drawn from ``rng`` in a fixed order (camera, light and weather, lanes,
    junctions, vehicles, surface, roadside, hood, colours, textures, road shape, then the
    optional parts): a change to one sampler changes every later part of a seed's world.

    ``botts_dots_p``: probability that a highway's lane lines are Botts' dots (a training pool
    can ask for more of them; the same random draw decides, so every other look of a seed stays).
    ``barrier_p``: probability of a barrier on each side of a highway (a training pool can ask for
    more; at the default every seed is the world it was).
    ``dark_p``: probability of a drive at dusk or night (at the default every seed is the world it
    was; another share draws other worlds).
    ``lane_change_p``: probability that the car moves into a next lane (same direction of travel)
    during the drive, over 3-6 s starting somewhere in its first ``duration_s`` (drawn after
    everything else: the world is the same, only the car's path differs).
    """
    camera = PinholeCamera.sample(rng, size, lens=True)
    conditions = sample_conditions(rng, urban=urban, dark_p=dark_p)
    height, width = size
    layout = _sample_layout(rng, urban=urban, botts_dots_p=botts_dots_p)
    # markings are labelled out to where they are LANE_LABEL_MIN_PX wide at 512 px image width (the
    # training resolution): far, faint dashes are lane too, and a model must learn to find them
    focal_ref = camera.focal_px * 512.0 / width
    marking_range = float(np.clip(focal_ref * layout.marking_w / LANE_LABEL_MIN_PX, 35.0, 110.0))
    travel = speed * duration_s
    total = travel + SKY_FAR + 20.0
    junctions = _sample_junctions(rng, layout, travel + marking_range + 10.0) if urban else _Junctions()
    vehicles = _sample_vehicles(rng, layout, urban=urban, speed=speed)
    road = (
        layout.bounds[0] - float(rng.uniform(0.3, 2.5)),
        layout.bounds[-1] + float(rng.uniform(0.3, 2.5)),
    )
    surface = _sample_surface_marks(rng, layout, urban=urban, road=road, total=total)
    roadside = _sample_roadside(
        rng, layout, conditions, urban=urban, road=road, total=total, barrier_p=barrier_p
    )
    hood = _sample_hood(rng)
    colors = _sample_colours(rng, conditions, urban=urban, concrete=surface.concrete)
    texture = ground_texture(
        rng, size, blotch=float(rng.uniform(6.0, 16.0)), grain=float(rng.uniform(4.0, 12.0))
    )
    wear_strength = float(rng.uniform(0.0, 0.5))
    wear = 1.0 - wear_strength * (0.5 + 0.5 * smooth_noise(rng, size, max(3.0, width / 60.0)))
    wear = np.clip(wear * float(rng.uniform(0.75, 1.0)), 0.4, 1.0).astype(np.float32)
    hills = np.cumsum(rng.normal(0.0, 1.0, 32)) * height * 0.006 + height * float(rng.uniform(0.0, 0.06))

    world = FrontWorld(
        camera=camera, urban=urban, speed=speed,
        curvature=0.0 if rng.random() < 0.35 else float(rng.uniform(-1.0, 1.0) / (120.0 if urban else 450.0)),
        curvature_rate=float(rng.normal(0.0, 1e-5)),
        yaw=float(np.deg2rad(rng.uniform(-1.5, 1.5))),
        ego_offset=float(rng.uniform(-0.4, 0.4)),
        road_left=road[0], road_right=road[1], marking_range=marking_range,
        lines=layout.lines, gaps=junctions.gaps, crosswalks=junctions.crosswalks,
        stop_lines=junctions.stop_lines, vehicles=vehicles,
        patches=surface.patches, cracks=surface.cracks, shadows=surface.shadows, trees=roadside.trees,
        buildings=roadside.buildings, barriers=roadside.barriers, colors=colors, texture=texture, wear=wear,
        hills=hills, conditions=conditions, ghosts=surface.ghosts, seams=surface.seams,
        joints=float(rng.uniform(4.5, 6.0)) if surface.concrete else 0.0, tracks=surface.tracks,
        kerbs=urban and rng.random() < 0.7, street_lights=roadside.street_lights,
        snow_banks=roadside.snow_banks, hood=hood, ego_lane_index=layout.ego_lane,
        grass_grain=int(rng.integers(14, 40)),
    )  # fmt: skip
    # drawn after everything else, so that every other part of a seed's world stays as it was
    world.barrier_looks = [sample_barrier_look(rng, kind) for _, kind in roadside.barriers]
    world.lane_change = _sample_lane_change(rng, layout, duration_s=duration_s, lane_change_p=lane_change_p)
    return world


def _paint_colour(world: FrontWorld, line: LaneLine) -> tuple[int, int, int]:
    return _mix(line.color, world.colors["asphalt"], line.fade)


def _line_strips(
    line: LaneLine, lo: float, hi: float, gaps: list[tuple[float, float]], travelled: float
) -> list[np.ndarray]:
    """(t, s) polygons of one marking between absolute distances ``lo`` and ``hi``."""
    if line.style == "dashed":
        intervals = _dash_intervals(lo, hi, line.dash, line.gap, line.phase)
    elif line.style == "dots":
        intervals = _dash_intervals(lo, hi, 0.12, 1.1, line.phase)
    else:
        intervals = [(lo, hi)]
    intervals = _intervals_minus(intervals, gaps)
    offsets = [0.0]
    if line.style == "double":
        half = (line.width + line.double_gap) / 2.0
        offsets = [-half, half]
    if line.style == "dots":
        centres = np.array([(a + b) / 2.0 - travelled for a, b in intervals])
        radii = np.full(centres.size, 0.06)
        return list(ellipse_polygons(np.full(centres.size, line.t), centres, radii, radii, radii * 0.0, n=6))
    polys = []
    for a, b in intervals:
        for off in offsets:
            t0, t1 = line.t + off - line.width / 2.0, line.t + off + line.width / 2.0
            polys.append(_strip_ts(t0, t1, a - travelled, b - travelled))
    return polys


def _marking_polygons(
    world: FrontWorld, travelled: float, lateral: float, roles: ClassRoles
) -> list[tuple[int, tuple[int, int, int], list[np.ndarray]]]:
    """(class id, colour, image polygons) of every painted region within the marking range.

    The polygons of one entry never overlap (the dashes of one line, the stripes of one crosswalk),
    so each entry can be filled in one call.
    """
    lo, hi = travelled + world.s_near, travelled + world.marking_range
    lane_id = roles.require("lane_paint")
    entries: list[tuple[int, tuple[int, int, int], list[np.ndarray]]] = []
    for line in world.lines:
        entries.append(
            (lane_id, _paint_colour(world, line), _line_strips(line, lo, hi, world.gaps, travelled))
        )
    stop = roles.get("stop_line")
    stop_id = lane_id if stop is None else stop  # without a class of their own: lane paint
    for s0, depth, t0, t1 in world.stop_lines:
        if lo <= s0 and s0 + depth <= hi:
            entries.append(
                (stop_id, WHITE_PAINT, [_strip_ts(t0, t1, s0 - travelled, s0 + depth - travelled, 2)])
            )
    cross = roles.get("crosswalk")
    cross_id = lane_id if cross is None else cross
    for s0, length, stripes in world.crosswalks:
        a, b = max(s0, lo), min(s0 + length, hi)
        if b > a:
            stripes_ts = [_strip_ts(t0, t1, a - travelled, b - travelled, 3) for t0, t1 in stripes]
            entries.append((cross_id, WHITE_PAINT, stripes_ts))
    return [(class_id, colour, _project_many(world, polys, lateral)) for class_id, colour, polys in entries]


def _ground_polys(
    world: FrontWorld, polys: list[np.ndarray], travelled: float, lateral: float, far: float
) -> list[np.ndarray]:
    keep = []
    for poly in polys:
        s = poly[:, 1] - travelled
        if s.max() < world.s_near or s.min() > far:
            continue
        keep.append(np.stack([poly[:, 0], np.clip(s, world.s_near, far)], axis=1))
    return _project_many(world, keep, lateral)


def _ground_lines(
    world: FrontWorld, lines: list[np.ndarray], travelled: float, lateral: float, far: float
) -> list[np.ndarray]:
    """Image polylines of ground polylines (t, s), cut to [s_near, far]."""
    keep = []
    for line in lines:
        s = line[:, 1] - travelled
        inside = (s >= world.s_near) & (s <= far)
        if inside.sum() >= 2:
            keep.append(np.stack([line[inside, 0], s[inside]], axis=1))
    return _project_many(world, keep, lateral)


def _draw_vehicle(
    world: FrontWorld,
    vehicle: Vehicle,
    s: float,
    lateral: float,
    image: np.ndarray,
    occluder: np.ndarray,
    night: bool,
) -> list[LightSource]:
    half = vehicle.width / 2.0
    cam = world.camera
    x_c = float(world.centre_x(np.array([s]))[0]) + vehicle.t - lateral
    oncoming = vehicle.speed < 0

    def face(x0: float, x1: float, z0: float, z1: float, y0: float = s, y1: float = s) -> np.ndarray:
        xs = np.array([x0, x1, x1, x0])
        ys = np.array([y0, y1, y1, y0])
        zs = np.array([z0, z0, z1, z1])
        return cam.project(xs, ys, zs)

    body, dark = vehicle.color, _shade(vehicle.color, 0.55)
    polys: list[np.ndarray] = []
    # the side facing the camera, from the rear face to the front
    side_x = x_c - half if x_c > half else (x_c + half if x_c < -half else None)
    if side_x is not None:
        side = face(side_x, side_x, 0.25, vehicle.height * 0.9, s, s + vehicle.length)
        fill_polygons(image, [side], dark)
        polys.append(side)
    lights: list[LightSource] = []
    if vehicle.truck:
        box = face(x_c - half, x_c + half, 0.5, vehicle.height)
        fill_polygons(image, [box], body)
        seam = face(x_c - 0.02, x_c + 0.02, 0.6, vehicle.height * 0.97)
        fill_polygons(image, [seam], _shade(body, 0.6))
        bumper = face(x_c - half * 0.95, x_c + half * 0.95, 0.35, 0.5)
        fill_polygons(image, [bumper], (25, 25, 25))
        polys += [box, bumper]
        light_z = 0.7
    else:
        lower = face(x_c - half, x_c + half, 0.25, vehicle.height * 0.55)
        cabin = face(x_c - half * 0.85, x_c + half * 0.85, vehicle.height * 0.55, vehicle.height)
        window = face(x_c - half * 0.72, x_c + half * 0.72, vehicle.height * 0.6, vehicle.height * 0.92)
        fill_polygons(image, [lower, cabin], body)
        fill_polygons(image, [window], (35, 30, 30))
        polys += [lower, cabin]
        light_z = vehicle.height * 0.45
    plate = face(x_c - 0.26, x_c + 0.26, 0.35, 0.47)
    fill_polygons(image, [plate], (235, 235, 235) if world.urban else (60, 200, 230))
    lamp_colour = (230, 240, 255) if oncoming else (30, 30, 200)
    lamp_polys = [
        face(x_c - half * 0.95, x_c - half * 0.65, light_z - 0.06, light_z + 0.06),
        face(x_c + half * 0.65, x_c + half * 0.95, light_z - 0.06, light_z + 0.06),
    ]
    fill_polygons(image, lamp_polys, lamp_colour)
    wheels = [face(x_c - half, x_c - half * 0.6, 0.0, 0.4), face(x_c + half * 0.6, x_c + half, 0.0, 0.4)]
    fill_polygons(image, wheels, (15, 15, 15))
    polys += wheels
    fill_polygons(occluder, polys, 1)
    if night or oncoming:
        depth = max(float(cam.depth(s, light_z)), 1.0)
        radius = cam.focal_px * (0.12 if oncoming else 0.08) / depth
        strength = (1.2 if oncoming else 0.9) if night else 0.4
        for sign in (-1.0, 1.0):
            x = x_c + sign * half * 0.8
            u, v = cam.project(np.array([x]), np.array([s]), light_z)[0]
            ground_v = float(cam.project(np.array([x]), np.array([s]), 0.0)[0][1])
            lights.append(LightSource(float(u), float(v), radius, lamp_colour, strength, ground_v))
    return lights


def _add_ground_strips(
    world: FrontWorld,
    image: np.ndarray,
    t_pairs: list[tuple[float, float]],
    travelled: float,
    lateral: float,
    colour: tuple[int, int, int],
    far: float = 150.0,
) -> None:
    polys = [_strip_ts(t0, t1, world.s_near, far, 40) for t0, t1 in t_pairs]
    fill_polygons(image, _project_many(world, polys, lateral), colour)


def _add_fine_texture(
    image: np.ndarray,
    occluder: np.ndarray,
    road: np.ndarray,
    horizon: int,
    grain: int,
    rng: np.random.Generator,
) -> None:
    """High-frequency luminance texture of grass and leaves (real frames are full of it).

    ``occluder`` holds ``TREE`` where a tree is the front-most object, 1 where anything else is.
    """
    h, w = occluder.shape
    rough = np.zeros_like(occluder)
    rough[horizon:] = 1
    fill_polygons(rough, [road], 0)
    rough[occluder == 1] = 0
    rough[occluder == TREE] = 1
    if not rough.any():
        return
    textured = cv2.addWeighted(image, 1.0, luma_noise_crop(rng, (h, w)), grain / 16.0, 0.0, dtype=cv2.CV_8U)
    cv2.copyTo(textured, rough, image)


@dataclass
class FrontFrame:
    """One rendered frame: image, labels, lane ground truth and where light sources are."""

    image: np.ndarray
    mask: np.ndarray
    lanes: list[LaneTruth]
    lights: np.ndarray  # bool (H, W): cores of headlights, tail lights, street lamps, the sun


def _hood_edge_rendered(hood: dict[str, float], height: int, width: int) -> np.ndarray:
    """(24, 2) pixels ``(u, v)`` of the hood's top edge in the rendered (pinhole) picture."""
    us = np.linspace(0.0, width - 1, 24)
    return np.stack(
        [us, height * hood["top"] + hood["bend"] * height * ((us - width / 2.0) / (width / 2.0)) ** 2], 1
    )


def hood_edge_px(world: FrontWorld) -> np.ndarray | None:
    """(K, 2) output pixels ``(u, v)`` of the car's hood edge (lens included), left to right, or None
    without a hood: the road is seen above it."""
    if world.hood is None:
        return None
    cam = world.camera
    edge = cam.to_output(_hood_edge_rendered(world.hood, cam.height, cam.width))
    return edge[np.argsort(edge[:, 0])]


def _lane_truth(world: FrontWorld, travelled: float, lateral: float, hidden: np.ndarray) -> list[LaneTruth]:
    """Per-line ground truth: ground metres (vehicle frame) and output pixels, split at junctions."""
    cam = world.camera
    far = world.marking_range
    s_rel = np.geomspace(world.s_near, far, 48)
    offsets = {
        line.lane_id: float(world.centre_x(np.array([0.0]))[0] + line.t - lateral) for line in world.lines
    }
    left = sorted((o, i) for i, o in offsets.items() if o < 0)[::-1]
    right = sorted((o, i) for i, o in offsets.items() if o >= 0)
    position = {i: -(k + 1) for k, (_, i) in enumerate(left)} | {i: k + 1 for k, (_, i) in enumerate(right)}
    height, width = hidden.shape
    if not world.lines:
        return []
    # every line at once: (L, S) arrays
    s_abs = s_rel + travelled
    in_gap = np.zeros(s_abs.shape, bool)
    for g0, g1 in world.gaps:
        in_gap |= (s_abs >= g0) & (s_abs <= g1)
    t = np.array([line.t for line in world.lines])[:, None]
    x = world.centre_x(s_rel)[None, :] + t - lateral
    s_grid = np.broadcast_to(s_rel, x.shape)
    render = cam.project(x.ravel(), s_grid.ravel(), 0.0)
    output = cam.to_output(render)
    u, v = np.round(render[:, 0]).astype(int), np.round(render[:, 1]).astype(int)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    visible = inside & (output[:, 0] >= 0) & (output[:, 0] <= width - 1)
    visible &= (output[:, 1] >= 0) & (output[:, 1] <= height - 1)
    visible[inside] &= hidden[v[inside], u[inside]] == 0
    # where the lens folds back a point has no output position (lens_valid): NaN, not a cut, so a
    # line is split only where a junction interrupts its paint (a fold near the car is no junction)
    folded = ~cam.lens_valid(render)
    output[folded] = np.nan
    visible &= ~folded
    visible, output = visible.reshape(x.shape), output.reshape(*x.shape, 2)
    # the stretches between junctions: the same samples for every line
    stretches = [piece for piece in runs_where(~in_gap) if len(piece) >= 2]
    lanes = []
    for index, line in enumerate(world.lines):
        for piece in stretches:
            if not np.isfinite(output[index, piece]).any():
                continue
            lanes.append(
                LaneTruth(
                    lane_id=line.lane_id,
                    position=position[line.lane_id],
                    style=line.style,
                    color="yellow" if line.yellow else "white",
                    ground=np.stack([x[index, piece], s_rel[piece]], axis=1),
                    image=output[index, piece],
                    visible=visible[index, piece],
                )
            )
    return lanes


@dataclass(frozen=True)
class _View:
    """One frame's viewpoint on a world: how far the car has come and where it is across the road."""

    world: FrontWorld
    travelled: float  # metres along the road since the drive's start
    lateral: float  # the car's offset from its lane's centre line (m)
    horizon: int  # the first image row below the horizon


def _draw_sky_and_hills(view: _View, image: np.ndarray) -> None:
    world, cam, c, horizon = view.world, view.world.camera, view.world.colors, view.horizon
    w = cam.width
    rows = np.linspace(0.0, 1.0, max(horizon, 1), dtype=np.float32)[:, None]
    image[:horizon] = (np.array(c["sky_top"]) * (1 - rows) + np.array(c["sky_low"]) * rows).astype(np.uint8)[
        :, None
    ]
    image[horizon:] = c["ground"]
    xs = np.linspace(0, w, len(world.hills))
    hill_line = np.stack([xs, cam.horizon_v - np.abs(world.hills)], axis=1)
    fill_polygons(
        image, [np.concatenate([hill_line, [[w, cam.horizon_v + 1], [0, cam.horizon_v + 1]]])], c["hills"]
    )


def _draw_road_surface(view: _View, image: np.ndarray) -> np.ndarray:
    """Shoulders, asphalt, wheel tracks, texture, patches, cracks, seams, slab joints, ghost lines.

    Returns the road's image polygon.
    """
    world, c, travelled, lateral = view.world, view.world.colors, view.travelled, view.lateral
    road = _strip(world, world.road_left, world.road_right, world.s_near, SKY_FAR, lateral, 60)
    shoulder_w = 3.0 if world.urban else 2.5
    _add_ground_strips(world, image, [(world.road_left - shoulder_w, world.road_left),
                                      (world.road_right, world.road_right + shoulder_w)], travelled, lateral,
                       c["shoulder"], SKY_FAR)  # fmt: skip
    fill_polygons(image, [road], c["asphalt"])
    if world.tracks:
        _add_ground_strips(world, image, [(t - 0.3, t + 0.3) for t in world.tracks], travelled, lateral,
                           _shade(c["asphalt"], 0.9 if world.joints == 0 else 0.82))  # fmt: skip
    image[view.horizon :] = cv2.add(image[view.horizon :], world.texture[view.horizon :], dtype=cv2.CV_8U)

    patches = _ground_polys(world, world.patches, travelled, lateral, SKY_FAR)
    fill_polygons(image, patches, _shade(c["asphalt"], 0.88))
    dark_line = _shade(c["asphalt"], 0.55)
    for crack in _ground_polys(world, world.cracks, travelled, lateral, 80.0):
        cv2.polylines(image, [np.round(crack).astype(np.int32)], False, dark_line, 1)
    seams = _ground_lines(world, world.seams, travelled, lateral, 90.0)
    if seams:
        cv2.polylines(
            image, [np.round(p).astype(np.int32) for p in seams], False, _shade(c["asphalt"], 0.35), 1
        )
    if world.joints:
        first = np.ceil((travelled + world.s_near) / world.joints) * world.joints
        joints = [np.array([[world.road_left, s], [world.road_right, s]]) - [0.0, travelled]
                  for s in np.arange(first, travelled + 90.0, world.joints)]  # fmt: skip
        joints = [np.stack([np.linspace(j[0, 0], j[1, 0], 8), np.full(8, j[0, 1])], 1) for j in joints]
        projected = _project_many(world, joints, lateral)
        cv2.polylines(
            image, [np.round(p).astype(np.int32) for p in projected], False, _shade(c["asphalt"], 0.7), 1
        )
    for ghost in world.ghosts:
        polys = _line_strips(ghost, travelled + world.s_near, travelled + 80.0, world.gaps, travelled)
        fill_polygons(image, _project_many(world, polys, lateral), _shade(c["asphalt"], ghost.fade))
    return road


def _draw_snow_banks(view: _View, image: np.ndarray, hidden: np.ndarray) -> None:
    world, travelled = view.world, view.travelled
    for outer_t, s_grid, inner in world.snow_banks:
        s = s_grid - travelled
        keep = (s > world.s_near - 2.0) & (s < 150.0)
        if keep.sum() < 2:
            continue
        s_k = np.clip(s[keep], world.s_near, 150.0)
        poly = np.concatenate(
            [np.stack([inner[keep], s_k], 1), np.stack([np.full(keep.sum(), outer_t), s_k[::-1]], 1)]
        )
        projected = _project_many(world, [poly], view.lateral)
        fill_polygons(image, projected, world.colors["snow"])
        fill_polygons(hidden, projected, 1)


def _draw_haze(view: _View, image: np.ndarray) -> None:
    """Atmospheric haze: the far road fades towards the sky colour."""
    h, horizon = view.world.camera.height, view.horizon
    band = min(h - horizon, max(2, h // 6))
    if band > 0:
        amount = np.zeros(h, np.float32)
        amount[horizon : horizon + band] = np.exp(-np.arange(band, dtype=np.float32) / (band / 3.0)) * 0.6
        fade_rows(image, amount, view.world.colors["sky_low"])


def _draw_shadows(view: _View, image: np.ndarray, vehicles: list[tuple[Vehicle, float]]) -> None:
    """Shadows of trees, bridges and vehicles darken road and paint alike; the paint stays labelled."""
    world, cond = view.world, view.world.conditions
    shade = np.zeros(image.shape[:2], np.uint8)
    fill_polygons(shade, _ground_polys(world, world.shadows, view.travelled, view.lateral, 120.0), 1)
    for v, v_s in vehicles:
        foot = world.to_image(
            np.array([v.t - v.width / 2 - 0.2, v.t + v.width / 2 + 0.2] * 2),
            np.array([v_s - 0.2, v_s - 0.2, v_s + v.length, v_s + v.length]),
            lateral=view.lateral,
        )
        fill_polygons(shade, [foot[[0, 1, 3, 2]]], 1)
    index = np.flatnonzero(shade)
    if index.size:
        darkness = 0.75 if cond.weather in ("overcast", "rain", "snow") else (0.35 if cond.low_sun else 0.45)
        flat = image.reshape(-1, 3)
        flat[index] = (flat[index] * darkness).astype(np.uint8)


def _draw_trees(view: _View, image: np.ndarray, occluder: np.ndarray) -> None:
    world, cam = view.world, view.world.camera
    if not world.trees:
        return
    h, w = cam.height, cam.width
    table = np.array(
        [(t, s_abs - view.travelled, radius, tree_h) for t, s_abs, radius, tree_h, _ in world.trees]
    )
    order = np.argsort(-table[:, 1])  # far first
    table, colours = table[order], [world.trees[i][4] for i in order]
    ts, ss, radii, heights = table.T
    keep = (ss >= 2.0) & (ss <= SKY_FAR)
    bases = world.to_image(ts, np.maximum(ss, 1.0), lateral=view.lateral)
    tops = world.to_image(ts, np.maximum(ss, 1.0), heights, lateral=view.lateral)
    radii_px = np.maximum(
        1, (cam.focal_px * radii / np.maximum(cam.depth(np.maximum(ss, 1.0), heights), 1e-3))
    )
    keep &= (tops[:, 0] > -radii_px) & (tops[:, 0] < w + radii_px) & (tops[:, 1] < h + radii_px)
    wobble = np.sin(np.arange(10) * 2.3)[:, None] * 0.15
    crowns = []
    for i in np.flatnonzero(keep):
        r = int(radii_px[i])
        base = (int(bases[i, 0]), int(bases[i, 1]))
        centre = (round(float(tops[i, 0])), round(float(tops[i, 1])))
        trunk_w = max(1, r // 6)
        cv2.line(image, base, centre, (30, 45, 60), trunk_w)
        cv2.line(occluder, base, centre, TREE, trunk_w)
        crown = ellipse_polygon(centre[0], centre[1], r, r * 0.9, 0.0, n=10) + np.roll(wobble, i) * r
        fill_polygons(image, [crown], colours[i])
        crowns.append(crown)
    fill_polygons(occluder, crowns, TREE)  # anything drawn later in front overwrites it with 1


def _draw_buildings_and_kerbs(view: _View, image: np.ndarray, occluder: np.ndarray) -> None:
    world = view.world
    for t0, s0, s1, b_h, colour in world.buildings:
        a, b = s0 - view.travelled, s1 - view.travelled
        if b < world.s_near or a > SKY_FAR:
            continue
        a = max(a, world.s_near)
        xs_t = np.array([t0, t0, t0, t0])
        facade = world.to_image(
            xs_t, np.array([a, b, b, a]), np.array([0.0, 0.0, b_h, b_h]), lateral=view.lateral
        )
        fill_polygons(image, [facade], colour)
        fill_polygons(occluder, [facade], 1)
    if world.kerbs:
        near_s = np.linspace(world.s_near, 120.0, 40)
        for t in (world.road_left, world.road_right):
            face = np.concatenate(
                [
                    world.to_image(np.full(40, t), near_s, 0.0, lateral=view.lateral),
                    world.to_image(np.full(40, t), near_s[::-1], 0.15, lateral=view.lateral),
                ]
            )
            fill_polygons(image, [face], world.colors["kerb"])


def _draw_barriers(view: _View, image: np.ndarray, occluder: np.ndarray) -> None:
    """Guardrails (a steel beam on posts) and concrete barriers along the road."""
    world, cam, c, travelled, lateral = (
        view.world,
        view.world.camera,
        view.world.colors,
        view.travelled,
        view.lateral,
    )
    for (t_road, kind), look in zip(world.barriers, world.barrier_looks, strict=True):
        near_s = np.linspace(world.s_near, 120.0, 40)
        away = 1.0 if t_road > 0 else -1.0  # from the road outwards
        t = t_road + away * look.offset

        def side_band(t0: float, t1: float, z0: float, z1: float, near_s: np.ndarray = near_s) -> np.ndarray:
            """Image polygon from (t0, z1) to (t1, z0) along the road: a barrier's face or top."""
            return np.concatenate([
                world.to_image(np.full(40, t0), near_s, z1, lateral=lateral),
                world.to_image(np.full(40, t1), near_s[::-1], z0, lateral=lateral),
            ])  # fmt: skip

        if kind == "rail":
            z0, z1 = look.height - RAIL_DEPTH_M, look.height
            colour = _shade(RAIL_STEEL, look.face_shade)
        else:
            z0, z1 = 0.0, look.height
            colour = _shade(c["kerb"], look.face_shade)
            if look.top_width > 0:  # drawn first: the face hides it from a camera below the top
                top = side_band(t, t + away * look.top_width, z1, z1)
                fill_polygons(image, [top], _shade(c["kerb"], look.top_shade))
                fill_polygons(occluder, [top], 1)
        rail = side_band(t, t, z0, z1)
        if kind == "rail":
            first = np.ceil((travelled + world.s_near) / 4.0) * 4.0 - travelled
            posts_s = np.arange(first, 60.0, 4.0)
            feet = world.to_image(np.full(posts_s.size, t), posts_s, 0.0, lateral=lateral)
            heads = world.to_image(np.full(posts_s.size, t), posts_s, z0, lateral=lateral)
            widths = np.maximum(1, cam.focal_px * 0.1 / np.maximum(cam.depth(posts_s, 0.3), 1.0)).astype(int)
            for foot, head, width_px in zip(np.round(feet).astype(int), np.round(heads).astype(int), widths,
                                            strict=True):  # fmt: skip
                cv2.line(image, tuple(foot), tuple(head), (60, 60, 65), int(width_px))
                cv2.line(occluder, tuple(foot), tuple(head), 1, int(width_px))
        fill_polygons(image, [rail], colour)
        fill_polygons(occluder, [rail], 1)
        if look.ridge_shade > 0:  # the beam's ridge mirrors the sky, between two darker grooves
            ridge = side_band(t, t, z0 + 0.45 * RAIL_DEPTH_M, z0 + 0.62 * RAIL_DEPTH_M)
            fill_polygons(
                image,
                [side_band(t, t, z0 + 0.25 * RAIL_DEPTH_M, z0 + 0.75 * RAIL_DEPTH_M)],
                _shade(colour, 0.6),
            )
            fill_polygons(image, [ridge], _shade(RAIL_STEEL, look.ridge_shade))
        if look.foot_height > 0:
            fill_polygons(image, [side_band(t, t, 0.0, look.foot_height)], _shade(colour, look.foot_shade))


def _draw_street_lights(
    view: _View, image: np.ndarray, occluder: np.ndarray
) -> tuple[list[LightSource], list[tuple[float, float, float, float]]]:
    """Poles and lamps; in the dark also the lamps as light sources and their pools of light on the road."""
    world, cam, cond = view.world, view.world.camera, view.world.conditions
    lights: list[LightSource] = []
    pools: list[tuple[float, float, float, float]] = []
    if not world.street_lights:
        return lights, pools
    travelled, lateral = view.travelled, view.lateral
    poles = np.array(world.street_lights)
    poles = poles[(poles[:, 1] - travelled >= 3.0) & (poles[:, 1] - travelled <= 160.0)]
    pole_t, s, pole_h, lamp_t = poles.T
    s = s - travelled
    bases = np.round(world.to_image(pole_t, s, 0.0, lateral=lateral)).astype(int)
    tops = np.round(world.to_image(pole_t, s, pole_h, lateral=lateral)).astype(int)
    lamps = world.to_image(lamp_t, s, pole_h - 0.3, lateral=lateral)
    lamp_px = np.round(lamps).astype(int)
    thick = np.maximum(1, np.round(cam.focal_px * 0.18 / np.maximum(cam.depth(s, pole_h / 2), 1.0))).astype(
        int
    )
    pole_colour = (110, 110, 115) if cond.time != "night" else (25, 25, 25)
    for pole in range(len(poles)):
        for a, b in ((bases[pole], tops[pole]), (tops[pole], lamp_px[pole])):
            cv2.line(image, tuple(a), tuple(b), pole_colour, int(thick[pole]))
            cv2.line(occluder, tuple(a), tuple(b), 1, int(thick[pole]))
    if cond.dark:
        feet_v = world.to_image(lamp_t, s, 0.0, lateral=lateral)[:, 1]
        radii = cam.focal_px * 0.35 / np.maximum(cam.depth(s, pole_h), 1.0)
        xs_lamp = world.centre_x(s) + lamp_t - lateral
        for pole in range(len(poles)):
            lamp = LightSource(
                float(lamps[pole, 0]), float(lamps[pole, 1]), float(radii[pole]), (170, 220, 255), 1.4
            )
            lamp.ground_v = float(feet_v[pole])
            lights.append(lamp)
            pools.append((float(xs_lamp[pole]), float(s[pole]), float(pole_h[pole] * 0.7), 0.9))
    return lights, pools


def _light_the_scene(
    view: _View,
    image: np.ndarray,
    mask: np.ndarray,
    occluder: np.ndarray,
    pools: list[tuple[float, float, float, float]],
) -> None:
    """Darkness lit by street lamps and headlights, or a wet road's mirrored sky by day."""
    cam, cond, horizon = view.world.camera, view.world.conditions, view.horizon
    h, w = cam.height, cam.width
    if cond.dark:
        x_g, y_g = ground_grid(cam, (h, w), 4)
        light = pool_light(x_g, y_g, pools)
        if cond.headlights:
            light = light + (1.0 - cond.ambient) * headlight_light(x_g, y_g, high_beam=cond.high_beam)
        frame_light: np.ndarray = cv2.resize(light.astype(np.float32), (w, h), interpolation=cv2.INTER_LINEAR)
        frame_light[:horizon] = 0.0
        frame_light[occluder > 0] *= 0.3
        # road paint is retroreflective: it comes back far brighter than asphalt in a headlight beam
        frame_light[mask > 0] *= 2.2
        apply_lighting(image, frame_light, cond.ambient)
    elif cond.wet > 0.0:
        # a wet road mirrors the bright sky near the horizon
        band = max(2, (h - horizon) // 3)
        amount = np.zeros(h, np.float32)
        amount[horizon:] = np.exp(-np.arange(h - horizon, dtype=np.float32) / band) * 0.6 * cond.wet
        fade_rows(image, amount, view.world.colors["sky_low"])


def _draw_hood(view: _View, image: np.ndarray, hidden: np.ndarray) -> None:
    """The ego car's hood or dashboard over the frame's bottom, with the sky's sheen on its edge."""
    world = view.world
    hood = world.hood
    if hood is None:
        return
    h, w = world.camera.height, world.camera.width
    us, edge = _hood_edge_rendered(hood, h, w).T
    poly = np.concatenate([np.stack([us, edge], 1), [[w - 1, h + 2], [0, h + 2]]])
    hood_colour = (40, 40, 42) if hood["dash"] else (hood["b"], hood["g"], hood["r"])
    hood_base = _shade(hood_colour, 0.12 if world.conditions.time == "night" else 1.0)
    fill_polygons(image, [poly], hood_base)
    fill_polygons(hidden, [poly], 1)
    shine = np.stack([us, edge + max(1.0, h * 0.01)], 1)
    cv2.polylines(
        image,
        [np.round(shine).astype(np.int32)],
        False,
        _mix(world.colors["sky_low"], hood_base, hood["shine"]),
        max(1, h // 90),
    )


def render_front(
    world: FrontWorld, roles: ClassRoles, *, time_s: float, rng: np.random.Generator
) -> FrontFrame:
    """Draw the world at ``time_s`` seconds into the drive.

    Back to front: sky, road surface, paint (labelled), snow, haze, shadows, roadside objects and
    vehicles (they hide the paint behind them from the labels), light, weather, the car's hood, the
    lens and the sensor.
    """
    world = world.at_time(time_s)
    cam = world.camera
    cond = world.conditions
    h, w = cam.height, cam.width
    view = _View(
        world,
        travelled=world.speed * time_s,
        lateral=world.ego_lateral_m(time_s),
        horizon=int(np.clip(np.floor(cam.horizon_v), 0, h - 1)),
    )
    image: np.ndarray = np.empty((h, w, 3), np.uint8)
    _draw_sky_and_hills(view, image)
    road = _draw_road_surface(view, image)

    mask: np.ndarray = np.zeros((h, w), np.uint8)
    bare = image.copy()
    for class_id, colour, polys in _marking_polygons(world, view.travelled, view.lateral, roles):
        fill_disjoint_polygons(image, polys, colour)
        fill_disjoint_polygons(mask, polys, class_id)
    blend_where(image, bare, world.wear, mask)  # worn paint lets the asphalt show through

    hidden = np.zeros((h, w), np.uint8)  # labelled paint covered by something: snow, vehicles, hood
    _draw_snow_banks(view, image, hidden)
    _draw_haze(view, image)

    vehicles = sorted(
        ((v, v.distance_ahead(time_s, world.speed, world.ego_lanes_t)) for v in world.vehicles),
        key=lambda x: -x[1],
    )
    vehicles = [(v, s) for v, s in vehicles if 3.0 < s < 150.0]
    night = cond.time == "night"
    if not night:
        _draw_shadows(view, image, vehicles)

    occluder = np.zeros((h, w), np.uint8)
    _draw_trees(view, image, occluder)
    _draw_buildings_and_kerbs(view, image, occluder)
    _draw_barriers(view, image, occluder)
    lights, pools = _draw_street_lights(view, image, occluder)
    for v, v_s in vehicles:
        lights += _draw_vehicle(world, v, v_s, view.lateral, image, occluder, night or cond.time == "dusk")
    hidden |= occluder
    mask[hidden > 0] = 0
    _add_fine_texture(image, occluder, road, view.horizon, world.grass_grain, rng)

    _light_the_scene(view, image, mask, occluder, pools)
    cores = draw_lights(image, lights, wet=cond.wet, bloom=1.0 + cam.width / 400.0, rng=rng)
    sun_glare(image, cam, cond, rng)
    fog_overlay(image, cam, cond, _shade(world.colors["sky_low"], 0.3 if night else 1.0))
    rain_overlay(image, cond, rng)

    if world.hood is not None:
        _draw_hood(view, image, hidden)
        mask[hidden > 0] = 0

    lanes = _lane_truth(world, view.travelled, view.lateral, hidden)
    if cam.has_lens:
        map_x, map_y = cam.lens_maps()
        image = cv2.remap(image, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        mask = cv2.remap(mask, map_x, map_y, cv2.INTER_NEAREST, borderMode=cv2.BORDER_REPLICATE)
        cores = cv2.remap(cores.astype(np.uint8), map_x, map_y, cv2.INTER_NEAREST) > 0
    image = sensor_finish(image, cond, rng)
    return FrontFrame(image=image, mask=mask, lanes=lanes, lights=cores)
