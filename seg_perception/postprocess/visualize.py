"""Colourising class-id masks and blending them over frames."""

from __future__ import annotations

import cv2
import numpy as np


def color_table(colors_bgr: np.ndarray) -> np.ndarray:
    """A (256, 1, 3) uint8 lookup table for ``cv2.LUT``; ids without a colour map to black."""
    colors = np.asarray(colors_bgr, dtype=np.uint8).reshape(-1, 3)
    if len(colors) > 256:
        raise ValueError(f"at most 256 class colours fit a uint8 mask, got {len(colors)}")
    table = np.zeros((256, 1, 3), dtype=np.uint8)
    table[: len(colors), 0] = colors
    return table


def colorize(mask: np.ndarray, colors_bgr: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 BGR image with each pixel coloured by its class id.

    One single-channel ``cv2.LUT`` per colour channel, then ``cv2.merge``: about
    1.5x faster than a three-channel LUT on the mask replicated to BGR, and many
    times faster than NumPy fancy indexing.

    Args:
        mask: (H, W) uint8 class ids.
        colors_bgr: (N, 3) uint8 BGR colour per class id (or a table from :func:`color_table`).
    """
    table = colors_bgr if np.shape(colors_bgr) == (256, 1, 3) else color_table(colors_bgr)
    channels = np.ascontiguousarray(table.reshape(256, 3).T)  # (3, 256): one 1-D table per channel
    return cv2.merge([cv2.LUT(mask, channels[channel]) for channel in range(3)])


def overlay(
    image_bgr: np.ndarray,
    mask: np.ndarray,
    colors_bgr: np.ndarray,
    alpha: float = 0.5,
    *,
    background_id: int = 0,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Blend class colours over the frame on foreground pixels only; background stays untouched.

    One ``addWeighted`` over the whole frame and a masked copy beat per-pixel
    ``np.where`` by ~5x (about 1 ms at 540x960).

    Args:
        image_bgr: (H, W, 3) uint8 frame.
        mask: (H, W) uint8 class ids, same size as the frame.
        colors_bgr: (N, 3) uint8 BGR colours per class id.
        alpha: Weight of the class colour, 0..1.
        background_id: Class id left unblended.
        out: Optional C-contiguous (H, W, 3) uint8 array to write the result into (for
            example an image message's buffer), so the result needs no further copy.

    Returns:
        ``out`` or a new (H, W, 3) uint8 image; ``image_bgr`` is not modified.
    """
    if mask.shape != image_bgr.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match image shape {image_bgr.shape[:2]}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be within [0, 1], got {alpha}")
    if out is None:
        out = np.empty_like(image_bgr)
    elif out.shape != image_bgr.shape or out.dtype != np.uint8 or not out.flags.c_contiguous:
        raise ValueError(f"out must be a C-contiguous uint8 array of shape {image_bgr.shape}")
    colours = colorize(mask, colors_bgr)
    blended = cv2.addWeighted(image_bgr, 1.0 - alpha, colours, alpha, 0.0)
    foreground = mask if background_id == 0 else (mask != background_id).view(np.uint8)
    np.copyto(out, image_bgr)
    result = cv2.copyTo(blended, foreground, out)
    if not np.shares_memory(result, out):  # OpenCV reallocated: copy into place
        out[...] = result
    return out
