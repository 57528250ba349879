"""``seg-perception export``: checkpoint → ONNX with embedded metadata, checked and parity-tested.

Steps (as timm's ``utils/onnx.py``): export with ``torch.onnx.export`` (input ``image``
``(batch, 3, H, W)`` with a dynamic batch, output ``logits``, and ``marking_points``
``(batch, 3, H/4, W/4)`` for models with the marking-point head), ``onnx.checker.check_model``,
embed :meth:`ModelMetadata.to_props` in ``metadata_props``, then run one random input
through PyTorch and ONNX Runtime (CPU) and fail if the outputs differ by more than a tolerance.
Only inference weights go into the file: no optimiser or training state.

Example:
    seg-perception export runs/highway/best.pt --out weights/highway.onnx
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from seg_perception import __version__
from seg_perception.cli_args import add_size_argument
from seg_perception.errors import ModelFileError
from seg_perception.inference.metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata
from seg_perception.inference.mirror import MirrorAveraged
from seg_perception.models.base import MARKING_POINT_STRIDE

DEFAULT_OPSET = 17
DEFAULT_TOLERANCE = 1e-3


@dataclass(frozen=True)
class ExportReport:
    """Outcome of an export: file, size, parity error."""

    path: Path
    size_bytes: int
    max_abs_diff: float
    input_size: tuple[int, int]
    opset: int


def _export_to_bytes(
    model: nn.Module, example: torch.Tensor, *, opset: int, output_names: tuple[str, ...] = (OUTPUT_NAME,)
) -> bytes:
    """TorchScript-based export (stable for these conv nets); returns the serialized ModelProto."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shape-dependent Python values
        torch.onnx.export(
            model,
            (example,),
            buffer,  # type: ignore[arg-type]  # a file object is documented; the stubs say path only
            input_names=[INPUT_NAME],
            output_names=list(output_names),
            dynamic_axes={INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in output_names}},
            opset_version=opset,
            do_constant_folding=True,
            dynamo=False,
        )
    return buffer.getvalue()


def onnx_logits(path: Path, image: np.ndarray) -> np.ndarray:
    """Run ONNX Runtime (CPU provider) on a float32 NCHW array."""
    return onnx_outputs(path, image)[0]


def onnx_outputs(path: Path, image: np.ndarray) -> list[np.ndarray]:
    """Every output of the model (``logits`` first) from ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {INPUT_NAME: image})


def export_onnx(
    model: nn.Module,
    metadata: ModelMetadata,
    out: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    size: tuple[int, int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
    mirror_average: bool = False,
) -> ExportReport:
    """Export ``model`` to ``out``, check it, embed ``metadata`` and verify parity with ONNX Runtime.

    Args:
        model: The network (put in eval mode here).
        metadata: Embedded in ``metadata_props``; its ``input_size`` is replaced by ``size`` if given.
        out: Destination ``.onnx`` path.
        opset: ONNX opset (≥ 17).
        size: (height, width) of the exported example input; defaults to ``metadata.input_size``.
        tolerance: Largest allowed max-abs difference between PyTorch and ONNX Runtime logits.
        seed: Seed of the random parity input.
        mirror_average: Export :class:`~seg_perception.inference.mirror.MirrorAveraged` around
            the model (logits averaged over the frame and its left-right mirror; twice the cost)
            and say so in the metadata.

    Raises:
        ModelFileError: the checker rejects the graph, the parity check fails, or
            ``mirror_average`` is asked of a model with a marking-point head.
    """
    import onnx

    if opset < 17:
        raise ModelFileError(f"opset {opset} is too old; use 17 or newer")
    out = Path(out)
    height, width = size or metadata.input_size
    if size is not None:
        metadata = dataclasses.replace(metadata, input_size=(int(height), int(width)))
    model = model.cpu().eval()
    has_points = bool(getattr(model, "marking_points", False))
    if has_points != metadata.has_marking_points:
        stride = MARKING_POINT_STRIDE if has_points else 0
        metadata = dataclasses.replace(metadata, marking_point_stride=stride)
    # The graph's marking-point channels are the model's; the metadata tells decoders which.
    metadata = dataclasses.replace(
        metadata, marking_point_offsets=bool(getattr(model, "point_offsets", False))
    )
    # The graph resizes as the model was built; the metadata says so for consumers resizing logits.
    metadata = dataclasses.replace(metadata, align_corners=bool(getattr(model, "align_corners", False)))
    metadata = dataclasses.replace(metadata, mirror_averaged=mirror_average)
    if mirror_average:
        model = MirrorAveraged(model).eval()
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(1, 3, height, width, generator=generator)
    proto = onnx.load_from_string(
        _export_to_bytes(model, example, opset=opset, output_names=metadata.output_names)
    )
    try:
        onnx.checker.check_model(proto)
    except onnx.checker.ValidationError as err:
        raise ModelFileError(f"exported graph failed onnx.checker: {err}") from err
    onnx.helper.set_model_props(proto, metadata.to_props())
    proto.doc_string = (
        f"seg_perception {metadata.model} for {metadata.scenario}: classes {list(metadata.classes)}"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(proto, str(out))
    # Parity at batch 2 also proves the batch axis is really dynamic.
    parity_input = torch.randn(2, 3, height, width, generator=generator)
    with torch.no_grad():
        result = model(parity_input)
    expected_all = [t.numpy() for t in (result if isinstance(result, (list, tuple)) else [result])]
    actual_all = onnx_outputs(out, parity_input.numpy())
    max_abs_diff = 0.0
    for name, actual, expected in zip(metadata.output_names, actual_all, expected_all, strict=True):
        if actual.shape != expected.shape:
            raise ModelFileError(
                f"ONNX output {name!r} shape {actual.shape} differs from PyTorch {expected.shape}"
            )
        max_abs_diff = max(max_abs_diff, float(np.max(np.abs(actual - expected))))
    if not max_abs_diff <= tolerance:
        raise ModelFileError(
            f"ONNX Runtime and PyTorch logits differ by {max_abs_diff:.3g} (> {tolerance}); "
            "the export is not trustworthy"
        )
    return ExportReport(
        path=out,
        size_bytes=out.stat().st_size,
        max_abs_diff=max_abs_diff,
        input_size=(int(height), int(width)),
        opset=opset,
    )


def export_checkpoint(
    checkpoint: str | Path,
    out: str | Path,
    *,
    opset: int = DEFAULT_OPSET,
    size: tuple[int, int] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    mirror_average: bool = False,
) -> ExportReport:
    """Load a training checkpoint and export it (see :func:`export_onnx`)."""
    from seg_perception.inference.checkpoint import load_checkpoint

    model, metadata, raw = load_checkpoint(checkpoint)
    extra = dict(metadata.extra)
    extra["steps"] = int(raw.get("step", extra.get("steps", 0)))
    extra["package_version"] = __version__
    extra["exported_at"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    extra["checkpoint"] = Path(checkpoint).name
    metadata = dataclasses.replace(metadata, extra=extra)
    return export_onnx(
        model, metadata, out, opset=opset, size=size, tolerance=tolerance, mirror_average=mirror_average
    )


def register(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint", type=Path, help="training checkpoint (.pt) written by 'seg-perception train'"
    )
    parser.add_argument("--out", type=Path, required=True, help="destination .onnx file")
    parser.add_argument(
        "--opset", type=int, default=DEFAULT_OPSET, help=f"ONNX opset (default {DEFAULT_OPSET})"
    )
    add_size_argument(parser, "--size", "input size (default: the checkpoint's training size)")
    parser.add_argument(
        "--tolerance", type=float, default=DEFAULT_TOLERANCE, help="max abs logits difference allowed"
    )
    parser.add_argument(
        "--mirror-average",
        action="store_true",
        help="average the logits of each frame and of its left-right mirror inside the graph "
        "(test-time mirroring for every engine, about twice the cost; segmentation-only models)",
    )


def run(args: argparse.Namespace) -> int:
    report = export_checkpoint(
        args.checkpoint,
        args.out,
        opset=args.opset,
        size=args.size,
        tolerance=args.tolerance,
        mirror_average=args.mirror_average,
    )
    print(
        f"wrote {report.path} ({report.size_bytes / 1e6:.2f} MB, opset {report.opset}, "
        f"input {report.input_size[0]}x{report.input_size[1]}, dynamic batch"
        f"{', mirror-averaged' if args.mirror_average else ''})\n"
        f"parity PyTorch vs ONNX Runtime CPU: max abs diff {report.max_abs_diff:.2e}"
    )
    return 0
