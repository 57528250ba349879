"""Public entry points: :func:`generate_scene` and :func:`generate_drive`."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import numpy as np

from seg_perception.config import ScenarioConfig, load_scenario
from seg_perception.data.synthetic.avm import (
    EGO_CENTRE_AHEAD_M,
    ParkingWorld,
    render_parking,
    sample_parking_world,
)
from seg_perception.data.synthetic.conditions import DARK_P
from seg_perception.data.synthetic.front import (
    BARRIER_P,
    BOTTS_DOTS_P,
    FrontWorld,
    hood_edge_px,
    render_front,
    sample_front_world,
)
from seg_perception.data.synthetic.sample import LaneTruth, SceneSample, mask_to_polygons
from seg_perception.errors import ConfigError
from seg_perception.geometry import MarkingPoint, ParkingSlot

SIDE_VIEW_P = 0.25  # share of single AVM scenes seen as a left/right side view
# ego speeds of the temporally coherent drives by synthetic scene (config.SYNTHETIC_SCENES), m/s
DRIVE_SPEED = {"highway": 25.0, "urban": 10.0, "parking": 2.0}
DRIVE_FPS = 30.0  # a drive's frames a second by default: a camera's 30 Hz


@functools.lru_cache(maxsize=16)
def _load(scenario: str) -> ScenarioConfig:
    return load_scenario(scenario)


def _resolve(scenario: str | ScenarioConfig) -> ScenarioConfig:
    return scenario if isinstance(scenario, ScenarioConfig) else _load(str(scenario))


def _size(config: ScenarioConfig, size: tuple[int, int] | None) -> tuple[int, int]:
    height, width = size if size is not None else config.image_size()
    if int(height) < 16 or int(width) < 16:
        raise ConfigError(f"synthetic scenes need at least 16x16 pixels, got {height}x{width}")
    return int(height), int(width)


MetresPerPixel = float | tuple[float, float] | None


def _avm_geometry(
    config: ScenarioConfig, size: tuple[int, int], metres_per_pixel: MetresPerPixel, rng: np.random.Generator
) -> tuple[float, tuple[float, float]]:
    """Metres per pixel and origin for ``size``.

    By default both are scaled from the config so the view covers the same ground; a given
    ``metres_per_pixel`` (a value, or a ``(low, high)`` range drawn log-uniformly per seed)
    changes the ground the view covers instead, with the ego car centred in the view.
    """
    block = config.camera(config.primary_camera)
    ref_h, ref_w = config.image_size()
    if metres_per_pixel is None:
        ox, oy = block.get("origin_px", [ref_w / 2.0, ref_h / 2.0])
        origin = (float(ox) * size[1] / ref_w, float(oy) * size[0] / ref_h)
        return float(block.get("metres_per_pixel", 0.02)) * ref_w / size[1], origin
    if isinstance(metres_per_pixel, (tuple, list)):
        low, high = (float(v) for v in metres_per_pixel)
        if not 0.0 < low <= high:
            raise ConfigError(f"metres_per_pixel range must be 0 < low <= high, got {metres_per_pixel}")
        mpp = float(np.exp(rng.uniform(np.log(low), np.log(high))))
    else:
        mpp = float(metres_per_pixel)
        if mpp <= 0.0:
            raise ConfigError(f"metres_per_pixel must be positive, got {metres_per_pixel}")
    return mpp, centred_origin(size, mpp)


def centred_origin(size: tuple[int, int], metres_per_pixel: float) -> tuple[float, float]:
    """Pixel of the rear-axle origin that puts the ego car in the middle of the view, as AVMs do."""
    height, width = size
    return width / 2.0, height / 2.0 + EGO_CENTRE_AHEAD_M / metres_per_pixel


def generate_drive(
    scenario: str | ScenarioConfig,
    seed: int,
    num_frames: int,
    *,
    size: tuple[int, int] | None = None,
    fps: float = DRIVE_FPS,
    metres_per_pixel: MetresPerPixel = None,
    side_view_p: float = 0.0,
    botts_dots_p: float = BOTTS_DOTS_P,
    barrier_p: float = BARRIER_P,
    dark_p: float = DARK_P,
    highway_p: float = 0.0,
    lane_change_p: float = 0.0,
) -> Iterator[SceneSample]:
    """Temporally coherent frames of one drive: the ego moves, markings and slots scroll.

    Args:
        scenario: Scenario name, YAML path or loaded config (class ids come from it).
        seed: Seed of the drive; the same (seed, size, num_frames, fps) gives the same frames.
        num_frames: Number of frames to yield.
        size: (height, width); default: the scenario camera's ``image_size``.
        fps: Frame rate, i.e. the time step between frames.
        metres_per_pixel: AVM scenes only: the ground resolution, a value or a ``(low, high)``
            range drawn per seed; default: the scenario camera's, scaled to ``size``.
        side_view_p: AVM scenes only: probability that the drive is seen as a side view (a
            strip beside the car, the rest black; ``meta["avm_style"]["view"]``).
        botts_dots_p: Highway scenes only: probability that the lane lines are Botts' dots.
        barrier_p: Highway scenes only: probability of a barrier on each side of the road.
        dark_p: Front scenes only: probability that the drive is at dusk or night.
        highway_p: Urban scenes only: probability that the drive is on a highway instead (the
            scenario's classes; no junctions), so that an urban model also sees highway roadsides.
        lane_change_p: Front scenes only: probability that the car moves into the next lane during
            the drive (``meta["lane_change"]``; at 0 every seed's drive is the one it was).
    """
    config = _resolve(scenario)
    hw = _size(config, size)
    scene = config.synthetic_scene  # the YAML's synthetic.scene (see seg_perception.config)
    duration = max(num_frames - 1, 0) / fps
    rng = np.random.default_rng([int(seed), hw[0], hw[1]])
    speed = DRIVE_SPEED[scene]
    roles = config.roles
    meta_base: dict[str, Any] = {"scenario": config.name, "seed": int(seed), "camera": config.primary_camera}
    parking_world: ParkingWorld | None = None
    front_world: FrontWorld | None = None
    if scene == "parking":
        mpp, origin = _avm_geometry(config, hw, metres_per_pixel, rng)
        parking_world = sample_parking_world(
            rng,
            hw,
            metres_per_pixel=mpp,
            origin_px=origin,
            duration_s=duration,
            speed=speed,
            side_view_p=side_view_p,
        )
        meta_base.update(
            metres_per_pixel=mpp, origin_px=[origin[0], origin[1]], avm_style=parking_world.style
        )
    else:
        # the extra draw only when asked for: the scenes of every existing seed stay as they are
        urban = scene == "urban" and not (highway_p > 0.0 and rng.random() < highway_p)
        front_world = sample_front_world(
            rng,
            hw,
            urban=urban,
            duration_s=duration,
            speed=speed,
            botts_dots_p=botts_dots_p,
            barrier_p=barrier_p,
            dark_p=dark_p,
            lane_change_p=lane_change_p,
        )
        meta_base["camera_model"] = front_world.camera.to_json()
        if front_world.lane_change is not None:
            meta_base["lane_change"] = asdict(front_world.lane_change)
        hood = hood_edge_px(front_world)
        if hood is not None:
            meta_base["hood_edge_px"] = hood.round(2).tolist()
        meta_base["conditions"] = front_world.conditions.describe()
    for frame in range(num_frames):
        frame_rng = np.random.default_rng([int(seed), hw[0], hw[1], frame + 1])
        time_s = frame / fps
        slots: list[ParkingSlot] = []
        marks: list[MarkingPoint] = []
        lanes: list[LaneTruth] = []
        if parking_world is not None:
            image, mask, slots, marks = render_parking(parking_world, roles, time_s=time_s, rng=frame_rng)
        else:
            assert front_world is not None  # one of the two worlds was sampled above
            rendered = render_front(front_world, roles, time_s=time_s, rng=frame_rng)
            image, mask, lanes = rendered.image, rendered.mask, rendered.lanes
        yield SceneSample(
            image=image,
            mask=mask,
            polygons=mask_to_polygons(mask, config.classes),
            slots=slots,
            meta={**meta_base, "frame": frame, "time_s": time_s},
            marking_points=marks,
            lanes=lanes,
        )


def generate_scene(
    scenario: str | ScenarioConfig,
    seed: int,
    *,
    size: tuple[int, int] | None = None,
    metres_per_pixel: MetresPerPixel = None,
    side_view_p: float = SIDE_VIEW_P,
    botts_dots_p: float = BOTTS_DOTS_P,
    barrier_p: float = BARRIER_P,
    dark_p: float = DARK_P,
    highway_p: float = 0.0,
) -> SceneSample:
    """One random scene; deterministic for a given (scenario, seed, size, metres_per_pixel, side_view_p,
    botts_dots_p, barrier_p, dark_p, highway_p).

    AVM scenes are side views (a strip beside the car) with probability ``side_view_p``; highway
    lane lines are Botts' dots with probability ``botts_dots_p``, and each side of a highway has a
    barrier with probability ``barrier_p``; a front drive is at dusk or night with probability
    ``dark_p``; an urban scene is a highway with probability ``highway_p``.
    """
    return next(
        generate_drive(
            scenario,
            seed,
            1,
            size=size,
            metres_per_pixel=metres_per_pixel,
            side_view_p=side_view_p,
            botts_dots_p=botts_dots_p,
            barrier_p=barrier_p,
            dark_p=dark_p,
            highway_p=highway_p,
        )
    )
