"""Light, weather and sensor effects of the front-camera generator.

Each effect works on the rendered pinhole image (before the lens) and never touches the
labels: headlights, street lights and their pools on the road, sun glare, wet-road
reflections, rain streaks and snow are all background. What they do to paint (dim it,
light it up, hide it under snow) is decided by the caller, which owns the labels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from seg_perception.data.synthetic.camera import PinholeCamera
from seg_perception.data.synthetic.render import exposure_lut, sensor_noise

TIME_P = (0.62, 0.13, 0.25)  # day, dusk, night
DARK_P = TIME_P[1] + TIME_P[2]  # the generator's share of drives at dusk or night
DUSK_SHARE = TIME_P[1] / DARK_P  # of the dark drives, those at dusk


@dataclass
class Conditions:
    """Time of day, weather and sensor settings of one drive."""

    time: str = "day"  # day | dusk | night
    weather: str = "clear"  # clear | overcast | rain | snow
    wet: float = 0.0  # 0 dry .. 1 mirror-like
    low_sun: tuple[float, float] | None = None  # (u fraction, rows above the horizon as a height fraction)
    glare: float = 0.0
    ambient: float = 1.0  # light level at night / dusk (1 in daylight)
    headlights: bool = False
    high_beam: bool = False
    rain_streaks: float = 0.0
    fog: float = 0.0
    exposure_gain: float = 1.0
    gamma: float = 1.0
    motion_blur_px: float = 0.0
    motion_blur_angle: float = 0.0
    jpeg_quality: int = 0  # 0: no compression artefacts
    noise_sigma: float = 2.0
    blur_sigma: float = 0.0
    cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    vignette: float = 0.0  # darkening of the corners (0..0.5)
    droplets: int = 0  # raindrops on the windscreen
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def dark(self) -> bool:
        return self.time in ("night", "dusk")

    def describe(self) -> dict[str, object]:
        """A JSON-friendly summary for ``SceneSample.meta``."""
        return {
            "time": self.time,
            "weather": self.weather,
            "wet": round(self.wet, 3),
            "low_sun": self.low_sun is not None,
            "headlights": self.headlights,
            "motion_blur_px": round(self.motion_blur_px, 2),
            "jpeg_quality": self.jpeg_quality,
        }


def sample_conditions(rng: np.random.Generator, *, urban: bool, dark_p: float = DARK_P) -> Conditions:
    """Draw conditions; the mix leans on daylight but every hard case comes up often.

    ``dark_p``: probability of dusk or night (split between them as at the default), so a training
    pool can ask for more of them; at the default every seed draws what it always drew (another
    share draws other drives: a dark drive takes more random draws than a day one).
    """
    c = Conditions()
    # the default's own probabilities, not recomputed ones a rounding apart: every seed draws as before
    times = TIME_P if dark_p == DARK_P else (1.0 - dark_p, dark_p * DUSK_SHARE, dark_p * (1.0 - DUSK_SHARE))
    c.time = str(rng.choice(["day", "dusk", "night"], p=list(times)))
    c.weather = str(rng.choice(["clear", "overcast", "rain", "snow"], p=[0.5, 0.2, 0.18, 0.12]))
    if c.weather == "rain":
        c.wet = float(rng.uniform(0.4, 1.0))
        c.rain_streaks = float(rng.uniform(0.0, 1.0)) if rng.random() < 0.6 else 0.0
        c.fog = float(rng.uniform(0.0, 0.35))
    elif rng.random() < 0.12:
        c.wet = float(rng.uniform(0.2, 0.6))  # wet after rain
    if c.weather == "snow":
        c.fog = float(rng.uniform(0.0, 0.3))
    if c.time == "day" and c.weather == "clear" and rng.random() < 0.3:
        c.low_sun = (float(rng.uniform(0.1, 0.9)), float(rng.uniform(-0.02, 0.12)))
        c.glare = float(rng.uniform(0.4, 1.0))
    if c.time == "night":
        c.ambient = float(rng.uniform(0.05, 0.2)) * (1.6 if urban else 1.0)
        c.headlights = True
        c.high_beam = (not urban) and rng.random() < 0.4
    elif c.time == "dusk":
        c.ambient = float(rng.uniform(0.3, 0.6))
        c.headlights = rng.random() < 0.7
    # sensor: exposure errors, HDR clipping, motion blur, compression
    c.exposure_gain = float(rng.uniform(0.7, 1.35)) if c.time == "day" else float(rng.uniform(0.9, 1.5))
    c.gamma = float(rng.uniform(0.75, 1.3))
    c.cast = tuple(float(v) for v in rng.uniform(0.9, 1.1, 3))  # type: ignore[assignment]
    if rng.random() < 0.25:
        c.motion_blur_px = float(rng.uniform(2.0, 9.0))
        c.motion_blur_angle = float(rng.normal(90.0, 35.0))
    if rng.random() < 0.35:
        c.jpeg_quality = int(rng.integers(20, 90))
    c.noise_sigma = float(rng.uniform(1.0, 5.0)) * (2.0 if c.time == "night" else 1.0)
    c.blur_sigma = float(rng.uniform(0.4, 1.0)) if rng.random() < 0.2 else 0.0
    c.vignette = float(rng.uniform(0.1, 0.5)) if rng.random() < 0.4 else 0.0
    if c.weather == "rain" and rng.random() < 0.6:
        c.droplets = int(rng.integers(5, 40))
    return c


def ground_grid(camera: PinholeCamera, shape: tuple[int, int], step: int) -> tuple[np.ndarray, np.ndarray]:
    """Vehicle-frame ground coordinates ``(x, y)`` metres of a grid of every ``step``-th pixel.

    Pixels at or above the horizon get ``y = inf``.
    """
    height, width = shape
    us = np.arange(0, width, step, dtype=np.float64) + step / 2.0
    vs = np.arange(0, height, step, dtype=np.float64) + step / 2.0
    k = (vs - camera.cy) / camera.focal_px
    cos_p, sin_p = np.cos(camera.pitch_rad), np.sin(camera.pitch_rad)
    denom = k * cos_p + sin_p
    with np.errstate(divide="ignore", invalid="ignore"):
        y = np.where(denom > 1e-4, camera.mount_height_m * (cos_p - k * sin_p) / denom, np.inf)
    depth = y * cos_p + camera.mount_height_m * sin_p
    x = ((us[None, :] - camera.cx) / camera.focal_px) * depth[:, None]
    return x, np.broadcast_to(y[:, None], x.shape)


def headlight_light(x: np.ndarray, y: np.ndarray, *, high_beam: bool) -> np.ndarray:
    """Ego headlight illumination on the ground (1 = full daylight-like level)."""
    reach = 70.0 if high_beam else 35.0
    with np.errstate(invalid="ignore", over="ignore"):
        spread = 1.6 + 0.32 * y
        beam = np.exp(-(((x - 0.1 * y) / spread) ** 2)) + 0.6 * np.exp(-(((x + 0.05 * y) / spread) ** 2))
        falloff = 1.0 / (1.0 + (y / reach) ** 2) * np.clip((y - 2.0) / 4.0, 0.0, 1.0)
        light = 0.5 * beam * falloff
    return np.nan_to_num(light, nan=0.0, posinf=0.0)


def pool_light(x: np.ndarray, y: np.ndarray, pools: list[tuple[float, float, float, float]]) -> np.ndarray:
    """Light pools (x, y, radius, strength) on the ground, e.g. under street lamps."""
    out = np.zeros_like(x)
    for px, py, radius, strength in pools:
        with np.errstate(invalid="ignore", over="ignore"):
            out += strength * np.exp(-((x - px) ** 2 + ((y - py) * 0.8) ** 2) / radius**2)
    return np.nan_to_num(out, nan=0.0, posinf=0.0)


@dataclass
class LightSource:
    """A bright light in the image: a lamp, a headlight, a tail light, the sun."""

    u: float
    v: float
    radius: float
    color: tuple[int, int, int]
    strength: float
    ground_v: float | None = None  # image row of the road point below it (for wet reflections)


def draw_lights(
    image: np.ndarray,
    lights: list[LightSource],
    *,
    wet: float,
    bloom: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Add light sources with a bloom halo and, on a wet road, their streaky reflections.

    Returns the boolean mask of the lights' cores (saturated pixels), for the tests.
    """
    height, width = image.shape[:2]
    cores = np.zeros((height, width), np.uint8)
    if not lights:
        return cores.astype(bool)
    small_scale = 4
    sh, sw = max(1, height // small_scale), max(1, width // small_scale)
    glow = np.zeros((sh, sw, 3), np.float32)
    core = np.zeros((height, width, 3), np.uint8)
    for light in lights:
        if not (-50 < light.u < width + 50 and -50 < light.v < height + 50):
            continue
        r = max(1.0, light.radius)
        centre = (round(light.u), round(light.v))
        colour = tuple(float(c) * light.strength for c in light.color)
        cv2.circle(core, centre, max(1, round(r)), tuple(min(255.0, c) for c in colour), -1, cv2.LINE_AA)
        cv2.circle(cores, centre, max(1, round(r * 0.7)), 1, -1)
        halo = max(1, round(r * 3.0 / small_scale))
        cv2.circle(glow, (round(light.u / small_scale), round(light.v / small_scale)), halo, colour, -1)
        if wet > 0.0 and light.ground_v is not None and light.ground_v > light.v:
            # the reflection of a light in a wet road is a vertical streak below its foot point
            length = (light.ground_v - light.v) * (1.0 + 2.0 * wet)
            top = light.ground_v + (light.ground_v - light.v) * 0.1
            half_w = max(1.0, r * (0.6 + 0.6 * wet))
            streak = np.array(
                [[light.u - half_w, top], [light.u + half_w, top], [light.u + half_w * 0.5, top + length],
                 [light.u - half_w * 0.5, top + length]]
            ) / small_scale  # fmt: skip
            cv2.fillPoly(glow, [np.round(streak).astype(np.int32)], tuple(c * 0.45 * wet for c in colour))
    sigma = max(1.0, 2.0 * bloom)
    glow = cv2.GaussianBlur(glow, (0, 0), sigma) * (0.6 + 0.6 * bloom)
    glow_full = cv2.resize(
        np.clip(glow, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR
    )
    image[:] = cv2.add(cv2.add(image, glow_full), cv2.GaussianBlur(core, (0, 0), 0.8))
    return cores.astype(bool)


def apply_lighting(image: np.ndarray, light: np.ndarray, ambient: float) -> None:
    """Scale the image in place by ``ambient + light`` (per pixel, clipped at white)."""
    # gains up to ~4 as uint8 in 1/64 steps: one saturating uint8 multiply, no float image
    gain = np.clip((ambient + light) * 64.0, 0, 255).astype(np.uint8)
    image[:] = cv2.multiply(image, cv2.merge([gain, gain, gain]), scale=1.0 / 64.0)


def fade_rows(image: np.ndarray, amount: np.ndarray, colour: tuple[int, int, int]) -> None:
    """Blend each row towards ``colour`` by its ``amount`` (0..1, one per row), in place."""
    rows = np.flatnonzero(amount > 0.004)
    if rows.size == 0:
        return
    top, bottom = int(rows[0]), int(rows[-1]) + 1
    part = image[top:bottom]
    weight = np.broadcast_to(amount[top:bottom, None].astype(np.float32), part.shape[:2])
    flat = np.empty_like(part)
    flat[:] = colour
    image[top:bottom] = cv2.blendLinear(
        flat, part, np.ascontiguousarray(weight), np.ascontiguousarray(1.0 - weight)
    )


def sun_glare(
    image: np.ndarray, camera: PinholeCamera, conditions: Conditions, rng: np.random.Generator
) -> None:
    """Low sun: a blown-out disc with bloom, a veil over the picture, flare ghosts and road sheen."""
    if conditions.low_sun is None:
        return
    height, width = image.shape[:2]
    u = conditions.low_sun[0] * width
    v = camera.horizon_v - conditions.low_sun[1] * height
    strength = conditions.glare
    yy, xx = np.mgrid[0:height:4, 0:width:4].astype(np.float32)
    dist2 = ((xx - u) ** 2 + (yy - v) ** 2) / (0.25 * width) ** 2
    bloom = (np.exp(-dist2 * 4.0) * 230.0 + np.exp(-dist2 * 0.5) * 60.0 + 25.0) * strength
    # specular sheen: the sun's reflection on the road, a wide band below it narrowing up to the horizon
    below = np.clip((yy - camera.horizon_v) / max(height - camera.horizon_v, 1.0), 0.0, 1.0)
    band_w = (0.04 + 0.25 * below) * width
    sheen = (
        np.exp(-(((xx - u) / np.maximum(band_w, 1.0)) ** 2)) * (yy > camera.horizon_v) * (1.0 - below) ** 0.7
    )
    bloom += sheen * 120.0 * strength * float(rng.uniform(0.4, 1.0))
    warm = np.array([0.85, 0.95, 1.0], np.float32)
    glow = np.ascontiguousarray(bloom[..., None] * warm)
    # lens-flare ghosts along the line through the image centre (drawn at the glow's quarter scale)
    centre = np.array([width / 2.0, height / 2.0])
    sun = np.array([u, v])
    for k in range(int(rng.integers(2, 6))):
        t = float(rng.uniform(0.3, 1.8))
        pos = (sun + (centre - sun) * t) / 4.0
        radius = max(1, int(width * float(rng.uniform(0.01, 0.06)) / 4.0))
        weight = 0.35 * strength * (0.6 if k % 2 else 1.0)
        tint = tuple(float(rng.uniform(lo, hi)) * weight for lo, hi in ((40, 90), (50, 100), (30, 80)))
        ghost = np.zeros_like(glow)
        cv2.circle(ghost, (int(pos[0]), int(pos[1])), radius, tint, -1, cv2.LINE_AA)
        glow += ghost
    glow_full = cv2.resize(
        np.clip(glow, 0, 255).astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR
    )
    image[:] = cv2.addWeighted(image, 1.0 - 0.25 * strength, glow_full, 1.0, 0.0)
    cv2.circle(image, (round(u), round(v)), max(2, width // 40), (255, 255, 255), -1, cv2.LINE_AA)


def rain_overlay(image: np.ndarray, conditions: Conditions, rng: np.random.Generator) -> None:
    """Rain streaks and a soft veil (in place)."""
    if conditions.rain_streaks <= 0.0:
        return
    height, width = image.shape[:2]
    layer: np.ndarray = np.zeros((height, width), np.uint8)
    count = int(conditions.rain_streaks * width * height / 900)
    angle = float(rng.normal(0.0, 0.25))
    length = max(3, height // 25)
    xs = rng.integers(0, width, count)
    ys = rng.integers(0, height, count)
    for x, y in zip(xs, ys, strict=True):
        dx, dy = int(length * np.sin(angle)), int(length * np.cos(angle))
        cv2.line(layer, (int(x), int(y)), (int(x) + dx, int(y) + dy), 255, 1)
    layer = cv2.GaussianBlur(layer, (0, 0), 0.7)
    alpha = 0.25 * conditions.rain_streaks
    out = image.astype(np.float32) + layer[..., None].astype(np.float32) * alpha
    image[:] = np.clip(out, 0, 255).astype(np.uint8)


def fog_overlay(
    image: np.ndarray, camera: PinholeCamera, conditions: Conditions, colour: tuple[int, int, int]
) -> None:
    """Distance fog: rows near the horizon fade to ``colour`` (in place)."""
    if conditions.fog <= 0.0:
        return
    height = image.shape[0]
    rows = np.arange(height, dtype=np.float32)
    closeness = np.clip((rows - camera.horizon_v) / max(height - camera.horizon_v, 1.0), 0.0, 1.0)
    amount = conditions.fog * np.where(rows < camera.horizon_v, 1.0, (1.0 - closeness) ** 2.5)
    fade_rows(image, amount, colour)


def windscreen_droplets(image: np.ndarray, count: int, rng: np.random.Generator) -> None:
    """Raindrops on the windscreen: small discs showing a blurred, brightened scene (in place)."""
    if count <= 0:
        return
    height, width = image.shape[:2]
    small = cv2.resize(image, (max(1, width // 4), max(1, height // 4)), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), max(0.5, width / 640.0))
    # A scalar operand is cv2.Scalar(12): the stubs type only arrays.
    blurred = cv2.add(cv2.resize(small, (width, height), interpolation=cv2.INTER_LINEAR), 12)  # type: ignore[call-overload]
    drops = np.zeros((height, width), np.uint8)
    for _ in range(count):
        centre = (int(rng.integers(0, width)), int(rng.integers(0, height)))
        radius = max(1, int(width * float(rng.uniform(0.004, 0.02))))
        cv2.ellipse(drops, centre, (radius, int(radius * rng.uniform(0.7, 1.3))), 0.0, 0, 360, 255, -1)
    np.copyto(image, blurred, where=(drops > 0)[..., None])


def vignette(image: np.ndarray, strength: float) -> None:
    """Darken the corners like a real lens (in place)."""
    if strength <= 0.0:
        return
    height, width = image.shape[:2]
    ys, xs = np.ogrid[-1.0:1.0:9j, -1.0:1.0:17j]  # type: ignore[misc]  # a complex step is a point count
    factor = (1.0 - strength * 0.5 * (xs**2 + ys**2)).astype(np.float32)
    factor = cv2.resize(factor, (width, height), interpolation=cv2.INTER_LINEAR)
    image[:] = cv2.multiply(image, cv2.merge([factor, factor, factor]), dtype=cv2.CV_8U)


def sensor_finish(image: np.ndarray, conditions: Conditions, rng: np.random.Generator) -> np.ndarray:
    """Exposure with HDR clipping, colour cast, blur, motion blur, sensor noise and JPEG artefacts."""
    windscreen_droplets(image, conditions.droplets, rng)
    vignette(image, conditions.vignette)
    image = cv2.LUT(image, exposure_lut(conditions.exposure_gain, conditions.gamma, conditions.cast))
    if conditions.blur_sigma > 0.0:
        image = cv2.GaussianBlur(image, (0, 0), conditions.blur_sigma)
    if conditions.motion_blur_px >= 1.5:
        length = round(conditions.motion_blur_px)
        kernel = np.zeros((length, length), np.float32)
        kernel[length // 2, :] = 1.0
        rotation = cv2.getRotationMatrix2D(
            ((length - 1) / 2.0, (length - 1) / 2.0), conditions.motion_blur_angle, 1.0
        )
        rotated: np.ndarray = cv2.warpAffine(kernel, rotation, (length, length))
        rotated /= max(float(rotated.sum()), 1e-6)
        image = cv2.filter2D(image, -1, rotated)
    image = sensor_noise(image, conditions.noise_sigma, rng)
    if conditions.jpeg_quality:
        ok, buffer = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, conditions.jpeg_quality])
        decoded = cv2.imdecode(buffer, cv2.IMREAD_COLOR) if ok else None
        if decoded is not None:
            image = decoded
    return image
