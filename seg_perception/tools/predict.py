"""``seg-perception predict``: run a model on images, an image folder, a video file or a camera, no ROS.

Writes to ``--out``:

- images and folders: ``overlays/<name>.png`` (class colours, polygons / slots with their ids,
  legend), ``masks/<name>.png`` (pixel = class id) and ``json/<name>.json`` (frame JSON);
- videos, ``--sequence`` folders and cameras: ``overlay.mp4`` (or ``.gif``), ``predictions.jsonl``
  (one frame JSON per line), ``preview.png`` (the middle frame); ``--save-frames`` adds the per-frame
  PNGs;
- ``summary.json``: frames, unreadable inputs, fps, latency percentiles, model, providers.

Frame JSON is the offline tools' format (:mod:`seg_perception.bags.frame_json`, lane boundaries
included) plus ``source`` and ``frame_index``; the stamp is the frame's time in the video (0 for still
images). Videos and cameras are streams (lane boundaries and slots tracked from frame to frame); the
images of a folder are unrelated pictures, each taken alone, unless ``--sequence FPS`` says they are the
frames of one video (a clip dumped to files, e.g. a TuSimple clip's ``1.jpg`` ... ``20.jpg``): then
they are a stream in natural order (``2.jpg`` before ``10.jpg``), written as a video's are.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from tqdm import tqdm

from seg_perception.bags import frame_json
from seg_perception.calibration_arguments import add_calibration_arguments, calibration_fields
from seg_perception.inference.arguments import add_engine_arguments, engine_options
from seg_perception.media_files import CAMERA_PATTERN, DEFAULT_VIDEO_FPS, Source
from seg_perception.metrics.latency import stage_latencies
from seg_perception.reporting import (
    VideoSink,
    close_video_or_warn,
    write_png,
)
from seg_perception.tools.errors import PredictError


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source", help="an image, a folder of images, a video file, or a camera index (0) / /dev/videoN"
    )
    parser.add_argument(
        "--scenario",
        help="highway, road, parking or a YAML path (default: the model's own scenario; highway without "
        "--model-file)",
    )
    parser.add_argument(
        "--model-file", type=Path, help="ONNX model or .pt checkpoint (default: shipped model)"
    )
    add_engine_arguments(parser)
    geometry = parser.add_argument_group("bird's-eye (AVM) frames")
    geometry.add_argument(
        "--metres-per-pixel",
        type=float,
        metavar="M",
        help="ground size of a pixel of these frames (ps2.0's 600x600 views: 0.0167); default: the "
        "scenario camera's metres_per_pixel, which is for its image_size (docs/parking_slots.md, Scale)",
    )
    geometry.add_argument(
        "--origin-px",
        type=float,
        nargs=2,
        metavar=("U", "V"),
        help="pixel of the vehicle-frame origin in these frames, for metric slot corners (default: the "
        "scenario camera's origin_px)",
    )
    add_calibration_arguments(parser)
    parser.add_argument(
        "--sequence",
        type=float,
        metavar="FPS",
        help="a folder holds the frames of one video at this rate (natural order: 2.jpg before 10.jpg): "
        "tracked from frame to frame and written as a video's (default: the folder's images are unrelated "
        "stills, each taken alone)",
    )
    parser.add_argument("--out", type=Path, help="output folder (default out/predict/<source name>)")
    parser.add_argument(
        "--video",
        default="mp4",
        choices=("mp4", "gif", "none"),
        help="videos, sequences and cameras: overlay video format (default mp4; GIF where OpenCV cannot "
        "write MP4)",
    )
    parser.add_argument(
        "--save-frames",
        action="store_true",
        help="videos, sequences and cameras: also write every overlay and mask PNG",
    )
    parser.add_argument(
        "--max-frames", type=int, help="stop after this many frames (cameras: Ctrl-C also stops)"
    )
    parser.add_argument("--alpha", type=float, default=0.5, help="class colour opacity 0..1 (default 0.5)")
    parser.add_argument("--no-legend", action="store_true", help="leave the class legend out of the overlays")


def default_out(source: str) -> Path:
    name = Path(source).stem or "camera"
    if CAMERA_PATTERN.match(source):
        name = "camera" + re.sub(r"\D", "", source)
    return Path("out") / "predict" / name


def frame_geometry(args: argparse.Namespace) -> dict[str, Any]:
    """The camera fields ``--metres-per-pixel`` and ``--origin-px`` replace.

    A given scale describes these frames, so the camera's ``image_size`` (what its own scale was set
    for) no longer applies and is dropped.
    """
    fields: dict[str, Any] = {}
    if args.metres_per_pixel is not None:
        fields |= {"metres_per_pixel": float(args.metres_per_pixel), "image_size": None}
    if args.origin_px is not None:
        fields["origin_px"] = [float(value) for value in args.origin_px]
    return fields


def run(args: argparse.Namespace) -> int:
    from seg_perception.inference.pipeline import SegmentationPipeline

    if not 0.0 <= args.alpha <= 1.0:
        raise PredictError(f"--alpha must be within 0..1, got {args.alpha}")
    if args.max_frames is not None and args.max_frames < 1:
        raise PredictError(f"--max-frames must be >= 1, got {args.max_frames}")
    if args.sequence is not None and not args.sequence > 0:
        raise PredictError(f"--sequence must be a frame rate above 0, got {args.sequence}")
    source = Source(args.source, max_frames=args.max_frames, sequence_fps=args.sequence)
    out: Path = args.out or default_out(args.source)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise PredictError(f"cannot create the output folder {out}: {err}") from err
    try:
        pipeline = SegmentationPipeline.load(
            args.scenario,
            model_file=args.model_file,
            camera_params=frame_geometry(args) | calibration_fields(args),
            overlay_alpha=args.alpha,
            options=engine_options(args),
        )
    except Exception:
        source.close()
        raise
    if args.camera_info is not None and pipeline.ground is None:
        pipeline.close()
        source.close()
        raise PredictError(
            f"--camera-info calibrates a front camera's lane boundaries: scenario {pipeline.scenario.name}'s "
            f"camera '{pipeline.camera}' has none"
        )
    print(
        f"predict: {source.kind} {args.source} -> {out} (scenario {pipeline.scenario.name}, "
        f"model {pipeline.engine.model_file}, providers {', '.join(pipeline.engine.providers)})",
        file=sys.stderr,
    )
    try:
        summary = predict(pipeline, source, out, args)
    finally:
        source.close()
        pipeline.close()
    summary.update(
        scenario=pipeline.scenario.name,
        model=str(pipeline.engine.model_file),
        providers=list(pipeline.engine.providers),
    )
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    p50 = summary["latency_ms"].get("total", {}).get("p50")
    print(
        f"predict: {summary['frames']} frames at {summary['fps']:.1f} fps "
        f"(pipeline p50 {'-' if p50 is None else f'{p50:.1f}'} ms)"
        + (f", {len(summary['unreadable'])} unreadable" if summary["unreadable"] else "")
        + f" -> {out}"
    )
    for name, path in summary["outputs"].items():
        if path:
            print(f"  {name}: {path}")
    if summary["frames"] == 0:
        raise PredictError(f"no frame of {args.source} could be read")
    return 0


def _write_frame_files(
    out: Path, name: str, picture: np.ndarray, mask: np.ndarray, record: dict[str, Any]
) -> None:
    """A frame's overlay, mask and JSON record under ``out``'s overlays/, masks/ and json/."""
    write_png(picture, out / "overlays" / f"{name}.png")
    write_mask(mask, out / "masks" / f"{name}.png")
    json_path = out / "json" / f"{name}.json"
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(record, indent=1) + "\n")


def predict(pipeline: Any, source: Source, out: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Run ``pipeline`` on every frame of ``source``, writing outputs under ``out``; return the summary."""
    per_frame_files = not source.is_stream or args.save_frames
    video = None
    if source.is_stream and args.video != "none":
        video = VideoSink(out / f"overlay.{args.video}", fps=source.fps or DEFAULT_VIDEO_FPS)
    jsonl = (out / "predictions.jsonl").open("w") if source.is_stream else None
    calibration = frame_json.Calibration.from_mapping(pipeline.scenario.camera(pipeline.camera))
    timings: list[dict[str, float]] = []
    unreadable: list[str] = []
    preview_index = (source.total // 2) if source.total else 0
    preview_path = None
    progress = tqdm(total=source.total, unit="frame", desc="predict", disable=None)
    start = time.perf_counter()
    try:
        for frame in source.frames():
            if frame.image is None:
                unreadable.append(frame.name)
                tqdm.write(f"predict: warning: skipped {frame.name}: {frame.error}", file=sys.stderr)
                progress.update(1)
                continue
            image = frame.image
            if (note := pipeline.new_ground_geometry_note(image.shape[:2])) is not None:
                tqdm.write(
                    f"predict: warning: {note} (here: --metres-per-pixel, --origin-px)", file=sys.stderr
                )
            if not source.is_stream:  # stills are unrelated pictures: none inherits another's lanes or slots
                pipeline.reset_tracking()
            result = pipeline.process(image)
            timings.append(result.timings_ms)
            picture = pipeline.draw(image, result, legend=not args.no_legend)
            record = frame_json.frame_record(
                stamp_ns=frame.stamp_ns,
                frame_id=pipeline.camera,
                camera=pipeline.camera,
                image_size=(int(result.mask.shape[0]), int(result.mask.shape[1])),
                polygons=result.polygons,
                slots=result.slots,
                calibration=calibration,
                lanes=result.lanes,
            )
            record = {"source": source.text, "frame_index": frame.index, **record}
            if per_frame_files:
                _write_frame_files(out, frame.name, picture, result.mask, record)
            if jsonl is not None:
                jsonl.write(frame_json.dumps(record) + "\n")
            if video is not None:
                video.add(picture)
            if source.is_stream and frame.index == preview_index:
                preview_path = write_png(picture, out / "preview.png")
            progress.update(1)
            elapsed = time.perf_counter() - start
            progress.set_postfix_str(
                f"{len(timings) / elapsed:.1f} fps, model {result.timings_ms.get('total', 0):.0f} ms"
            )
    except KeyboardInterrupt:
        tqdm.write("predict: interrupted; writing what was processed", file=sys.stderr)
    finally:
        progress.close()
        if jsonl is not None:
            jsonl.close()
        video_path = close_video_or_warn(video, tool="predict")
    wall = time.perf_counter() - start
    return {
        "source": source.text,
        "kind": source.kind,
        "frames": len(timings),
        "unreadable": unreadable,
        "wall_s": round(wall, 3),
        "fps": round(len(timings) / wall, 2) if wall > 0 and timings else 0.0,
        "latency_ms": stage_latencies(timings),
        "outputs": {
            "overlays": str(out / "overlays") if per_frame_files and timings else None,
            "masks": str(out / "masks") if per_frame_files and timings else None,
            "json": str(out / "json") if per_frame_files and timings else None,
            "predictions": str(out / "predictions.jsonl") if source.is_stream else None,
            "video": str(video_path) if video_path else None,
            "preview": str(preview_path) if preview_path else None,
        },
    }


def write_mask(mask: np.ndarray, path: Path) -> None:
    """Write a class-id mask as a single-channel PNG (pixel = class id)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), mask):
        raise PredictError(f"cannot write {path}")
