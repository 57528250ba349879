"""Fused ONNX graphs: uint8 BGR frames in, uint8 class-id masks (and marking points) out.

The GPU engines must not move float tensors between host and device. A fused graph
wraps the exported model with its pre- and post-processing as ONNX operators:

``frame`` (N, H, W, 3) uint8 BGR → Cast → Transpose to NCHW → BGR→RGB (Gather) →
bilinear Resize to the model's input size (``half_pixel``, like OpenCV's
``INTER_LINEAR`` and ``preprocess_torch``) → ``x * scale + offset`` → model →
ArgMax over classes (ties to the lower id, like :func:`argmax_mask`) → Cast (via float32) →
``mask`` (N, h, w) uint8 at the model's output size.

A model with a marking-point head keeps its ``marking_points`` output (float32, at 1/4 of
the model's input size, small) beside the mask.

So a frame is uploaded once as uint8 and only the small uint8 mask comes back; the
execution provider (TensorRT, CUDA, or the CPU) does everything in between. The
nearest-neighbour resize of the mask to the frame's size stays on the host: it is a
cheap uint8 copy, and downloading the smaller mask saves more.

Fused graphs have static shapes (one file per frame size and batch), which is what
TensorRT engines and CUDA graphs want, and they are cached on disk under a name
that hashes the source model, so a restart reuses both the file and the TensorRT
engine built from it.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from seg_perception.inference.errors import ModelFileError
from seg_perception.inference.metadata import INPUT_NAME, METADATA_PREFIX, OUTPUT_NAME, ModelMetadata
from seg_perception.inference.preprocess import Normalization

FRAME_INPUT = "frame"
MASK_OUTPUT = "mask"
# Bump when the fused graph changes, so cached files from older versions are not reused.
# v2: the arg-max goes int64 -> float -> uint8 (TensorRT casts to uint8 from floats only).
# v4: models with a marking-point head keep their ``marking_points`` output (float32).
FUSION_VERSION = 4
_PREFIX = "fused/"


def fused_file_name(
    model_bytes: bytes, *, frame_size: tuple[int, int], batch: int, fp16: bool, stem: str = "model"
) -> str:
    """Cache file name: source model hash, fusion version, batch, frame size and precision."""
    digest = hashlib.sha256(model_bytes).hexdigest()[:16]
    height, width = frame_size
    precision = "fp16" if fp16 else "fp32"
    safe_stem = "".join(char if char.isascii() and char.isalnum() else "_" for char in stem)
    return f"{safe_stem}_{digest}_v{FUSION_VERSION}_b{batch}_{height}x{width}_{precision}.onnx"


def build_fused_model(
    model: onnx.ModelProto,
    *,
    frame_size: tuple[int, int],
    batch: int = 1,
    fp16: bool = False,
) -> onnx.ModelProto:
    """Wrap an exported model (``image`` → ``logits``) into a ``frame`` → ``mask`` graph.

    Args:
        model: A model exported by ``seg-perception export`` (metadata inside).
        frame_size: (height, width) of the frames the graph will take.
        batch: Frames per call.
        fp16: Convert the network's weights and arithmetic to float16 (for the CUDA
            provider; TensorRT makes its own FP16 engine from an FP32 graph). The
            pre-processing and the arg-max stay in float32.

    Raises:
        ModelFileError: the model lacks metadata, or its input/output do not have the
            exported names and layout.
    """
    props = {prop.key: prop.value for prop in model.metadata_props}
    metadata = ModelMetadata.from_props(props, source="the model to fuse")
    height, width = (int(value) for value in frame_size)
    if height <= 0 or width <= 0 or batch <= 0:
        raise ValueError(f"frame size and batch must be positive, got {frame_size} and {batch}")
    _check_exported_layout(model, metadata.output_names)
    network = _to_float16(_constant_folded(model, batch=batch)) if fp16 else model
    opset = next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))

    pre_nodes, pre_initializers = _preprocess_nodes(
        metadata, batch=batch, frame_size=(height, width), opset=opset
    )
    # TensorRT converts to and from uint8 only with float32/float16 ("uint8 conversions are not
    # supported for int8, int32, bool"; DataType docs), so the int64 class ids go through float32
    # (exact below 2**24) before uint8. A direct int64 -> uint8 Cast could leave that node off
    # TensorRT, which also rules out TensorRT's CUDA graph (it needs every node on TensorRT).
    post_nodes = [
        helper.make_node(
            "ArgMax", [OUTPUT_NAME], [_PREFIX + "class_ids"], axis=1, keepdims=0, name=_PREFIX + "argmax"
        ),
        helper.make_node(
            "Cast",
            [_PREFIX + "class_ids"],
            [_PREFIX + "class_ids_f32"],
            to=TensorProto.FLOAT,
            name=_PREFIX + "ids_to_float",
        ),
        helper.make_node(
            "Cast",
            [_PREFIX + "class_ids_f32"],
            [MASK_OUTPUT],
            to=TensorProto.UINT8,
            name=_PREFIX + "to_uint8",
        ),
    ]
    out_height, out_width = metadata.input_size
    # Other outputs (the marking-point map) pass through as float32 at their static shape.
    stride = max(metadata.marking_point_stride, 1)
    extra_outputs = [
        helper.make_tensor_value_info(
            name,
            TensorProto.FLOAT,
            [batch, metadata.marking_point_channels, -(-out_height // stride), -(-out_width // stride)],
        )
        for name in metadata.output_names[1:]
    ]
    graph = helper.make_graph(
        _topologically_sorted([*pre_nodes, *network.graph.node, *post_nodes]),
        f"{network.graph.name}_fused",
        [helper.make_tensor_value_info(FRAME_INPUT, TensorProto.UINT8, [batch, height, width, 3])],
        [
            helper.make_tensor_value_info(MASK_OUTPUT, TensorProto.UINT8, [batch, out_height, out_width]),
            *extra_outputs,
        ],
        initializer=[*pre_initializers, *network.graph.initializer],
        value_info=list(network.graph.value_info),
    )
    fused = helper.make_model(graph, opset_imports=list(network.opset_import), producer_name="seg_perception")
    fused.ir_version = network.ir_version
    helper.set_model_props(fused, {**props, METADATA_PREFIX + "fused": f'"b{batch}_{height}x{width}"'})
    onnx.checker.check_model(fused)
    return fused


def ensure_fused_model(
    model_file: Path,
    cache_dir: Path,
    *,
    frame_size: tuple[int, int],
    batch: int = 1,
    fp16: bool = False,
) -> Path:
    """Path of the fused graph for ``model_file`` in ``cache_dir``, building it if missing.

    The file is written atomically (temporary file, then rename), so two processes
    starting together never read a half-written graph.

    Raises:
        ModelFileError: the model cannot be read or fused.
    """
    model_bytes = model_file.read_bytes()
    path = cache_dir / fused_file_name(
        model_bytes, frame_size=frame_size, batch=batch, fp16=fp16, stem=model_file.stem
    )
    if path.is_file():
        return path
    try:
        source = onnx.load_from_string(model_bytes)
        fused = build_fused_model(source, frame_size=frame_size, batch=batch, fp16=fp16)
    except (onnx.checker.ValidationError, ValueError) as err:
        raise ModelFileError(f"{model_file}: cannot build its fused frame-to-mask graph ({err})") from err
    cache_dir.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=cache_dir, suffix=".onnx.tmp")
    os.close(handle)
    try:
        onnx.save(fused, temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)
    return path


def _check_exported_layout(model: onnx.ModelProto, output_names: tuple[str, ...] = (OUTPUT_NAME,)) -> None:
    graph = model.graph
    initializers = {initializer.name for initializer in graph.initializer}
    inputs = [value.name for value in graph.input if value.name not in initializers]
    outputs = [value.name for value in graph.output]
    if inputs != [INPUT_NAME] or outputs != list(output_names):
        raise ModelFileError(
            f"expected one input {INPUT_NAME!r} and outputs {list(output_names)} (as 'seg-perception export' "
            f"writes them), got inputs {inputs} and outputs {outputs}"
        )
    taken = {name for node in graph.node for name in (*node.input, *node.output)} | initializers
    clashes = sorted(name for name in taken if name.startswith(_PREFIX))
    if clashes:
        raise ModelFileError(f"the model already uses names starting with {_PREFIX!r}: {clashes[:3]}")


def _preprocess_nodes(
    metadata: ModelMetadata, *, batch: int, frame_size: tuple[int, int], opset: int
) -> tuple[list[onnx.NodeProto], list[onnx.TensorProto]]:
    """Nodes from the uint8 ``frame`` to the normalised float32 ``image``."""
    norm = Normalization.from_mean_std(metadata.mean, metadata.std)
    height, width = metadata.input_size

    def const(name: str, values: np.ndarray) -> onnx.TensorProto:
        return numpy_helper.from_array(values, _PREFIX + name)

    initializers = [
        const("rgb_from_bgr", np.array([2, 1, 0], dtype=np.int64)),
        const("scale", np.array(norm.scale, dtype=np.float32).reshape(1, 3, 1, 1)),
        const("offset", np.array(norm.offset, dtype=np.float32).reshape(1, 3, 1, 1)),
    ]
    nodes = [
        helper.make_node(
            "Cast", [FRAME_INPUT], [_PREFIX + "frame_f32"], to=TensorProto.FLOAT, name=_PREFIX + "to_float"
        ),
        helper.make_node(
            "Transpose",
            [_PREFIX + "frame_f32"],
            [_PREFIX + "bgr"],
            perm=[0, 3, 1, 2],
            name=_PREFIX + "to_nchw",
        ),
        helper.make_node(
            "Gather",
            [_PREFIX + "bgr", _PREFIX + "rgb_from_bgr"],
            [_PREFIX + "rgb"],
            axis=1,
            name=_PREFIX + "to_rgb",
        ),
    ]
    resized = _PREFIX + "rgb"
    if tuple(frame_size) != (height, width):
        initializers.append(const("sizes", np.array([batch, 3, height, width], dtype=np.int64)))
        resize_attributes: dict[str, Any] = {  # ONNX attributes: make_node(**kwargs: Any)
            "mode": "linear",
            "coordinate_transformation_mode": "half_pixel",
        }
        if opset >= 18:
            resize_attributes["antialias"] = 0  # OpenCV's INTER_LINEAR does not low-pass either
        nodes.append(
            helper.make_node(
                "Resize",
                [_PREFIX + "rgb", "", "", _PREFIX + "sizes"],
                [_PREFIX + "resized"],
                name=_PREFIX + "resize",
                **resize_attributes,
            )
        )
        resized = _PREFIX + "resized"
    nodes += [
        helper.make_node("Mul", [resized, _PREFIX + "scale"], [_PREFIX + "scaled"], name=_PREFIX + "scale"),
        helper.make_node(
            "Add", [_PREFIX + "scaled", _PREFIX + "offset"], [INPUT_NAME], name=_PREFIX + "offset"
        ),
    ]
    return nodes, initializers


def _topologically_sorted(nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
    """Nodes in an order where every input is produced before use (the float16
    converter appends its input casts at the end, which ONNX's checker rejects)."""
    producer = {name: index for index, node in enumerate(nodes) for name in node.output}
    done: set[int] = set()
    ordered: list[onnx.NodeProto] = []
    for start in range(len(nodes)):
        stack = [(start, False)]
        while stack:  # iterative depth-first search: deep networks exceed the recursion limit
            index, children_done = stack.pop()
            if index in done:
                continue
            if children_done:
                done.add(index)
                ordered.append(nodes[index])
                continue
            stack.append((index, True))
            for name in nodes[index].input:
                parent = producer.get(name)
                if parent is not None and parent not in done:
                    stack.append((parent, False))
    return ordered


def _constant_folded(model: onnx.ModelProto, *, batch: int) -> onnx.ModelProto:
    """The network with its batch fixed and everything shape-dependent folded into constants.

    Exported models compute some sizes at run time (ICNet's pyramid-pooling bins: Shape,
    Floor, Ceil). Converted to float16 as they are, that arithmetic would run in float16;
    folded first (ONNX Runtime's provider-independent basic optimisations, at the static
    shape), only the network's real arithmetic is left to convert.
    """
    import onnxruntime as ort

    static = onnx.ModelProto()
    static.CopyFrom(model)
    batch_dim = static.graph.input[0].type.tensor_type.shape.dim[0]
    batch_dim.Clear()
    batch_dim.dim_value = batch
    with tempfile.TemporaryDirectory() as folder:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = os.path.join(folder, "folded.onnx")
        options.log_severity_level = 3  # the folding pass reports every node it cannot fold
        ort.InferenceSession(static.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return onnx.load(options.optimized_model_filepath)


def _to_float16(model: onnx.ModelProto) -> onnx.ModelProto:
    """The network in float16 with float32 input and output (casts at the edges)."""
    # Shipped inside the onnxruntime wheel; imported lazily because only CUDA engines need it.
    from onnxruntime.transformers.float16 import convert_float_to_float16

    converted = convert_float_to_float16(model, keep_io_types=True, disable_shape_infer=False)
    if not isinstance(converted, onnx.ModelProto):  # pragma: no cover - the converter's contract
        raise ModelFileError("float16 conversion did not return a model")
    return converted
