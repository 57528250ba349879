"""Front-camera road scenes (scenarios ``highway`` and ``road``).

A :class:`FrontWorld` is the static content of one drive, laid out in road
coordinates ``(t, s)``: ``s`` metres along the road from the start, ``t`` metres
to the right of the ego lane's centre line. Rendering a frame maps road
coordinates to the ground plane through the road's curvature, projects with a
pinhole camera and fills polygons, so dashes shorten with distance and scroll as
the ego vehicle moves. Paint is labelled with exactly the pixels it was drawn
on; anything drawn later in front of it (vehicles, trees, barriers) is not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from seg_perception.config import ClassMap
from seg_perception.data.synthetic.camera import PinholeCamera
from seg_perception.data.synthetic.render import (
    blend_where,
    ellipse_polygon,
    fill_polygons,
    ground_texture,
    photometric_finish,
    smooth_noise,
)

WHITE_PAINT = (228, 232, 232)
YELLOW_PAINT = (40, 185, 225)
CAR_COLOURS = (
    (40, 40, 40), (200, 200, 205), (120, 120, 125), (30, 30, 150), (140, 60, 20),
    (235, 235, 235), (60, 90, 40), (20, 20, 25), (90, 130, 170),
)  # fmt: skip
SKY_FAR = 220.0  # metres drawn for the road surface


@dataclass
class LaneLine:
    """A longitudinal marking at lateral offset ``t`` (metres)."""

    t: float
    width: float
    color: tuple[int, int, int]
    style: str  # "solid" | "dashed" | "double"
    dash: float = 3.0
    gap: float = 9.0
    phase: float = 0.0
    double_gap: float = 0.15


@dataclass
class Vehicle:
    """A box-shaped vehicle seen from behind."""

    t: float
    s0: float
    speed: float
    width: float
    height: float
    length: float
    color: tuple[int, int, int]


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
    barriers: list[float]  # lateral offsets of guard rails
    colors: dict[str, tuple[int, int, int]]
    texture: np.ndarray = field(repr=False)
    wear: np.ndarray = field(repr=False)
    hills: np.ndarray = field(repr=False)

    @property
    def s_near(self) -> float:
        """Nearest ground distance worth drawing: a little closer than the bottom image row sees."""
        return max(0.3, 0.8 * self.camera.near_ground_m)

    def centre_x(self, s: np.ndarray) -> np.ndarray:
        """Ground x of the ego lane's centre line at forward distance ``s`` (clothoid-ish)."""
        return (
            -self.ego_offset + self.yaw * s + self.curvature / 2.0 * s**2 + self.curvature_rate / 6.0 * s**3
        )

    def to_image(self, t: np.ndarray, s: np.ndarray, z: np.ndarray | float = 0.0, lateral: float = 0.0):
        """Road coordinates relative to the ego (s ahead, t lateral) -> pixel coordinates."""
        return self.camera.project(self.centre_x(s) + t - lateral, s, z)


def _intervals_minus(intervals: list[tuple[float, float]], gaps: list[tuple[float, float]]):
    out = intervals
    for g0, g1 in gaps:
        nxt = []
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


def _strip(world: FrontWorld, t0: float, t1: float, s0: float, s1: float, lateral: float, n: int = 0):
    """Image polygon of the road-coordinate rectangle [t0, t1] x [s0, s1] (s relative to the ego)."""
    return _project_many(world, [_strip_ts(t0, t1, s0, s1, n)], lateral)[0]


def sample_front_world(
    rng: np.random.Generator, size: tuple[int, int], *, urban: bool, duration_s: float, speed: float
) -> FrontWorld:
    """Lay out a random road, its markings, vehicles and scenery for a drive of ``duration_s``."""
    camera = PinholeCamera.sample(rng, size)
    height, width = size
    lane_w = float(rng.uniform(2.9, 3.5) if urban else rng.uniform(3.3, 3.8))
    n_lanes = int(rng.integers(2, 5) if urban else rng.integers(2, 6))
    ego_lane = int(rng.integers(n_lanes // 2, n_lanes) if urban else rng.integers(0, n_lanes))
    marking_w = float(rng.uniform(0.10, 0.25))
    bounds = [(k - ego_lane) * lane_w - lane_w / 2.0 for k in range(n_lanes + 1)]
    dash, gap = (
        (float(rng.uniform(2.0, 3.5)), float(rng.uniform(3.0, 6.0)))
        if urban
        else (
            float(rng.uniform(3.0, 6.0)),
            float(rng.uniform(6.0, 12.0)),
        )
    )
    centre_line = int(rng.integers(1, n_lanes)) if urban and n_lanes >= 2 and rng.random() < 0.6 else -1
    lines: list[LaneLine] = []
    for k, t in enumerate(bounds):
        edge = k in (0, n_lanes)
        color = WHITE_PAINT
        if k == centre_line:
            style = "double" if rng.random() < 0.6 else "solid"
            color = YELLOW_PAINT if rng.random() < 0.8 else WHITE_PAINT
        elif edge:
            if urban and rng.random() < 0.35:
                continue  # many city streets have no edge line, just a kerb
            style = "solid"
            color = YELLOW_PAINT if (k == 0 and rng.random() < 0.3) else WHITE_PAINT
        else:
            style = "dashed" if rng.random() < 0.85 else "solid"
        lines.append(
            LaneLine(
                t=t,
                width=marking_w * (1.3 if edge and not urban else 1.0),
                color=color,
                style=style,
                dash=dash,
                gap=gap,
                phase=float(rng.uniform(0, dash + gap)),
                double_gap=float(rng.uniform(0.1, 0.25)),
            )
        )
    # markings are labelled only where they are at least ~1.3 px wide at 512 px image width,
    # so that the labels stay learnable at training resolution whatever the stream's size
    focal_ref = camera.focal_px * 512.0 / width
    marking_range = float(np.clip(focal_ref * marking_w / 1.3, 25.0, 60.0))
    travel = speed * duration_s
    total = travel + SKY_FAR + 20.0

    gaps: list[tuple[float, float]] = []
    crosswalks, stop_lines = [], []
    if urban:
        # the first junction lies 5-22 m ahead: the range in which a planner acts on stop lines and
        # crosswalks, and where their stripes are tall enough in the image to be labelled reliably
        s_event = float(rng.uniform(5.0, 22.0))
        while s_event < travel + marking_range + 10.0:
            has_cross = rng.random() < 0.8
            stop_depth = float(rng.uniform(0.3, 0.5))
            stop_s = s_event - float(rng.uniform(1.0, 3.0))
            cross_len = float(rng.uniform(2.5, 4.0))
            junction = float(rng.uniform(8.0, 18.0)) if rng.random() < 0.45 else 0.0
            end = s_event + (cross_len if has_cross else 0.0) + junction + 0.5
            gaps.append((stop_s - 0.3, end))
            if rng.random() < 0.75:
                t_from = bounds[centre_line] if centre_line >= 0 else bounds[0]
                stop_lines.append((stop_s, stop_depth, t_from, bounds[-1]))
            if has_cross:
                stripe_w, stripe_gap = float(rng.uniform(0.4, 0.6)), float(rng.uniform(0.4, 0.7))
                stripes, t = [], bounds[0] + float(rng.uniform(0.0, 0.3))
                while t + stripe_w <= bounds[-1]:
                    stripes.append((t, t + stripe_w))
                    t += stripe_w + stripe_gap
                crosswalks.append((s_event, cross_len, stripes))
            s_event = end + float(rng.uniform(30.0, 90.0))

    vehicles = []
    for _ in range(int(rng.integers(0, 5 if urban else 4) + 1)):
        lane = int(rng.integers(0, n_lanes))
        truck = (not urban) and rng.random() < 0.2
        oncoming = urban and 0 <= centre_line and lane < centre_line
        vehicles.append(
            Vehicle(
                t=(lane - ego_lane) * lane_w + float(rng.uniform(-0.3, 0.3)),
                s0=float(rng.uniform(6.0, 70.0)),
                speed=(-1.0 if oncoming else 1.0) * speed * float(rng.uniform(0.7, 1.2)),
                width=float(rng.uniform(2.4, 2.6) if truck else rng.uniform(1.7, 2.0)),
                height=float(rng.uniform(3.2, 3.8) if truck else rng.uniform(1.4, 1.8)),
                length=float(rng.uniform(10, 16) if truck else rng.uniform(4.0, 5.0)),
                color=CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))],
            )
        )
    if rng.random() < 0.3:
        vehicles = []

    road_left = bounds[0] - float(rng.uniform(0.3, 2.5))
    road_right = bounds[-1] + float(rng.uniform(0.3, 2.5))

    def road_polys(count: int, length: tuple[float, float], lat: tuple[float, float]) -> list[np.ndarray]:
        polys = []
        for _ in range(count):
            s = float(rng.uniform(0.0, total))
            t = float(rng.uniform(*lat))
            polys.append(
                ellipse_polygon(
                    t,
                    s,
                    float(rng.uniform(0.3, 1.5)),
                    float(rng.uniform(*length)),
                    float(rng.uniform(-0.3, 0.3)),
                    n=8 + int(rng.integers(0, 5)),
                )
            )
        return polys

    density = max(1.0, total / 100.0)
    patches = road_polys(int(rng.integers(0, 6) * density), (1.0, 6.0), (road_left, road_right))
    shadows = road_polys(int(rng.integers(0, 5) * density), (2.0, 8.0), (road_left - 3.0, road_right + 3.0))
    if rng.random() < 0.15:  # a bridge or a building's shadow across the whole road
        s = float(rng.uniform(10.0, 50.0))
        shadows.append(
            np.array(
                [[road_left - 5, s], [road_right + 5, s], [road_right + 5, s + 6], [road_left - 5, s + 6]]
            )
        )
    cracks = []
    for _ in range(int(rng.integers(0, 8) * density)):
        s, t = float(rng.uniform(0.0, total)), float(rng.uniform(road_left, road_right))
        steps = rng.normal(0.0, 1.0, (6, 2)) * np.array([0.4, 1.2])
        cracks.append(np.array([t, s]) + np.cumsum(steps, axis=0))
    if rng.random() < 0.4:  # sealed seams next to a lane line: dark lines that are not paint
        t = bounds[int(rng.integers(0, n_lanes + 1))] + float(rng.choice([-0.35, 0.35]))
        seam_s = np.arange(0.0, total, 2.0)
        cracks.append(np.stack([np.full_like(seam_s, t), seam_s], axis=1))

    trees, buildings, barriers = [], [], []
    if urban:
        for side in (-1, 1):
            s = float(rng.uniform(0.0, 10.0))
            base_t = (road_left if side < 0 else road_right) + side * float(rng.uniform(3.0, 6.0))
            while s < total:
                length = float(rng.uniform(10.0, 35.0))
                grey = int(rng.integers(70, 200))
                tint = rng.integers(-25, 25, 3)
                color = tuple(int(np.clip(grey + d, 0, 255)) for d in tint)
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
        if rng.random() < 0.6:
            barriers.append(road_right + 0.6)
        if rng.random() < 0.5:
            barriers.append(road_left - 0.6)
    for _ in range(int(rng.integers(3, 14) * density)):
        side = -1 if rng.random() < 0.5 else 1
        edge = road_left if side < 0 else road_right
        t = edge + side * float(rng.uniform(1.5, 14.0))
        green = (int(rng.integers(20, 60)), int(rng.integers(70, 120)), int(rng.integers(30, 70)))
        trees.append(
            (
                t,
                float(rng.uniform(5.0, total)),
                float(rng.uniform(1.5, 3.5)),
                float(rng.uniform(4.0, 8.0)),
                green,
            )
        )

    asphalt = int(rng.integers(70, 135))
    colors = {
        "asphalt": (asphalt + int(rng.integers(-5, 6)), asphalt, asphalt - int(rng.integers(0, 8))),
        "shoulder": (asphalt + 25, asphalt + 25, asphalt + 22)
        if urban
        else (asphalt - 10, asphalt - 5, asphalt),
        "ground": (60, 150, 180)
        if urban
        else (int(rng.integers(30, 70)), int(rng.integers(90, 140)), int(rng.integers(70, 120))),
        "sky_top": (int(rng.integers(170, 230)), int(rng.integers(120, 180)), int(rng.integers(60, 120))),
        "sky_low": (int(rng.integers(200, 245)), int(rng.integers(195, 235)), int(rng.integers(180, 225))),
        "hills": (int(rng.integers(70, 110)), int(rng.integers(90, 130)), int(rng.integers(70, 100))),
    }
    if rng.random() < 0.3:  # overcast
        grey = int(rng.integers(170, 225))
        colors["sky_top"] = colors["sky_low"] = (grey, grey, grey - 5)

    texture = ground_texture(
        rng, size, blotch=float(rng.uniform(6.0, 16.0)), grain=float(rng.uniform(3.0, 8.0))
    )
    wear_strength = float(rng.uniform(0.0, 0.5))
    wear = 1.0 - wear_strength * (0.5 + 0.5 * smooth_noise(rng, size, max(3.0, width / 60.0)))
    wear = np.clip(wear * float(rng.uniform(0.75, 1.0)), 0.4, 1.0).astype(np.float32)
    hills = np.cumsum(rng.normal(0.0, 1.0, 32)) * height * 0.006 + height * float(rng.uniform(0.0, 0.06))

    return FrontWorld(
        camera=camera, urban=urban, speed=speed,
        curvature=0.0 if rng.random() < 0.35 else float(rng.uniform(-1.0, 1.0) / (120.0 if urban else 450.0)),
        curvature_rate=float(rng.normal(0.0, 1e-5)),
        yaw=float(np.deg2rad(rng.uniform(-1.5, 1.5))),
        ego_offset=float(rng.uniform(-0.4, 0.4)),
        road_left=road_left, road_right=road_right, marking_range=marking_range,
        lines=lines, gaps=gaps, crosswalks=crosswalks, stop_lines=stop_lines, vehicles=vehicles,
        patches=patches, cracks=cracks, shadows=shadows, trees=trees, buildings=buildings,
        barriers=barriers, colors=colors, texture=texture, wear=wear, hills=hills,
    )  # fmt: skip


def _marking_polygons(world: FrontWorld, travelled: float, lateral: float, classes: ClassMap):
    """{(class id, colour): image polygons} of every painted region within the marking range."""
    lo, hi = travelled + world.s_near, travelled + world.marking_range
    lane_id = classes.index("lane_marking")
    groups: dict[tuple[int, tuple[int, int, int]], list[np.ndarray]] = {}
    for line in world.lines:
        if line.style == "dashed":
            intervals = _dash_intervals(lo, hi, line.dash, line.gap, line.phase)
        else:
            intervals = [(lo, hi)]
        intervals = _intervals_minus(intervals, world.gaps)
        offsets = [0.0]
        if line.style == "double":
            half = (line.width + line.double_gap) / 2.0
            offsets = [-half, half]
        group = groups.setdefault((lane_id, line.color), [])
        for a, b in intervals:
            for off in offsets:
                t0, t1 = line.t + off - line.width / 2.0, line.t + off + line.width / 2.0
                group.append(_strip_ts(t0, t1, a - travelled, b - travelled))
    for s0, depth, t0, t1 in world.stop_lines:
        if lo <= s0 and s0 + depth <= hi:
            groups.setdefault((lane_id, WHITE_PAINT), []).append(
                _strip_ts(t0, t1, s0 - travelled, s0 + depth - travelled, 2)
            )
    cross_id = classes.index("crosswalk") if "crosswalk" in classes.names else lane_id
    for s0, length, stripes in world.crosswalks:
        a, b = max(s0, lo), min(s0 + length, hi)
        if b <= a:
            continue
        group = groups.setdefault((cross_id, WHITE_PAINT), [])
        group += [_strip_ts(t0, t1, a - travelled, b - travelled, 3) for t0, t1 in stripes]
    return {key: _project_many(world, polys, lateral) for key, polys in groups.items()}


def _ground_polys(world: FrontWorld, polys: list[np.ndarray], travelled: float, lateral: float, far: float):
    keep = []
    for poly in polys:
        s = poly[:, 1] - travelled
        if s.max() < world.s_near or s.min() > far:
            continue
        keep.append(np.stack([poly[:, 0], np.clip(s, world.s_near, far)], axis=1))
    return _project_many(world, keep, lateral)


def _draw_vehicle(world: FrontWorld, vehicle: Vehicle, s: float, lateral: float, image, occluder) -> None:
    half = vehicle.width / 2.0
    cam = world.camera
    x_c = float(world.centre_x(np.array([s]))[0]) + vehicle.t - lateral

    def face(x0: float, x1: float, z0: float, z1: float, y0: float = s, y1: float = s) -> np.ndarray:
        xs = np.array([x0, x1, x1, x0])
        ys = np.array([y0, y1, y1, y0])
        zs = np.array([z0, z0, z1, z1])
        return cam.project(xs, ys, zs)

    body, dark = vehicle.color, tuple(int(c * 0.55) for c in vehicle.color)
    polys: list[np.ndarray] = []
    # the side facing the camera, from the rear face to the front
    side_x = x_c - half if x_c > half else (x_c + half if x_c < -half else None)
    if side_x is not None:
        side = face(side_x, side_x, 0.25, vehicle.height * 0.9, s, s + vehicle.length)
        fill_polygons(image, [side], dark)
        polys.append(side)
    lower = face(x_c - half, x_c + half, 0.25, vehicle.height * 0.55)
    cabin = face(x_c - half * 0.85, x_c + half * 0.85, vehicle.height * 0.55, vehicle.height)
    window = face(x_c - half * 0.72, x_c + half * 0.72, vehicle.height * 0.6, vehicle.height * 0.92)
    fill_polygons(image, [lower, cabin], body)
    if vehicle.height < 2.5:
        fill_polygons(image, [window], (35, 30, 30))
    lights = [
        face(x_c - half * 0.95, x_c - half * 0.65, vehicle.height * 0.4, vehicle.height * 0.5),
        face(x_c + half * 0.65, x_c + half * 0.95, vehicle.height * 0.4, vehicle.height * 0.5),
    ]
    fill_polygons(image, lights, (30, 30, 190))
    wheels = [face(x_c - half, x_c - half * 0.6, 0.0, 0.4), face(x_c + half * 0.6, x_c + half, 0.0, 0.4)]
    fill_polygons(image, wheels, (15, 15, 15))
    polys += [lower, cabin, *wheels]
    fill_polygons(occluder, polys, 1)


def render_front(world: FrontWorld, classes: ClassMap, *, time_s: float, rng: np.random.Generator):
    """Draw the world at ``time_s`` seconds into the drive -> (image BGR, mask)."""
    cam = world.camera
    h, w = cam.height, cam.width
    travelled = world.speed * time_s
    lateral = 0.25 * np.sin(0.4 * time_s)  # gentle weaving inside the lane
    horizon = int(np.clip(np.floor(cam.horizon_v), 0, h - 1))
    c = world.colors

    rows = np.linspace(0.0, 1.0, max(horizon, 1), dtype=np.float32)[:, None]
    image = np.empty((h, w, 3), np.uint8)
    image[:horizon] = (np.array(c["sky_top"]) * (1 - rows) + np.array(c["sky_low"]) * rows).astype(np.uint8)[
        :, None
    ]
    image[horizon:] = c["ground"]
    xs = np.linspace(0, w, len(world.hills))
    hill_line = np.stack([xs, cam.horizon_v - np.abs(world.hills)], axis=1)
    fill_polygons(
        image, [np.concatenate([hill_line, [[w, cam.horizon_v + 1], [0, cam.horizon_v + 1]]])], c["hills"]
    )

    road = _strip(world, world.road_left, world.road_right, world.s_near, SKY_FAR, lateral, 60)
    if world.urban:
        for t0, t1 in ((world.road_left - 3.0, world.road_left), (world.road_right, world.road_right + 3.0)):
            fill_polygons(image, [_strip(world, t0, t1, world.s_near, SKY_FAR, lateral, 60)], c["shoulder"])
    fill_polygons(image, [road], c["asphalt"])
    image[horizon:] = cv2.add(image[horizon:], world.texture[horizon:], dtype=cv2.CV_8U)

    patches = _ground_polys(world, world.patches, travelled, lateral, SKY_FAR)
    fill_polygons(image, patches, tuple(int(v * 0.88) for v in c["asphalt"]))
    for crack in _ground_polys(world, world.cracks, travelled, lateral, 80.0):
        cv2.polylines(
            image, [np.round(crack).astype(np.int32)], False, tuple(int(v * 0.55) for v in c["asphalt"]), 1
        )

    mask = np.zeros((h, w), np.uint8)
    bare = image.copy()
    for (class_id, colour), polys in _marking_polygons(world, travelled, lateral, classes).items():
        fill_polygons(image, polys, colour)
        fill_polygons(mask, polys, class_id)
    blend_where(image, bare, world.wear, mask)  # worn paint lets the asphalt show through

    # atmospheric haze: the far road fades towards the sky colour
    band = min(h - horizon, max(2, h // 6))
    if band > 0:
        fade = np.exp(-np.arange(band, dtype=np.float32) / (band / 3.0))[:, None, None] * 0.6
        part = image[horizon : horizon + band].astype(np.float32)
        image[horizon : horizon + band] = (
            part * (1 - fade) + np.array(c["sky_low"], np.float32) * fade
        ).astype(np.uint8)

    # shadows darken road and paint alike; the paint stays labelled
    shade = np.zeros((h, w), np.uint8)
    fill_polygons(shade, _ground_polys(world, world.shadows, travelled, lateral, 120.0), 1)
    vehicles = sorted(
        ((v, v.s0 + (v.speed - world.speed) * time_s) for v in world.vehicles), key=lambda x: -x[1]
    )
    vehicles = [(v, s) for v, s in vehicles if 3.0 < s < 150.0]
    for v, s in vehicles:
        foot = world.to_image(
            np.array([v.t - v.width / 2 - 0.2, v.t + v.width / 2 + 0.2] * 2),
            np.array([s - 0.2, s - 0.2, s + v.length, s + v.length]),
            lateral=lateral,
        )
        fill_polygons(shade, [foot[[0, 1, 3, 2]]], 1)
    index = np.flatnonzero(shade)
    if index.size:
        flat = image.reshape(-1, 3)
        flat[index] = (flat[index] * 0.45).astype(np.uint8)

    occluder = np.zeros((h, w), np.uint8)
    far_first = sorted(world.trees, key=lambda tr: -(tr[1] - travelled))
    for t, s_abs, radius, tree_h, colour in far_first:
        s = s_abs - travelled
        if s < 2.0 or s > SKY_FAR:
            continue
        base = world.to_image(np.array([t]), np.array([s]), lateral=lateral)[0]
        top = world.to_image(np.array([t]), np.array([s]), tree_h, lateral=lateral)[0]
        r = int(max(1, cam.focal_px * radius / max(float(cam.depth(s, tree_h)), 1e-3)))
        trunk_w = max(1, r // 6)
        centre = (round(float(top[0])), round(float(top[1])))
        cv2.line(image, (int(base[0]), int(base[1])), centre, (30, 45, 60), trunk_w)
        cv2.line(occluder, (int(base[0]), int(base[1])), centre, 1, trunk_w)
        cv2.circle(image, centre, r, colour, -1)
        cv2.circle(occluder, centre, r, 1, -1)
    for t0, s0, s1, b_h, colour in world.buildings:
        a, b = s0 - travelled, s1 - travelled
        if b < world.s_near or a > SKY_FAR:
            continue
        a = max(a, world.s_near)
        xs_t = np.array([t0, t0, t0, t0])
        facade = world.to_image(xs_t, np.array([a, b, b, a]), np.array([0.0, 0.0, b_h, b_h]), lateral=lateral)
        fill_polygons(image, [facade], colour)
        fill_polygons(occluder, [facade], 1)
    for t in world.barriers:
        rail = np.concatenate([
            world.to_image(np.full(40, t), np.linspace(world.s_near, 120.0, 40), 0.75, lateral=lateral),
            world.to_image(np.full(40, t), np.linspace(120.0, world.s_near, 40), 0.45, lateral=lateral),
        ])  # fmt: skip
        fill_polygons(image, [rail], (150, 155, 160))
        fill_polygons(occluder, [rail], 1)
    for v, s in vehicles:
        _draw_vehicle(world, v, s, lateral, image, occluder)
    mask[occluder > 0] = 0

    image = photometric_finish(image, rng)
    return image, mask
