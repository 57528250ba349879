"""Static int8 quantization of an exported model, for CPUs (ONNX Runtime, QDQ format).

On a CPU with int8 dot-product instructions (x86 VNNI / AMX, Arm dot-product) ONNX Runtime runs a
quantized convolution network about twice as fast as in float32 (the HRNet parking model: 69 ->
33 ms per frame on one thread of this project's 2-core CPU, ``weights/README.md``), which is what
lets a CPU run a model that otherwise only a GPU runs in real time.

Steps, each checked:

1. ONNX Runtime's pre-processing (shape inference, graph optimisation) of the float file;
2. static quantization: per-channel int8 weights, uint8 activations whose ranges come from
   *calibration frames* the caller makes from the model's metadata (the command draws synthetic
   scenes of the model's scenario from the training seed range, never evaluation data);
3. the float file's metadata carried over, plus a ``quantization`` entry (method, calibration,
   source file), so the file explains itself;
4. ``onnx.checker`` and a parity check on separate *check frames*: the share of pixels whose
   class is the float model's, and the largest marking-point heat difference. Below
   ``min_agreement`` the file is not written.

A model whose head alone was retrained can keep an earlier int8 copy's activation ranges
(``ranges_from``) everywhere but downstream of the retrained modules (``recalibrate``): its other
layers then come out bit for bit as in that copy, where a fresh calibration would move them by its
own noise (calibration frames follow the generator, which changes between sessions).
"""

from __future__ import annotations

import dataclasses
import itertools
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from seg_perception.inference.errors import QuantizationError
from seg_perception.inference.metadata import INPUT_NAME, MARKING_POINTS_NAME, ModelMetadata
from seg_perception.inference.onnxruntime_engine import read_onnx_metadata

#: What the ``quantization`` metadata entry calls this method.
METHOD = "static int8, QDQ, per-channel int8 weights, uint8 activations (ONNX Runtime)"
#: Below this share of pixels with the float model's class the quantized file is refused.
DEFAULT_MIN_AGREEMENT = 0.97


@dataclasses.dataclass(frozen=True)
class QuantizeReport:
    """Outcome of a quantization: the file, its size, and how closely it follows the float model."""

    path: Path
    calibration_frames: int
    check_frames: int
    mask_agreement: float  # share of check pixels whose class is the float model's
    max_heat_difference: float | None  # marking-point heat (0..1); None without that head
    size_bytes: int
    source_size_bytes: int


class _CalibrationReader:
    """ONNX Runtime's calibration data reader over the caller's batches, counting the frames."""

    def __init__(self, batches: Iterable[np.ndarray]) -> None:
        self._batches: Iterator[np.ndarray] = iter(batches)
        self.frames = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self._batches, None)
        if batch is None:
            return None
        self.frames += len(batch)
        return {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}

    def rewind(self) -> None:  # pragma: no cover - ONNX Runtime calls it only for some calibration methods
        raise QuantizationError("calibration frames can be read once only")


def _session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _parity(
    source: Path, quantized: Path, metadata: ModelMetadata, check: Iterable[np.ndarray]
) -> tuple[int, float, float | None]:
    """Check frames, mask agreement and largest heat difference of ``quantized`` against ``source``."""
    reference, candidate = _session(source), _session(quantized)
    names = list(metadata.output_names)
    frames, agreeing, pixels, heat = 0, 0, 0, 0.0
    for batch in check:
        inputs = {INPUT_NAME: np.ascontiguousarray(batch, dtype=np.float32)}
        expected = dict(zip(names, reference.run(names, inputs), strict=True))
        got = dict(zip(names, candidate.run(names, inputs), strict=True))
        classes_expected, classes_got = expected[names[0]].argmax(axis=1), got[names[0]].argmax(axis=1)
        agreeing += int(np.count_nonzero(classes_expected == classes_got))
        pixels += classes_expected.size
        frames += len(batch)
        if MARKING_POINTS_NAME in expected:
            # channel 0 is the heat (0..1); the others are directions and offsets
            heat = max(
                heat,
                float(np.abs(expected[MARKING_POINTS_NAME][:, 0] - got[MARKING_POINTS_NAME][:, 0]).max()),
            )
    if frames == 0:
        raise QuantizationError("no check frames: the parity check needs at least one")
    return frames, agreeing / pixels, heat if metadata.has_marking_points else None


def kept_ranges(
    prepared: Any, earlier: Any, recalibrate: tuple[str, ...]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Activation ranges of the int8 model ``earlier`` to keep when quantizing ``prepared``.

    Returns the scale and zero point of every tensor that ``earlier`` quantizes and ``prepared``
    holds, except those computed from a node of a ``recalibrate`` module (exported node names
    carry their module path, ``/last_layer/last_layer.0/Conv``).

    Raises:
        QuantizationError: ``earlier`` quantizes no activation, shares none with ``prepared``, or
            a ``recalibrate`` module has no node in ``prepared``.
    """
    from onnx import numpy_helper

    constants = {tensor.name: numpy_helper.to_array(tensor) for tensor in earlier.graph.initializer}
    earlier_ranges = {
        node.input[0]: (constants[node.input[1]], constants[node.input[2]])
        for node in earlier.graph.node
        if node.op_type == "QuantizeLinear" and node.input[0] not in constants
    }
    if not earlier_ranges:
        raise QuantizationError("the ranges_from model quantizes no activation: it is no int8 copy")
    changed: set[str] = set()
    for module in recalibrate:
        nodes = [node for node in prepared.graph.node if module in node.name.split("/")]
        if not nodes:
            raise QuantizationError(f"recalibrate names {module!r}, which has no node in the model")
        changed.update(output for node in nodes for output in node.output)
    consumers: dict[str, list[Any]] = {}
    for node in prepared.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    frontier = list(changed)
    while frontier:  # everything computed from a retrained module's output
        for node in consumers.get(frontier.pop(), []):
            fresh = [output for output in node.output if output not in changed]
            changed.update(fresh)
            frontier.extend(fresh)
    tensors = {output for node in prepared.graph.node for output in node.output}
    tensors.update(graph_input.name for graph_input in prepared.graph.input)  # the image
    kept = {name: value for name, value in earlier_ranges.items() if name in tensors and name not in changed}
    if not kept:
        raise QuantizationError("the ranges_from model shares no activation with this one: another graph")
    return kept


def quantize_model(
    model_file: str | Path,
    out: str | Path,
    *,
    calibration: Iterable[np.ndarray],
    check: Iterable[np.ndarray],
    calibration_note: dict[str, Any],
    min_agreement: float = DEFAULT_MIN_AGREEMENT,
    marking_point_threshold: float | None = None,
    ranges_from: str | Path | None = None,
    recalibrate: tuple[str, ...] = (),
) -> QuantizeReport:
    """Write an int8 copy of ``model_file`` to ``out`` (see the module docstring).

    Args:
        model_file: A float ONNX file written by ``seg-perception export``.
        out: The quantized file; not written when the parity check fails.
        calibration: Preprocessed ``(N, 3, h, w)`` float32 batches (the model's own input
            pre-processing) whose activation ranges set the quantization scales.
        check: Batches like ``calibration`` but other frames, for the parity check.
        calibration_note: What the calibration frames were (e.g. generator, seeds), stored in
            the metadata's ``quantization`` entry.
        min_agreement: Least share of check pixels whose class must be the float model's.
        marking_point_threshold: Written into the copy's metadata (the heat its points are to be
            judged at, in (0, 1)); None keeps the float file's.
        ranges_from: An earlier int8 copy of a model with the same graph, whose activation ranges
            are kept for every tensor not computed from a module in ``recalibrate``.
        recalibrate: Modules (state-dict prefixes, e.g. ``last_layer``) whose outputs, and all
            that is computed from them, get ranges from ``calibration``; only with ``ranges_from``.

    Raises:
        ModelFileError: ``model_file`` is not an exported model.
        QuantizationError: it is quantized already, calibration or check frames are missing,
            ``ranges_from`` is no int8 copy of this graph, a ``recalibrate`` module is not in it, or
            the quantized file does not follow the float one closely enough.
    """
    import onnx
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    source, target = Path(model_file), Path(out)
    metadata = read_onnx_metadata(source)
    if metadata.quantization:
        raise QuantizationError(f"{source} is quantized already ({metadata.quantization.get('method')})")
    if not 0.0 < min_agreement <= 1.0:
        raise QuantizationError(f"min_agreement must be in (0, 1], got {min_agreement}")
    if marking_point_threshold is not None:
        if not metadata.has_marking_points:
            raise QuantizationError(f"{source} has no marking-point output: a point threshold means nothing")
        if not 0.0 < marking_point_threshold < 1.0:
            raise QuantizationError(
                f"marking_point_threshold must be in (0, 1), got {marking_point_threshold}"
            )
        metadata = dataclasses.replace(metadata, marking_point_threshold=float(marking_point_threshold))
    if recalibrate and ranges_from is None:
        raise QuantizationError("recalibrate names modules whose ranges change: it needs ranges_from")
    batches = iter(calibration)
    first = next(batches, None)
    if first is None:
        raise QuantizationError("no calibration frames: activation ranges need at least one")
    reader = _CalibrationReader(itertools.chain([first], batches))
    with tempfile.TemporaryDirectory(prefix="seg_quantize_") as scratch:
        prepared, quantized = Path(scratch) / "prepared.onnx", Path(scratch) / "quantized.onnx"
        # symbolic shape inference is for transformer graphs; ONNX shape inference covers convolutions
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        extra_options: dict[str, Any] = {}
        if ranges_from is not None:
            kept = kept_ranges(onnx.load(str(prepared)), onnx.load(str(ranges_from)), recalibrate)
            extra_options["TensorQuantOverrides"] = {
                name: [{"scale": scale, "zero_point": zero_point}]
                for name, (scale, zero_point) in kept.items()
            }
        quantize_static(
            str(prepared),
            str(quantized),
            reader,  # duck-typed CalibrationDataReader
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            extra_options=extra_options,
        )
        model = onnx.load(str(quantized))
        entry = {
            "method": METHOD,
            "source": source.name,
            "calibration_frames": reader.frames,
            "calibration": calibration_note,
        }
        if ranges_from is not None:
            entry["ranges_from"] = {"file": Path(ranges_from).name, "recalibrated": list(recalibrate)}
        del model.metadata_props[:]
        for key, value in dataclasses.replace(metadata, quantization=entry).to_props().items():
            model.metadata_props.add(key=key, value=value)
        onnx.checker.check_model(model)
        onnx.save(model, str(quantized))
        frames, agreement, heat = _parity(source, quantized, metadata, check)
        if agreement < min_agreement:
            raise QuantizationError(
                f"the int8 model gives the float model's class on {agreement:.4f} of the check pixels, "
                f"below {min_agreement}: not written (more or more varied calibration frames may help)"
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(quantized.read_bytes())
    return QuantizeReport(
        path=target,
        calibration_frames=reader.frames,
        check_frames=frames,
        mask_agreement=agreement,
        max_heat_difference=heat,
        size_bytes=target.stat().st_size,
        source_size_bytes=source.stat().st_size,
    )


__all__ = ["DEFAULT_MIN_AGREEMENT", "METHOD", "QuantizeReport", "kept_ranges", "quantize_model"]
