"""Ground-resolution matching of bird's-eye (AVM) frames to a parking model.

A parking model is trained at one ground resolution (``ModelMetadata.metres_per_pixel``,
e.g. 4 cm per pixel over its 320x320 input). A camera's AVM image has its own
(``metres_per_pixel`` of the camera), so one model serves AVMs of any resolution: each frame
is rescaled by ``camera_mpp / model_mpp`` and centred in a canvas of the model's input size
(padded with black where the view is smaller, cropped to the centre where it is larger;
the ego car sits at the centre of an AVM view). When the rescaled frame is exactly the
model's input size the engine's own resize does the job.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from seg_perception.errors import ConfigError

#: Plausible ground resolutions of an AVM image, metres per pixel (2 mm .. 20 cm).
MPP_RANGE = (0.002, 0.2)


def check_metres_per_pixel(value: object, *, what: str) -> float:
    """``value`` as a float in :data:`MPP_RANGE`.

    Raises:
        ConfigError: missing, not a number, or implausible; the message names ``what``.
    """
    low, high = MPP_RANGE
    if value is None:
        raise ConfigError(
            f"{what} is not set; a bird's-eye (AVM) camera needs its ground resolution in metres "
            f"per pixel ({low}..{high}), e.g. 0.02"
        )
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{what} must be a number of metres per pixel, got {value!r}") from err
    if not low <= number <= high:
        raise ConfigError(
            f"{what} = {number} is implausible: an AVM image has {low}..{high} metres per pixel "
            "(check the units: metres, not centimetres or pixels per metre)"
        )
    return number


def resize_frame(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` resized to ``size`` (height, width): area-averaged when shrinking, bilinear otherwise.

    OpenCV's area resize is fast only for whole-number factors (0.2 ms for 640 -> 320 pixels) and ~20
    times slower for others (4.7 ms for 640 -> 321, a camera at 2 cm per pixel and a model at 3.99
    cm). A shrink close to 1/k is therefore done as an exact 1/k area resize plus a bilinear
    adjustment of under a pixel in ``k``; both cover the whole frame, so the geometry is unchanged.
    """
    height, width = size
    frame_h, frame_w = image.shape[:2]
    if height >= frame_h:
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    step = round(frame_h / height)
    if step >= 2 and frame_h % step == 0 and frame_w % step == 0:
        image = cv2.resize(image, (frame_w // step, frame_h // step), interpolation=cv2.INTER_AREA)
        if image.shape[:2] == (height, width):
            return image
        return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)


@dataclass(frozen=True)
class FrameFit:
    """How one frame size maps into the model's input canvas.

    Attributes:
        resized: (height, width) of the rescaled frame.
        offset: (x, y) of the rescaled frame's top-left corner in the canvas (may be negative).
        scale: (sx, sy) canvas pixels per frame pixel.
        direct: The rescaled frame is exactly the canvas: the engine's resize is used.
    """

    resized: tuple[int, int]
    offset: tuple[int, int]
    scale: tuple[float, float]
    direct: bool

    def frame_from_canvas(self) -> np.ndarray:
        """2x3 affine of canvas pixel coordinates → frame pixel coordinates (pixel centres)."""
        sx, sy = self.scale
        ox, oy = self.offset
        # canvas = (frame + 0.5) * s - 0.5 + offset  ⇔  frame = (canvas + 0.5 - offset) / s - 0.5
        return np.array([[1.0 / sx, 0.0, (0.5 - ox) / sx - 0.5], [0.0, 1.0 / sy, (0.5 - oy) / sy - 0.5]])


class AvmScaler:
    """Rescale frames from a camera's ground resolution to the model's (see the module docstring)."""

    def __init__(self, camera_mpp: float, model_mpp: float, input_size: tuple[int, int]) -> None:
        self.camera_mpp = camera_mpp
        self.model_mpp = model_mpp
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self._fits: dict[tuple[int, int], FrameFit] = {}

    def fit(self, frame_size: tuple[int, int]) -> FrameFit:
        """The :class:`FrameFit` of a frame size (cached)."""
        key = (int(frame_size[0]), int(frame_size[1]))
        found = self._fits.get(key)
        if found is None:
            factor = self.camera_mpp / self.model_mpp
            height, width = key
            resized = (max(1, round(height * factor)), max(1, round(width * factor)))
            canvas_h, canvas_w = self.input_size
            offset = ((canvas_w - resized[1]) // 2, (canvas_h - resized[0]) // 2)
            found = FrameFit(
                resized=resized,
                offset=offset,
                scale=(resized[1] / width, resized[0] / height),
                direct=resized == self.input_size,
            )
            self._fits[key] = found
        return found

    def to_canvas(self, image_bgr: np.ndarray, fit: FrameFit) -> np.ndarray:
        """The frame rescaled and centred in a black canvas of the model's input size."""
        height, width = fit.resized
        resized = resize_frame(image_bgr, (height, width))
        canvas_h, canvas_w = self.input_size
        canvas = np.zeros((canvas_h, canvas_w, 3), np.uint8)
        ox, oy = fit.offset
        x0, y0 = max(ox, 0), max(oy, 0)
        x1, y1 = min(ox + width, canvas_w), min(oy + height, canvas_h)
        canvas[y0:y1, x0:x1] = resized[y0 - oy : y1 - oy, x0 - ox : x1 - ox]
        return canvas

    def mask_to_frame(
        self, canvas_mask: np.ndarray, fit: FrameFit, frame_size: tuple[int, int]
    ) -> np.ndarray:
        """Nearest-neighbour map of a canvas mask back to the frame (0 where the canvas cropped it)."""
        height, width = frame_size
        frame_from_canvas = fit.frame_from_canvas()
        canvas_from_frame = cv2.invertAffineTransform(frame_from_canvas)
        return cv2.warpAffine(
            canvas_mask,
            canvas_from_frame,
            (width, height),
            flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_CONSTANT,
            borderValue=0,
        )
