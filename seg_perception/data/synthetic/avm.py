"""AVM (stitched bird's-eye) parking scenes (scenario ``parking``).

The parking lot is laid out in metres in a world frame (x right, y along the
driving aisle). A frame is the metric top-down view around the ego vehicle:
pixel = ``origin_px + R(ego heading) (world - ego position) / metres_per_pixel``
with forward = up. Slot interiors of free slots are labelled ``free_slot``,
painted lines ``slot_line``; parked cars and the ego car hide what is under them.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import cv2
import numpy as np

from seg_perception.config import ClassMap
from seg_perception.data.synthetic.render import (
    blend_where,
    fill_polygons,
    ground_texture,
    photometric_finish,
    smooth_noise,
)
from seg_perception.geometry import ParkingSlot

EGO_REAR_M, EGO_FRONT_M, EGO_HALF_WIDTH_M = -1.0, 3.7, 0.95
CAR_COLOURS = (
    (40, 40, 40), (200, 200, 205), (120, 120, 125), (30, 30, 150), (140, 60, 20),
    (225, 225, 225), (60, 90, 40), (20, 20, 25), (90, 130, 170),
)  # fmt: skip


@dataclass
class SlotGeometry:
    """One slot in world metres: corners with the entrance edge first."""

    corners: np.ndarray  # (4, 2)
    kind: str
    free: bool
    car_color: tuple[int, int, int] | None = None
    car_jitter: tuple[float, float, float] = (0.0, 0.0, 0.0)  # lateral, longitudinal (m), yaw (rad)


@dataclass
class ParkingWorld:
    """The static parking lot of one drive."""

    size: tuple[int, int]
    metres_per_pixel: float
    origin_px: tuple[float, float]
    speed: float
    slots: list[SlotGeometry]
    lines: list[np.ndarray]  # world polygons of painted lines
    stains: list[np.ndarray]
    paint: tuple[int, int, int]
    texture: np.ndarray = field(repr=False)  # BGR asphalt over the world area
    texture_to_world: np.ndarray = field(repr=False)  # 3x3 affine
    wear: np.ndarray = field(repr=False)
    sector_gain: np.ndarray = field(repr=False)  # (H, W, 3) float32
    seams: list[np.ndarray] = field(repr=False)
    vignette: np.ndarray = field(repr=False)  # weight of the sharp image, (H, W) float32
    pose0: tuple[float, float, float] = (0.0, 0.0, 0.0)
    weave: float = 0.0

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


def _row(rng: np.random.Generator, side: int, x_entrance: float, y_lo: float, y_hi: float, width: float):
    """Slots and painted lines of one row of slots along the aisle."""
    kind = str(rng.choice(["perpendicular", "parallel", "angled"], p=[0.5, 0.25, 0.25]))
    lines: list[np.ndarray] = []
    slots: list[SlotGeometry] = []
    occupancy = float(rng.uniform(0.2, 0.7))
    if kind == "parallel":
        pitch, depth, axis = float(rng.uniform(5.6, 6.5)), float(rng.uniform(2.0, 2.4)), np.array([side, 0.0])
    elif kind == "perpendicular":
        pitch, depth, axis = float(rng.uniform(2.3, 2.8)), float(rng.uniform(4.8, 5.5)), np.array([side, 0.0])
    else:
        angle = np.deg2rad(rng.uniform(45.0, 70.0))
        depth = float(rng.uniform(4.8, 5.3))
        pitch = float(rng.uniform(2.4, 2.8)) / np.sin(angle)
        lean = 1.0 if rng.random() < 0.5 else -1.0
        axis = np.array([side * np.sin(angle), lean * np.cos(angle)])
    n = int(np.ceil((y_hi - y_lo) / pitch))
    entrances = [np.array([x_entrance, y_lo + i * pitch]) for i in range(n + 1)]
    backs = [e + axis * depth for e in entrances]
    for e, b in zip(entrances, backs, strict=True):
        lines.append(_line_poly(e, b, width))
    if kind == "parallel" or rng.random() < 0.65:
        lines.append(_line_poly(backs[0], backs[-1], width))
    if rng.random() < (0.5 if kind == "parallel" else 0.15):
        lines.append(_line_poly(entrances[0], entrances[-1], width))
    for i in range(n):
        e0, e1, b1, b0 = entrances[i], entrances[i + 1], backs[i + 1], backs[i]
        # corners[0] -> corners[1]: the entrance, ordered left to right as seen from the aisle
        corners = np.array([e0, e1, b1, b0]) if side > 0 else np.array([e1, e0, b0, b1])
        free = bool(rng.random() >= occupancy)
        color = None if free else CAR_COLOURS[int(rng.integers(len(CAR_COLOURS)))]
        jitter = (
            float(rng.uniform(-0.08, 0.08)),
            float(rng.uniform(-0.25, 0.25)),
            float(rng.uniform(-0.03, 0.03)),
        )
        slots.append(SlotGeometry(corners=corners, kind=kind, free=free, car_color=color, car_jitter=jitter))
    return slots, lines


@functools.lru_cache(maxsize=8)
def _sector_geometry(size: tuple[int, int], origin: tuple[float, float], mpp: float):
    """Camera sector id per pixel (0 under the ego car), seam segments and a sharpness map."""
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
    seams = [np.array([corners[k], far[k]], np.float64) for k in corners]
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    radius = np.hypot((xx - ox) / w, (yy - oy) / h)
    vignette = np.clip(1.3 - 1.6 * radius, 0.25, 1.0).astype(np.float32)
    for array in (sector_id, vignette):
        array.flags.writeable = False  # shared by every scene of this size
    return sector_id, seams, vignette


def sample_parking_world(
    rng: np.random.Generator,
    size: tuple[int, int],
    *,
    metres_per_pixel: float,
    origin_px: tuple[float, float],
    duration_s: float,
    speed: float,
) -> ParkingWorld:
    """Lay out a random parking lot around the ego's path for a drive of ``duration_s``."""
    h, w = size
    view_radius = float(np.hypot(h, w)) / 2.0 * metres_per_pixel + 1.0
    travel = speed * duration_s
    y_lo, y_hi = -view_radius - float(rng.uniform(0, 3)), travel + view_radius
    aisle = float(rng.uniform(5.5, 7.0))
    line_w = float(rng.uniform(0.10, 0.25))
    slots: list[SlotGeometry] = []
    lines: list[np.ndarray] = []
    for side in (-1, 1):
        if rng.random() < 0.1:
            continue  # a wall or kerb on this side: no slots
        row_slots, row_lines = _row(rng, side, side * aisle / 2.0, y_lo, y_hi, line_w)
        slots += row_slots
        lines += row_lines
    stains = []
    for _ in range(int(rng.integers(2, 10) * max(1.0, travel / 10.0))):
        c = np.array([rng.uniform(-8, 8), rng.uniform(y_lo, y_hi)])
        theta = np.linspace(0, 2 * np.pi, 10, endpoint=False)
        r = rng.uniform(0.2, 0.9) * rng.uniform(0.6, 1.4, 10)
        stains.append(c + np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))

    # asphalt texture in world coordinates so that it scrolls with the lot
    tex_mpp = metres_per_pixel * 2.0
    x_min, x_max = -view_radius - 1.0, view_radius + 1.0
    tex_w = int((x_max - x_min) / tex_mpp) + 1
    tex_h = int((y_hi - y_lo + 2.0) / tex_mpp) + 1
    base = int(rng.integers(75, 150))
    texture = np.empty((tex_h, tex_w, 3), np.uint8)
    texture[:] = (base + int(rng.integers(-6, 7)), base, base - int(rng.integers(0, 10)))
    noise = ground_texture(
        rng, (tex_h, tex_w), blotch=float(rng.uniform(6, 18)), grain=float(rng.uniform(4, 9))
    )
    texture = cv2.add(texture, noise, dtype=cv2.CV_8U)
    # texture pixel (col, row) -> world: x = x_min + col * tex_mpp, y = y_hi + 1 - row * tex_mpp
    texture_to_world = np.array([[tex_mpp, 0.0, x_min], [0.0, -tex_mpp, y_hi + 1.0], [0.0, 0.0, 1.0]])

    wear_strength = float(rng.uniform(0.0, 0.5))
    wear = 1.0 - wear_strength * (0.5 + 0.5 * smooth_noise(rng, size, max(3.0, w / 40.0)))
    wear = np.clip(wear * float(rng.uniform(0.75, 1.0)), 0.4, 1.0).astype(np.float32)
    sector_id, seams, vignette = _sector_geometry(size, origin_px, metres_per_pixel)
    gains = np.ones((5, 3), np.float32)
    gains[1:] = rng.uniform(0.85, 1.15, (4, 1)) * rng.uniform(0.95, 1.05, (4, 3))
    yellow = rng.random() < 0.2
    return ParkingWorld(
        size=size,
        metres_per_pixel=metres_per_pixel,
        origin_px=origin_px,
        speed=speed,
        slots=slots,
        lines=lines,
        stains=stains,
        paint=(40, 190, 225) if yellow else (230, 232, 232),
        texture=texture,
        texture_to_world=texture_to_world,
        wear=wear,
        sector_gain=gains[sector_id],
        seams=seams,
        vignette=vignette,
        pose0=(
            float(rng.uniform(-0.6, 0.6)),
            float(rng.uniform(-1.0, 1.0)),
            float(np.deg2rad(rng.uniform(-6, 6))),
        ),
        weave=float(rng.uniform(0.0, 0.5)),
    )


def _car_top(centre: np.ndarray, axis: np.ndarray, length: float, width: float) -> dict[str, np.ndarray]:
    """Top-down car outline pieces in world metres; ``axis`` points to the car's front."""
    axis = axis / np.linalg.norm(axis)
    normal = np.array([-axis[1], axis[0]])

    def quad(f0: float, f1: float, hw0: float, hw1: float) -> np.ndarray:
        return np.array([
            centre + axis * f0 - normal * hw0, centre + axis * f1 - normal * hw1,
            centre + axis * f1 + normal * hw1, centre + axis * f0 + normal * hw0,
        ])  # fmt: skip

    half_l, half_w = length / 2.0, width / 2.0
    body = np.concatenate([
        quad(-half_l, -half_l + 0.3, half_w * 0.85, half_w)[:2],
        quad(half_l - 0.4, half_l, half_w, half_w * 0.8)[:2],
        quad(half_l - 0.4, half_l, half_w, half_w * 0.8)[2:],
        quad(-half_l, -half_l + 0.3, half_w * 0.85, half_w)[2:],
    ])  # fmt: skip
    return {
        "body": body,
        "windscreen": quad(half_l * 0.15, half_l * 0.5, half_w * 0.75, half_w * 0.85),
        "rear_window": quad(-half_l * 0.75, -half_l * 0.5, half_w * 0.8, half_w * 0.75),
        "roof": quad(-half_l * 0.5, half_l * 0.15, half_w * 0.78, half_w * 0.78),
    }


def render_parking(world: ParkingWorld, classes: ClassMap, *, time_s: float, rng: np.random.Generator):
    """Draw the lot at ``time_s`` -> (image BGR, mask, slots in pixels)."""
    h, w = world.size
    line_id, free_id = classes.index("slot_line"), classes.index("free_slot")
    to_px = world.world_to_pixel(time_s)
    # WARP_INVERSE_MAP: the matrix maps output pixels to texture pixels
    image = cv2.warpAffine(
        world.texture,
        np.linalg.inv(to_px @ world.texture_to_world)[:2],
        (w, h),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_REFLECT,
    )
    base = tuple(int(v) for v in world.texture[0, 0])
    fill_polygons(image, [_apply(to_px, s) for s in world.stains], tuple(int(v * 0.7) for v in base))

    mask = np.zeros((h, w), np.uint8)
    margin = 3.0 / world.metres_per_pixel
    visible = []
    for slot in world.slots:
        px = _apply(to_px, slot.corners)
        if (
            px[:, 0].max() < -margin
            or px[:, 0].min() > w + margin
            or px[:, 1].max() < -margin
            or px[:, 1].min() > h + margin
        ):
            continue
        visible.append((slot, px))
        if slot.free:
            fill_polygons(mask, [px], free_id)
    bare = image.copy()
    line_polys = [_apply(to_px, p) for p in world.lines]
    fill_polygons(image, line_polys, world.paint)
    fill_polygons(mask, line_polys, line_id)
    blend_where(image, bare, world.wear, mask == line_id)  # worn paint

    occluder = np.zeros((h, w), np.uint8)
    for slot, _ in visible:
        if slot.free or slot.car_color is None:
            continue
        e_mid = (slot.corners[0] + slot.corners[1]) / 2.0
        b_mid = (slot.corners[2] + slot.corners[3]) / 2.0
        axis = b_mid - e_mid
        depth = float(np.linalg.norm(axis))
        normal = np.array([-axis[1], axis[0]]) / max(depth, 1e-9)
        lateral, longitudinal, yaw = slot.car_jitter
        ca, sa = np.cos(yaw), np.sin(yaw)
        axis_r = np.array([ca * axis[0] - sa * axis[1], sa * axis[0] + ca * axis[1]])
        if slot.kind == "parallel":
            width_slot = float(np.linalg.norm(slot.corners[1] - slot.corners[0]))
            centre = (e_mid + b_mid) / 2.0 + normal * longitudinal + axis / max(depth, 1e-9) * lateral
            car_axis = np.array([-axis_r[1], axis_r[0]])
            parts = _car_top(centre, car_axis, min(4.6, width_slot - 0.9), min(1.8, depth - 0.35))
        else:
            width_slot = float(np.linalg.norm(slot.corners[1] - slot.corners[0]))
            centre = (e_mid + b_mid) / 2.0 + normal * lateral + axis / max(depth, 1e-9) * longitudinal * 0.5
            car_w = min(1.8, width_slot * 0.9 - 0.4) if slot.kind == "perpendicular" else 1.75
            parts = _car_top(centre, axis_r, min(4.5, depth - 0.3), car_w)
        colour = slot.car_color
        shadow = _apply(to_px, parts["body"] * 1.0) + 2.0
        fill_polygons(image, [shadow], (25, 25, 25))
        fill_polygons(image, [_apply(to_px, parts["body"])], colour)
        fill_polygons(
            image, [_apply(to_px, parts["roof"])], tuple(min(255, int(c * 1.1) + 10) for c in colour)
        )
        fill_polygons(
            image, [_apply(to_px, parts["windscreen"]), _apply(to_px, parts["rear_window"])], (45, 35, 30)
        )
        fill_polygons(occluder, [_apply(to_px, parts["body"]), shadow], 1)

    # the ego car as stitched AVM images show it: a dark car-shaped blob
    ox, oy = world.origin_px
    k = 1.0 / world.metres_per_pixel
    ego = _car_top(
        np.array([ox, oy - (EGO_FRONT_M + EGO_REAR_M) / 2.0 * k]),
        np.array([0.0, -1.0]),
        (EGO_FRONT_M - EGO_REAR_M) * k,
        2.0 * EGO_HALF_WIDTH_M * k,
    )
    fill_polygons(image, [ego["body"]], (22, 22, 24))
    fill_polygons(image, [ego["windscreen"], ego["rear_window"]], (45, 45, 50))
    fill_polygons(occluder, [ego["body"]], 1)
    mask[occluder > 0] = 0

    image = cv2.multiply(image, world.sector_gain, dtype=cv2.CV_8U)
    for seam in world.seams:
        cv2.line(
            image,
            tuple(int(v) for v in seam[0]),
            tuple(int(v) for v in seam[1]),
            (70, 70, 70),
            1,
            cv2.LINE_AA,
        )
    # the stretched far field of an AVM image is soft; a pyramid blur is cheap
    blurred = cv2.pyrUp(cv2.pyrDown(image), dstsize=(w, h))
    image = cv2.blendLinear(image, blurred, world.vignette, 1.0 - world.vignette)
    image = photometric_finish(image, rng, blur_p=0.2, jpeg_p=0.3)

    # a slot is reported when its entrance lies in the image; back corners may lie outside
    slots = []
    for slot, px in visible:
        entrance = px[:2]
        if not (
            (entrance >= 0).all() and (entrance[:, 0] <= w - 1).all() and (entrance[:, 1] <= h - 1).all()
        ):
            continue
        centre = np.clip(px.mean(axis=0).round().astype(int), 0, [w - 1, h - 1])
        if occluder[centre[1], centre[0]] and slot.free:
            continue  # under the ego car
        slots.append(
            ParkingSlot(
                corners=px.astype(np.float32),
                free=slot.free,
                instance_id=len(slots),
                extra={"type": slot.kind},
            )
        )
    return image, mask, slots
