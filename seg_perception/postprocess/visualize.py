"""Colourising class-id masks and blending them over frames."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from seg_perception.postprocess.lanes import CROSSWALK, STOP_LINE

if TYPE_CHECKING:
    from seg_perception.postprocess.lanes import LaneResult


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


# --- Annotated pictures: legend, polygons, slots and lines with their ids -------------------

LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX
LABEL_TEXT_BGR = (255, 255, 255)
LABEL_BOX_BGR = (32, 32, 32)
FREE_SLOT_BGR = (96, 224, 48)
OCCUPIED_SLOT_BGR = (48, 48, 230)
ENTRANCE_BGR = (255, 255, 0)


def _scale(image: np.ndarray) -> float:
    """Text and line scale: 1.0 at 540 px high, never below 0.4."""
    return max(0.4, image.shape[0] / 540.0)


def put_label(
    image: np.ndarray, text: str, origin: tuple[float, float], *, color_bgr: tuple[int, ...] = LABEL_TEXT_BGR
) -> None:
    """Write ``text`` on a dark box whose top-left corner is ``origin`` (clipped into the image), in place."""
    scale = 0.45 * _scale(image)
    thickness = max(1, round(_scale(image)))
    (width, height), baseline = cv2.getTextSize(text, LABEL_FONT, scale, thickness)
    x = int(np.clip(origin[0], 0, max(0, image.shape[1] - width - 4)))
    y = int(np.clip(origin[1], 0, max(0, image.shape[0] - height - baseline - 4)))
    cv2.rectangle(image, (x, y), (x + width + 4, y + height + baseline + 4), LABEL_BOX_BGR, cv2.FILLED)
    cv2.putText(image, text, (x + 2, y + height + 2), LABEL_FONT, scale, color_bgr, thickness, cv2.LINE_AA)


def draw_legend(
    image: np.ndarray,
    class_names: Sequence[str],
    colors_bgr: np.ndarray,
    *,
    background_id: int = 0,
    extra: Sequence[tuple[str, tuple[int, int, int]]] = (),
) -> np.ndarray:
    """Draw a legend (a colour swatch and the name of every non-background class) top-right, in place.

    Args:
        extra: More ``(label, colour)`` rows, e.g. the slot outline colours.
    """
    colors = np.asarray(colors_bgr, dtype=np.uint8).reshape(-1, 3)
    rows = [
        (name, tuple(int(c) for c in colors[i])) for i, name in enumerate(class_names) if i != background_id
    ]
    rows += [(label, tuple(int(c) for c in color)) for label, color in extra]
    scale = _scale(image)
    font_scale, thickness = 0.45 * scale, max(1, round(scale))
    line = round(18 * scale)
    swatch = round(12 * scale)
    width = max(
        (cv2.getTextSize(name, LABEL_FONT, font_scale, thickness)[0][0] for name, _ in rows), default=0
    )
    box_w, box_h = width + swatch + 16, line * len(rows) + 8
    x0, y0 = image.shape[1] - box_w - 6, 6  # top-right: lane and slot text goes top-left
    if not rows or x0 < 0 or box_h + y0 > image.shape[0]:
        return image
    region = image[y0 : y0 + box_h, x0 : x0 + box_w]
    region[...] = (region * 0.35).astype(np.uint8)  # darken behind the legend, keep the frame visible
    for row, (name, color) in enumerate(rows):
        top = y0 + 4 + row * line
        cv2.rectangle(image, (x0 + 4, top + 2), (x0 + 4 + swatch, top + 2 + swatch), color, cv2.FILLED)
        cv2.putText(
            image,
            name,
            (x0 + 10 + swatch, top + swatch),
            LABEL_FONT,
            font_scale,
            LABEL_TEXT_BGR,
            thickness,
            cv2.LINE_AA,
        )
    return image


def _outline_color(color: np.ndarray) -> tuple[int, int, int]:
    """A class colour made brighter so an outline stands out of its own blended fill."""
    bright = np.clip(np.asarray(color, dtype=np.int32) * 0.6 + 102, 0, 255)
    return tuple(int(c) for c in bright)  # type: ignore[return-value]


def draw_geometry(
    image: np.ndarray,
    *,
    colors_bgr: np.ndarray,
    polygons: Sequence[Any] = (),
    slots: Sequence[Any] = (),
    lines: Sequence[tuple[np.ndarray, str, tuple[int, int, int]]] = (),
    label_ids: bool = True,
) -> np.ndarray:
    """Draw what the pipeline extracted over ``image``, in place, and return it.

    The one drawing function for pictures of results (``predict``, reports): extend it
    with new geometry kinds rather than drawing elsewhere.

    Args:
        colors_bgr: (N, 3) BGR colour per class id.
        polygons: Objects with ``class_id``, ``points`` ((K, 2) pixels) and ``instance_id``
            (:class:`~seg_perception.geometry.Polygon`): closed outlines labelled with their id.
        slots: Objects with ``corners`` ((4, 2), entrance ``0 -> 1``), ``free`` and
            ``instance_id`` (:class:`~seg_perception.geometry.ParkingSlot`): green when free,
            red when occupied, the entrance side in cyan, labelled ``S<id>``.
        lines: Open polylines ``(points, label, colour)``, e.g. lane boundaries; the label
            is written at the lowest point (nearest the car in a front camera).
        label_ids: Write ids next to the shapes.
    """
    colors = np.asarray(colors_bgr, dtype=np.uint8).reshape(-1, 3)
    thickness = max(1, round(2 * _scale(image)))
    for polygon in polygons:
        points = np.asarray(polygon.points, dtype=np.float32).reshape(-1, 2)
        if len(points) < 2:
            continue
        class_id = int(polygon.class_id)
        color = _outline_color(colors[class_id]) if class_id < len(colors) else LABEL_TEXT_BGR
        cv2.polylines(image, [np.round(points).astype(np.int32)], True, color, thickness, cv2.LINE_AA)
        if label_ids:
            top = points[np.argmin(points[:, 1])]
            put_label(image, f"{polygon.instance_id}", (top[0] + 3, top[1] + 3), color_bgr=color)
    for slot in slots:
        corners = np.round(np.asarray(slot.corners, dtype=np.float32).reshape(-1, 2)).astype(np.int32)
        if len(corners) < 3:
            continue
        color = FREE_SLOT_BGR if slot.free else OCCUPIED_SLOT_BGR
        cv2.polylines(image, [corners], True, color, thickness, cv2.LINE_AA)
        cv2.line(image, tuple(corners[0]), tuple(corners[1]), ENTRANCE_BGR, thickness + 1, cv2.LINE_AA)
        if label_ids:
            centre = corners.mean(axis=0)
            put_label(
                image,
                f"S{slot.instance_id} {'free' if slot.free else 'occ'}"
                + (f" held {slot.missed_frames}" if slot.missed_frames else ""),
                (centre[0] - 20, centre[1] - 8),
            )
    for points, label, color in lines:
        pts = np.round(np.asarray(points, dtype=np.float32).reshape(-1, 2)).astype(np.int32)
        if len(pts) < 2:
            continue
        cv2.polylines(image, [pts], False, tuple(int(c) for c in color), thickness + 1, cv2.LINE_AA)
        if label_ids and label:
            low = pts[np.argmax(pts[:, 1])]
            put_label(image, label, (low[0] + 4, low[1] - 24), color_bgr=tuple(int(c) for c in color))
    return image


def annotate(
    image_bgr: np.ndarray,
    mask: np.ndarray,
    *,
    class_names: Sequence[str],
    colors_bgr: np.ndarray,
    polygons: Sequence[Any] = (),
    slots: Sequence[Any] = (),
    lines: Sequence[tuple[np.ndarray, str, tuple[int, int, int]]] = (),
    alpha: float = 0.5,
    legend: bool = True,
) -> np.ndarray:
    """A new picture of one result: class colours blended over the frame, geometry with ids, legend."""
    picture = overlay(image_bgr, mask, colors_bgr, alpha)
    draw_geometry(picture, colors_bgr=colors_bgr, polygons=polygons, slots=slots, lines=lines)
    if legend:
        extra = [
            ("slot outline: free", FREE_SLOT_BGR),
            ("slot outline: occupied", OCCUPIED_SLOT_BGR),
            ("slot entrance side", ENTRANCE_BGR),
        ]
        draw_legend(picture, class_names, colors_bgr, extra=extra if len(slots) else ())
    return picture


# BGR colours of the lane drawing: ego boundaries, other boundaries by paint colour, markings
_EGO_BGR = (60, 220, 60)
_PAINT_BGR = {"white": (235, 235, 235), "yellow": (0, 200, 255)}
_OTHER_BGR = (200, 160, 60)
_MARKING_BGR = {STOP_LINE: (40, 40, 230), CROSSWALK: (230, 160, 0)}  # by RoadMarking.kind
_EGO_FILL_ALPHA = 0.25


def draw_lanes(
    image_bgr: np.ndarray, lanes: LaneResult, *, thickness: int = 0, labels: bool = True
) -> np.ndarray:
    """Draw lane boundaries, the ego lane and road markings over a frame (in place; returns it).

    The ego lane is shaded green; ego boundaries are green, others in their paint colour
    (white / yellow); dashed boundaries are drawn dashed; each boundary is labelled
    ``id position type``; stop lines are red, crosswalks orange; the ego lane's width,
    offset and heading are written top left (metres when calibrated).
    """
    height, width = image_bgr.shape[:2]
    thickness = thickness or max(2, round(width / 320))
    font_scale = max(0.4, width / 2400)
    ego_left = lanes.boundary_at("ego_left")
    ego_right = lanes.boundary_at("ego_right")
    if (
        ego_left is not None
        and ego_right is not None
        and len(ego_left.image_points) >= 2
        and len(ego_right.image_points) >= 2
    ):
        polygon = (
            np.concatenate([ego_left.image_points, ego_right.image_points[::-1]]).round().astype(np.int32)
        )
        shade = image_bgr.copy()
        cv2.fillPoly(shade, [polygon], _EGO_BGR)
        cv2.addWeighted(shade, _EGO_FILL_ALPHA, image_bgr, 1.0 - _EGO_FILL_ALPHA, 0.0, dst=image_bgr)
    for marking in lanes.markings:
        outline = np.asarray(marking.image_points).round().astype(np.int32)
        cv2.polylines(
            image_bgr, [outline], True, _MARKING_BGR.get(marking.kind, _OTHER_BGR), thickness, cv2.LINE_AA
        )
    for boundary in lanes.boundaries:
        points = np.asarray(boundary.image_points, dtype=np.float64)
        if len(points) < 2:
            continue
        is_ego = boundary.position in ("ego_left", "ego_right")
        color = _EGO_BGR if is_ego else _PAINT_BGR.get(boundary.color, _OTHER_BGR)
        line = points.round().astype(np.int32)
        if boundary.line_type == "dashed":
            for k in range(0, len(line) - 1, 2):
                cv2.line(
                    image_bgr,
                    tuple(map(int, line[k])),
                    tuple(map(int, line[k + 1])),
                    color,
                    thickness,
                    cv2.LINE_AA,
                )
        else:
            cv2.polylines(image_bgr, [line], False, color, thickness, cv2.LINE_AA)
            if boundary.line_type == "double":
                cv2.polylines(image_bgr, [line + np.array([thickness * 2, 0])], False, color, 1, cv2.LINE_AA)
        if labels:
            u, v = line[0]
            u = int(np.clip(u, 0, width - 80))
            v = int(np.clip(v - 6, 12, height - 4))
            text = f"{boundary.id} {boundary.position} {boundary.line_type}"
            cv2.putText(
                image_bgr, text, (u, v), cv2.FONT_HERSHEY_SIMPLEX, font_scale, (0, 0, 0), 3, cv2.LINE_AA
            )
            cv2.putText(image_bgr, text, (u, v), cv2.FONT_HERSHEY_SIMPLEX, font_scale, color, 1, cv2.LINE_AA)
    ego = lanes.ego_lane
    if ego is not None and labels:
        unit = "m" if ego.metric else "~m"
        text = (
            f"lane {ego.width:.2f} {unit}  offset {ego.lateral_offset:+.2f} {unit}  "
            f"heading {np.degrees(ego.heading_rad):+.1f} deg"
        )
        cv2.putText(
            image_bgr,
            text,
            (8, int(24 * font_scale / 0.4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            3,
            cv2.LINE_AA,
        )
        cv2.putText(
            image_bgr,
            text,
            (8, int(24 * font_scale / 0.4)),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            _EGO_BGR,
            1,
            cv2.LINE_AA,
        )
    return image_bgr
