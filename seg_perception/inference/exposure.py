"""Frames brought into the exposure and colour range the models were trained on (NumPy / OpenCV).

A real camera exposes darker and white-balances differently from the generator the models learnt
from: on the real highway stills darkened to a night the generator never draws (the road's luma
6-10), the lane boundaries lost a third of their lines; with a blue cast stronger than any the
generator draws, a sixth (``docs/lanes_history.md``, "Another camera's exposure and colour"). So,
before the model and the lane stage, a frame's bottom part (``road_share`` of its rows: a front
camera's road) is measured:

1. each channel's share of the three channels' mean is brought into ``1 ± max_channel_cast`` by a
   gain on that channel;
2. when the bottom part's luma is then under ``min_road_luma``, the frame is brightened to it, by
   at most ``max_gain``.

A frame within both ranges is returned as it is, the same array. Where the limits lie decides what
else changes: the road scenario ships luma 40 and ± 0.1 (the generator's 5th-95th percentiles, which
17 % of its frames exceed in colour); for the highway those cost image space a little and limits at
the generator's extremes (30, ± 0.2) too little to pass their rule, so it ships none (rules 43, 44).
What is published as the overlay is the camera's own frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from seg_perception.postprocess.settings import settings_values

# ITU-R BT.601 luma of B, G, R (OpenCV's own grey conversion)
_LUMA_BGR = np.array([0.114, 0.587, 0.299])
# gains this close to 1 change no 8-bit value: the frame is left as it is
_UNCHANGED = 1.0 / 512.0


@dataclass(frozen=True)
class ExposureSettings:
    """The ``exposure`` block of a scenario (or of one of its cameras)."""

    enabled: bool = False
    min_road_luma: float = 40.0  # grey level (0-255) of the bottom part's mean that a frame is brought up to
    max_gain: float = 4.0  # at most this brightening (noise grows with it)
    max_channel_cast: float = 0.1  # each channel's share of the mean within 1 ± this (0: colour left alone)
    road_share: float = 0.5  # the bottom share of the rows that is measured

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> ExposureSettings:
        """From an ``exposure`` block: values converted to the fields' types and checked.

        Raises:
            ValueError: an unknown key, a value of the wrong kind or out of range.
        """
        settings = cls(**settings_values(cls(), values, "exposure settings"))
        if not 0.0 <= settings.min_road_luma < 255.0:
            raise ValueError(f"exposure.min_road_luma is a grey level, 0..255: got {settings.min_road_luma}")
        if settings.max_gain < 1.0:
            raise ValueError(f"exposure.max_gain brightens: 1 or more, got {settings.max_gain}")
        if not 0.0 <= settings.max_channel_cast < 1.0:
            raise ValueError(f"exposure.max_channel_cast is a share, 0..1: got {settings.max_channel_cast}")
        if not 0.0 < settings.road_share <= 1.0:
            raise ValueError(
                f"exposure.road_share is a share of the rows, above 0 up to 1: got {settings.road_share}"
            )
        return settings


def exposure_gains(image_bgr: np.ndarray, settings: ExposureSettings) -> np.ndarray | None:
    """The B, G, R gains that bring ``image_bgr`` into range, or None when it is in range (or off).

    A black bottom part (a covered lens) has no colour or exposure to correct: None.
    """
    if not settings.enabled:
        return None
    height = image_bgr.shape[0]
    top = min(round(height * (1.0 - settings.road_share)), height - 1)
    means = np.array(cv2.mean(image_bgr[top:])[:3])
    average = float(means.mean())
    if average <= 0.0:
        return None
    gains = np.ones(3)
    if settings.max_channel_cast > 0.0:
        shares = np.maximum(means / average, 1e-6)
        cast = settings.max_channel_cast
        gains = np.clip(shares, 1.0 - cast, 1.0 + cast) / shares
    luma = float((means * gains) @ _LUMA_BGR)
    if 0.0 < luma < settings.min_road_luma:
        gains = gains * min(settings.min_road_luma / luma, settings.max_gain)
    if np.all(np.abs(gains - 1.0) < _UNCHANGED):
        return None
    return gains


def normalise_exposure(image_bgr: np.ndarray, settings: ExposureSettings) -> np.ndarray:
    """``image_bgr`` brought into the trained range (a new array), or the same array when it is in range."""
    gains = exposure_gains(image_bgr, settings)
    if gains is None:
        return image_bgr
    # one pass, saturating and rounding to 8 bits
    return np.asarray(cv2.transform(image_bgr, np.diag(gains)), np.uint8)


def exposure_settings(
    scenario_params: Mapping[str, Any], camera_params: Mapping[str, Any]
) -> ExposureSettings:
    """The scenario's ``exposure`` block with its camera's over it.

    Raises:
        ValueError: as :meth:`ExposureSettings.from_mapping`.
    """
    block = {**(scenario_params.get("exposure") or {}), **(camera_params.get("exposure") or {})}
    return ExposureSettings.from_mapping(block)
