"""Ground surfaces of AVM parking scenes, drawn once per lot in world coordinates.

The texture is an image of the whole lot at ``tex_mpp`` metres per texture pixel; frames
sample it with one affine warp, so pavers, stains, numbers and arrows scroll with the lot.
Nothing here is labelled: painted numbers, arrows, manholes and stains are background,
so a model learns to tell them from slot lines.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seg_perception.data.synthetic.render import (
    ellipse_polygon,
    fill_polygons,
    ground_texture,
    rgb,
    smooth_noise,
)

OUTDOOR_GROUNDS = ("asphalt", "concrete", "brick", "grass_pavers", "painted")
OUTDOOR_GROUND_P = (0.34, 0.2, 0.18, 0.12, 0.16)
INDOOR_GROUNDS = ("concrete", "painted", "epoxy")
INDOOR_GROUND_P = (0.35, 0.35, 0.3)
# BGR floor colours of painted and epoxy floors: green, grey-green, red, blue-grey, sand, grey
FLOOR_COLOURS = (
    (95, 140, 70),
    (120, 150, 120),
    (70, 70, 170),
    (150, 130, 110),
    (130, 170, 190),
    (140, 140, 140),
)
BRICK_COLOURS = ((110, 120, 150), (150, 150, 150), (90, 100, 135), (120, 130, 130), (80, 90, 160))
PAVER_TILE_REPEATS = 6  # bricks per tile side: tiles repeat, so per-brick shading repeats this often


@dataclass
class GroundTexture:
    """A world texture and where it lies.

    Attributes:
        image: (H, W, 3) uint8 BGR texture.
        to_world: (3, 3) affine, texture pixel ``(col, row, 1)`` -> world metres.
        kind: Ground kind (``asphalt``, ``concrete``, ``brick``, ``grass_pavers``, ``painted``, ``epoxy``).
    """

    image: np.ndarray
    to_world: np.ndarray
    kind: str

    def world_to_texture(self) -> np.ndarray:
        """(3, 3) affine world metres -> texture pixels."""
        return np.linalg.inv(self.to_world)


def choose_ground(rng: np.random.Generator, *, indoor: bool) -> str:
    """A ground kind, indoor or outdoor."""
    if indoor:
        return str(rng.choice(INDOOR_GROUNDS, p=INDOOR_GROUND_P))
    return str(rng.choice(OUTDOOR_GROUNDS, p=OUTDOOR_GROUND_P))


def _grid(shape: tuple[int, int], tex_mpp: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    """World-metre coordinates (u, v) of a texture tile's pixels, rotated by ``angle``."""
    rows, cols = np.mgrid[0 : shape[0], 0 : shape[1]].astype(np.float32)
    x, y = cols * tex_mpp, rows * tex_mpp
    c, s = np.cos(angle), np.sin(angle)
    return c * x + s * y, -s * x + c * y


def _brick_tile(rng: np.random.Generator, tex_mpp: float) -> np.ndarray:
    """(h, w, 3) uint8 tile of running-bond bricks or square pavers, with mortar joints."""
    length = float(rng.uniform(0.18, 0.3))
    width = length * float(rng.choice([0.5, 1.0], p=[0.7, 0.3]))
    mortar = float(rng.uniform(0.008, 0.02))
    tile_h = max(4, round(PAVER_TILE_REPEATS * 2 * width / tex_mpp))
    tile_w = max(4, round(PAVER_TILE_REPEATS * length / tex_mpp))
    # stretch the brick size so that a whole number of bricks fills the integer-pixel tile
    width = tile_h * tex_mpp / (PAVER_TILE_REPEATS * 2)
    length = tile_w * tex_mpp / PAVER_TILE_REPEATS
    u, v = _grid((tile_h, tile_w), tex_mpp, 0.0)
    row = np.floor(v / width).astype(np.int32)
    shifted = u + (row % 2) * (length / 2.0)
    col = np.floor(shifted / length).astype(np.int32) % PAVER_TILE_REPEATS
    du, dv = np.mod(shifted, length), np.mod(v, width)
    joint = (np.minimum(du, length - du) < mortar) | (np.minimum(dv, width - dv) < mortar)
    base = np.array(BRICK_COLOURS[int(rng.integers(len(BRICK_COLOURS)))], np.float32)
    shade = rng.uniform(0.8, 1.15, (2 * PAVER_TILE_REPEATS + 1, PAVER_TILE_REPEATS + 1)).astype(np.float32)
    tile = base[None, None, :] * shade[row % shade.shape[0], col][..., None]
    tile[joint] = base * float(rng.uniform(0.55, 1.25))
    return np.clip(tile, 0, 255).astype(np.uint8)


def _grass_paver_tile(rng: np.random.Generator, tex_mpp: float) -> np.ndarray:
    """(h, w, 3) uint8 tile of grass-crete: a concrete lattice with grass in its cells."""
    cell = float(rng.uniform(0.35, 0.6))
    hole = cell * float(rng.uniform(0.45, 0.7))
    size = max(4, round(PAVER_TILE_REPEATS * cell / tex_mpp))
    cell = size * tex_mpp / PAVER_TILE_REPEATS
    u, v = _grid((size, size), tex_mpp, 0.0)
    du, dv = np.mod(u, cell) - cell / 2.0, np.mod(v, cell) - cell / 2.0
    in_hole = (np.abs(du) < hole / 2.0) & (np.abs(dv) < hole / 2.0)
    concrete = np.array((150, 160, 165), np.float32) * float(rng.uniform(0.75, 1.1))
    grass = np.array((60, 120, 90), np.float32) * float(rng.uniform(0.6, 1.1))
    if rng.random() < 0.3:
        grass = np.array((70, 100, 120), np.float32)  # dry grass / soil
    tile = np.where(in_hole[..., None], grass, concrete)
    speckle = rng.uniform(0.7, 1.3, (size, size, 1)).astype(np.float32)
    tile = np.where(in_hole[..., None], tile * speckle, tile)
    return np.clip(tile, 0, 255).astype(np.uint8)


def _tiled(tile: np.ndarray, shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
    h, w = shape
    reps = (h // tile.shape[0] + 2, w // tile.shape[1] + 2, 1)
    big = np.tile(tile, reps)
    y, x = int(rng.integers(0, tile.shape[0])), int(rng.integers(0, tile.shape[1]))
    return np.ascontiguousarray(big[y : y + h, x : x + w])


def _base_surface(rng: np.random.Generator, kind: str, shape: tuple[int, int], tex_mpp: float) -> np.ndarray:
    h, w = shape
    texture: np.ndarray = np.empty((h, w, 3), np.uint8)
    if kind == "brick":
        texture = _tiled(_brick_tile(rng, tex_mpp), shape, rng)
        blotch, grain = float(rng.uniform(4, 12)), float(rng.uniform(3, 7))
    elif kind == "grass_pavers":
        texture = _tiled(_grass_paver_tile(rng, tex_mpp), shape, rng)
        blotch, grain = float(rng.uniform(4, 10)), float(rng.uniform(4, 8))
    elif kind in ("painted", "epoxy"):
        colour = np.array(FLOOR_COLOURS[int(rng.integers(len(FLOOR_COLOURS)))], np.float32)
        colour *= float(rng.uniform(0.75, 1.15))
        texture[:] = np.clip(colour, 0, 255).astype(np.uint8)
        blotch, grain = float(rng.uniform(3, 10)), float(rng.uniform(1, 4))
    elif kind == "concrete":
        base = int(rng.integers(120, 185))
        texture[:] = (base, base + int(rng.integers(-3, 4)), base - int(rng.integers(0, 8)))
        blotch, grain = float(rng.uniform(8, 20)), float(rng.uniform(3, 6))
    else:  # asphalt
        base = int(rng.integers(70, 140))
        texture[:] = (base + int(rng.integers(-6, 7)), base, base - int(rng.integers(0, 10)))
        blotch, grain = float(rng.uniform(6, 18)), float(rng.uniform(5, 10))
    noise = ground_texture(rng, shape, blotch=blotch, grain=grain)
    texture = cv2.add(texture, noise, dtype=cv2.CV_8U)
    if kind == "concrete":  # slab joints
        pitch = float(rng.uniform(3.0, 6.0)) / tex_mpp
        shade = rgb(np.asarray(texture[0, 0], np.float32) * 0.7)
        for x in np.arange(float(rng.uniform(0, pitch)), w, pitch):
            cv2.line(texture, (int(x), 0), (int(x), h - 1), shade, 1)
        for y in np.arange(float(rng.uniform(0, pitch)), h, pitch):
            cv2.line(texture, (0, int(y)), (w - 1, int(y)), shade, 1)
    return texture


def _soft_blob(
    texture: np.ndarray, centre: tuple[float, float], radius_px: float, gain: float, rng: np.random.Generator
) -> None:
    """Multiply a soft irregular blob of the texture by ``gain`` (oil, water), in place."""
    r = int(max(2.0, radius_px * 1.6))
    cx, cy = int(centre[0]), int(centre[1])
    h, w = texture.shape[:2]
    x0, x1, y0, y1 = max(cx - r, 0), min(cx + r + 1, w), max(cy - r, 0), min(cy + r + 1, h)
    if x1 <= x0 or y1 <= y0:
        return
    patch: np.ndarray = np.zeros((2 * r + 1, 2 * r + 1), np.float32)
    blob = ellipse_polygon(
        r, r, radius_px, radius_px * float(rng.uniform(0.4, 1.0)), float(rng.uniform(0, np.pi))
    )
    blob = blob * rng.uniform(0.8, 1.2, (len(blob), 1)) + r * (1 - rng.uniform(0.8, 1.2, (len(blob), 1)))
    fill_polygons(patch, [blob], 1.0)
    patch = cv2.GaussianBlur(patch, (0, 0), max(1.0, radius_px / 4.0))
    sub = patch[y0 - (cy - r) : y1 - (cy - r), x0 - (cx - r) : x1 - (cx - r), None]
    region = texture[y0:y1, x0:x1].astype(np.float32)
    texture[y0:y1, x0:x1] = np.clip(region * (1.0 - sub * (1.0 - gain)), 0, 255).astype(np.uint8)


def _manhole(
    texture: np.ndarray, centre: tuple[float, float], radius_px: float, rng: np.random.Generator
) -> None:
    cx, cy = centre
    dark = tuple(
        int(v) for v in np.asarray(texture[int(cy) % texture.shape[0], int(cx) % texture.shape[1]]) * 0.55
    )
    metal = (70, 72, 75) if rng.random() < 0.6 else (95, 98, 100)
    if rng.random() < 0.6:
        fill_polygons(texture, [ellipse_polygon(cx, cy, radius_px * 1.1, radius_px * 1.1, 0.0, 24)], dark)
        fill_polygons(texture, [ellipse_polygon(cx, cy, radius_px, radius_px, 0.0, 24)], metal)
    else:  # square drain cover
        half = radius_px
        fill_polygons(
            texture,
            [
                np.array(
                    [
                        [cx - half, cy - half],
                        [cx + half, cy - half],
                        [cx + half, cy + half],
                        [cx - half, cy + half],
                    ]
                )
            ],
            metal,
        )
    step = max(2, int(radius_px / 3))
    for k in range(-2, 3):
        y = int(cy + k * step)
        cv2.line(texture, (int(cx - radius_px * 0.6), y), (int(cx + radius_px * 0.6), y), dark, 1)


def paint_text(
    texture: np.ndarray,
    text: str,
    centre: tuple[float, float],
    height_px: float,
    angle: float,
    colour: tuple[int, int, int],
) -> None:
    """Paint ``text`` centred at ``centre`` (texture pixels), its baseline rotated by ``angle`` (radians)."""
    scale = max(height_px / 22.0, 0.2)
    thickness = max(1, round(scale * 2.5))
    (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
    pad = thickness + 2
    patch = np.zeros((th + base + 2 * pad, tw + 2 * pad), np.uint8)
    cv2.putText(patch, text, (pad, pad + th), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, thickness, cv2.LINE_AA)
    ph, pw = patch.shape
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    offset = np.asarray(centre) - rot @ np.array([pw / 2.0, ph / 2.0])
    half = int(np.hypot(ph, pw) / 2.0) + 2
    x0, y0 = int(centre[0]) - half, int(centre[1]) - half
    h, w = texture.shape[:2]
    if x0 < 0 or y0 < 0 or x0 + 2 * half >= w or y0 + 2 * half >= h:
        return
    matrix = np.hstack([rot, (offset - np.array([x0, y0]))[:, None]])
    alpha = (
        cv2.warpAffine(patch, matrix, (2 * half, 2 * half), flags=cv2.INTER_LINEAR).astype(np.float32) / 255.0
    )
    region = texture[y0 : y0 + 2 * half, x0 : x0 + 2 * half].astype(np.float32)
    blended = region * (1.0 - alpha[..., None]) + np.asarray(colour, np.float32) * alpha[..., None]
    texture[y0 : y0 + 2 * half, x0 : x0 + 2 * half] = blended.astype(np.uint8)


def arrow_polygon(tip: np.ndarray, direction: np.ndarray, length: float, width: float) -> np.ndarray:
    """(7, 2) outline of a straight painted arrow pointing along ``direction``, in the caller's plane."""
    d = direction / max(float(np.linalg.norm(direction)), 1e-9)
    n = np.array([-d[1], d[0]])
    head = 0.35 * length
    shaft = width * 0.35
    base = tip - d * length
    neck = tip - d * head
    return np.array([
        tip, neck + n * width, neck + n * shaft, base + n * shaft,
        base - n * shaft, neck - n * shaft, neck - n * width,
    ])  # fmt: skip


def make_ground(
    rng: np.random.Generator,
    kind: str,
    *,
    x_range: tuple[float, float],
    y_range: tuple[float, float],
    tex_mpp: float,
    stains: int,
) -> GroundTexture:
    """The lot's ground over ``x_range`` x ``y_range`` metres, with stains, wet patches and manholes."""
    x_min, x_max = x_range
    y_min, y_max = y_range
    tex_w = int((x_max - x_min) / tex_mpp) + 1
    tex_h = int((y_max - y_min) / tex_mpp) + 1
    image = _base_surface(rng, kind, (tex_h, tex_w), tex_mpp)
    # large soft lighting / dirt variation
    shade = 1.0 + float(rng.uniform(0.0, 0.15)) * smooth_noise(rng, (tex_h, tex_w), 4.0 / tex_mpp)
    image = cv2.multiply(image, cv2.merge([shade, shade, shade]), dtype=cv2.CV_8U)
    for _ in range(stains):
        centre = (float(rng.uniform(0, tex_w)), float(rng.uniform(0, tex_h)))
        if rng.random() < 0.6:  # oil stain
            _soft_blob(
                image, centre, float(rng.uniform(0.15, 0.6)) / tex_mpp, float(rng.uniform(0.45, 0.8)), rng
            )
        else:  # wet patch: darker, larger
            _soft_blob(
                image, centre, float(rng.uniform(0.5, 1.5)) / tex_mpp, float(rng.uniform(0.6, 0.85)), rng
            )
    for _ in range(int(rng.integers(0, 3))):
        centre = (float(rng.uniform(0, tex_w)), float(rng.uniform(0, tex_h)))
        _manhole(image, centre, float(rng.uniform(0.25, 0.4)) / tex_mpp, rng)
    # texture pixel (col, row) -> world: x = x_min + col * tex_mpp, y = y_max - row * tex_mpp
    to_world = np.array([[tex_mpp, 0.0, x_min], [0.0, -tex_mpp, y_max], [0.0, 0.0, 1.0]])
    return GroundTexture(image=image, to_world=to_world, kind=kind)
