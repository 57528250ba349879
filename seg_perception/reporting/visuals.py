"""Overlay stills, an animation (GIF, optionally MP4) and a contact sheet from a recorded stream."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from seg_perception.postprocess.visualize import colorize
from seg_perception.reporting.images import contact_sheet, write_gif, write_png
from seg_perception.reporting.stream import StreamRecording
from seg_perception.reporting.video import write_video


def evenly_spaced(total: int, count: int) -> list[int]:
    """Up to ``count`` distinct indices spread evenly over ``range(total)``, ascending."""
    if total <= 0 or count <= 0:
        return []
    return sorted({round(i) for i in np.linspace(0, total - 1, min(count, total))})


def sheet_tiles(
    recording: StreamRecording, colors_bgr: np.ndarray, *, count: int
) -> tuple[list[np.ndarray], list[str]]:
    """Pairs of (overlay, colourised ground truth) tiles for ``count`` evenly spaced kept frames."""
    images, labels = [], []
    first_stamp = min(recording.ground_truth, default=0)
    for index in evenly_spaced(len(recording.overlays), count):
        stamp, overlay = recording.overlays[index]
        seconds = (stamp - first_stamp) / 1e9 if first_stamp else 0.0
        latency = recording.receive_ns.get(stamp)
        latency_text = f", {(latency - stamp) / 1e6:.0f} ms" if latency else ""
        images.append(overlay)
        labels.append(f"t={seconds:.1f}s output{latency_text}")
        truth = recording.ground_truth.get(stamp)
        if truth is not None:
            images.append(colorize(truth, colors_bgr))
            labels.append(f"t={seconds:.1f}s ground truth")
    return images, labels


def write_stream_visuals(
    recording: StreamRecording,
    out_dir: str | Path,
    *,
    name: str,
    colors_bgr: np.ndarray,
    gif_fps: float = 10.0,
    stills: int = 3,
    sheet_frames: int = 4,
    gif_max_width: int = 400,
    video: bool = False,
    annotate: Callable[[int, np.ndarray], np.ndarray] | None = None,
) -> dict[str, object]:
    """Write ``<name>.gif``, ``contact_sheet.png`` and ``overlay_<k>.png`` stills into ``out_dir``.

    ``annotate(stamp_ns, overlay) -> picture`` draws on every kept frame (a legend, polygons and
    slots with their ids: :func:`seg_perception.postprocess.visualize.draw_geometry`).

    With ``video``, also ``<name>.mp4`` of the same frames at full size (a GIF when
    OpenCV cannot write MP4 here, see :class:`~seg_perception.reporting.video.VideoSink`).

    Returns:
        ``{"animation": path | None, "video": path | None, "contact_sheet": path | None,
        "stills": [paths]}``; entries are None/empty when no overlay frame was recorded.
    """
    out_dir = Path(out_dir)
    files: dict[str, object] = {"animation": None, "video": None, "contact_sheet": None, "stills": []}
    if not recording.overlays:
        return files
    if annotate is not None:
        recording.overlays = [(stamp, annotate(stamp, image)) for stamp, image in recording.overlays]
    frames = [image for _, image in recording.overlays]
    files["animation"] = write_gif(frames, out_dir / f"{name}.gif", gif_fps, max_width=gif_max_width)
    if video:
        files["video"] = write_video(frames, out_dir / f"{name}.mp4", gif_fps)
    files["stills"] = [
        write_png(frames[index], out_dir / f"overlay_{position}.png")
        for position, index in enumerate(evenly_spaced(len(frames), stills))
    ]
    images, labels = sheet_tiles(recording, colors_bgr, count=sheet_frames)
    sheet = contact_sheet(images, cols=2, labels=labels)
    files["contact_sheet"] = write_png(sheet, out_dir / "contact_sheet.png")
    return files
