"""A training checkpoint from an exported ONNX model: the reverse of :mod:`export`.

Shipped models are ONNX files; their ``.pt`` checkpoints live on the machine that trained them
and get lost. Fine-tuning a shipped model then meant retraining its whole chain. This module
rebuilds the PyTorch model named in the ONNX metadata and fills its weights from the graph:

1. the model runs once on an example input with hooks that record its ``Conv2d`` calls in order
   and which ``BatchNorm2d`` normalises each one's output;
2. the graph's ``Conv`` nodes come in the same order (the exporter traces the same forward); the
   exporter folded each batch norm into its convolution, so a convolution followed by a batch
   norm gets the folded weight, and its batch norm the folded bias with an identity scale;
3. calibration frames (optional: the caller makes them from the model's metadata) set each batch
   norm's running statistics to those of its input, with scale and shift that keep the function
   unchanged. Without them a fine-tune in train mode would normalise by batch statistics the
   folded weights never had;
4. every parameter and buffer must be filled (nothing skipped silently), and the rebuilt model
   must reproduce ONNX Runtime's outputs within a tolerance (the export's parity check, reversed).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from seg_perception.errors import ModelFileError
from seg_perception.inference.export import DEFAULT_TOLERANCE, onnx_outputs
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.mirror import MirrorAveraged

#: Batch norms are fused only into these (the exporter's eval-mode peephole).
_CONV = nn.Conv2d
_NORM = nn.BatchNorm2d


@dataclasses.dataclass(frozen=True)
class RecoverReport:
    """Outcome of a recovery: the checkpoint, what was filled, what was not, and the parity error."""

    path: Path
    convolutions: int
    folded_norms: int
    unused_modules: tuple[str, ...]  # training-only heads the exporter dropped: left as built
    calibration_frames: int
    max_abs_diff: float
    mirror_averaged: bool = False  # the file averaged mirror copies; the checkpoint holds the bare model


def model_options_from_metadata(metadata: ModelMetadata) -> dict[str, Any]:
    """The ``build_model`` options an exported model's metadata implies (its extra heads, resizes)."""
    options: dict[str, Any] = {}
    if metadata.has_marking_points:
        options["marking_points"] = True
        if metadata.marking_point_offsets:
            options["point_offsets"] = True
    if metadata.align_corners:
        options["align_corners"] = True
    return options


def _call_order(
    model: nn.Module, example: torch.Tensor
) -> tuple[list[nn.Conv2d], dict[int, nn.BatchNorm2d], list[nn.Module]]:
    """Convolutions in the order the forward calls them, the batch norm after each (by index),
    and the modules whose results no output uses (training-only heads the exporter dropped)."""
    calls: list[tuple[nn.Conv2d, torch.Tensor]] = []
    produced: dict[int, int] = {}  # id(output tensor) -> index in calls
    norms: dict[int, nn.BatchNorm2d] = {}

    def after_conv(module: nn.Module, _inputs: Any, output: torch.Tensor) -> None:
        produced[id(output)] = len(calls)
        calls.append((module, output))  # type: ignore[arg-type]

    def before_norm(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        index = produced.get(id(inputs[0]))
        if index is None:
            raise ModelFileError(
                f"batch norm {type(module).__name__} does not follow a convolution directly; "
                "the exporter cannot have folded it, so its weights are not in the graph"
            )
        norms[index] = module  # type: ignore[assignment]

    handles = [m.register_forward_hook(after_conv) for m in model.modules() if isinstance(m, _CONV)]
    handles += [m.register_forward_pre_hook(before_norm) for m in model.modules() if isinstance(m, _NORM)]
    try:
        with torch.enable_grad():  # the autograd graph says which convolutions reach an output
            result = model(example)
    finally:
        for handle in handles:
            handle.remove()
    outputs = result if isinstance(result, (list, tuple)) else [result]
    reached: set[Any] = set()
    pending = [t.grad_fn for t in outputs if t.grad_fn is not None]
    while pending:
        node = pending.pop()
        if node in reached:
            continue
        reached.add(node)
        pending.extend(next_node for next_node, _ in node.next_functions if next_node is not None)
    # An in-place op after a convolution moves its output's grad_fn downstream: still reached iff live.
    live = [index for index, (_, output) in enumerate(calls) if output.grad_fn in reached]
    kept = set(live)
    dead: list[nn.Module] = [module for index, (module, _) in enumerate(calls) if index not in kept]
    dead += [norm for index, norm in norms.items() if index not in kept]
    return [calls[i][0] for i in live], {n: norms[i] for n, i in enumerate(live) if i in norms}, dead


def _no_frames(_metadata: ModelMetadata) -> Iterable[np.ndarray]:
    """No calibration frames."""
    return ()


def _statistics(norm: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch norm's running mean and variance (the exporter folds only norms that keep them)."""
    if norm.running_mean is None or norm.running_var is None:
        raise ModelFileError(
            "a batch norm without running statistics cannot have been folded by the exporter"
        )
    return norm.running_mean, norm.running_var


def _graph_convolutions(proto: Any) -> list[tuple[str, np.ndarray, np.ndarray | None]]:
    """``(node name, weight, bias)`` of every ``Conv`` node, in graph order."""
    from onnx import numpy_helper

    initializers = {tensor.name: numpy_helper.to_array(tensor) for tensor in proto.graph.initializer}
    constants = {
        node.output[0]: numpy_helper.to_array(node.attribute[0].t)
        for node in proto.graph.node
        if node.op_type == "Constant"
        and node.attribute
        and node.attribute[0].type == node.attribute[0].TENSOR
    }
    values = {**constants, **initializers}
    found = []
    for node in proto.graph.node:
        if node.op_type != "Conv":
            continue
        if node.input[1] not in values:
            raise ModelFileError(
                f"Conv node {node.name!r}: its weight is computed, not stored; cannot recover it"
            )
        bias = values.get(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        found.append((node.name, values[node.input[1]], bias))
    return found


def fill_from_onnx(model: nn.Module, proto: Any, example: torch.Tensor) -> tuple[int, int, tuple[str, ...]]:
    """Copy the graph's convolution weights into ``model`` (in place).

    Returns:
        The convolutions filled, the batch norms folded into them, and the names of the modules
        no output uses (training-only heads: not in the graph, left as built).

    Raises:
        ModelFileError: the graph's convolutions do not match the model's in number or shape, or a
            parameter or buffer of the model has no counterpart in the graph.
    """
    calls, norms, unused = _call_order(model, example)
    graph = _graph_convolutions(proto)
    if len(calls) != len(graph):
        raise ModelFileError(
            f"the model calls {len(calls)} convolutions, the graph has {len(graph)}: "
            "not the architecture (or options) the file was exported from"
        )
    filled: set[int] = set()
    with torch.no_grad():
        for index, (conv, (name, weight, bias)) in enumerate(zip(calls, graph, strict=True)):
            if tuple(conv.weight.shape) != weight.shape:
                raise ModelFileError(
                    f"convolution {index} ({name}): graph weight {weight.shape} vs model "
                    f"{tuple(conv.weight.shape)}: not the architecture the file was exported from"
                )
            if id(conv) in filled:  # a module called twice (shared weights) must get the same values
                if not np.allclose(conv.weight.numpy(), weight):
                    raise ModelFileError(f"convolution {index} ({name}) reuses a module with other weights")
                continue
            conv.weight.copy_(torch.from_numpy(np.array(weight)))
            folded_bias = (
                torch.from_numpy(np.array(bias)) if bias is not None else torch.zeros(weight.shape[0])
            )
            norm = norms.get(index)
            if norm is not None:  # y = conv(x) + b: the norm is an identity plus the folded bias
                if conv.bias is not None:
                    conv.bias.zero_()
                running_mean, running_var = _statistics(norm)
                norm.weight.fill_(1.0)
                norm.bias.copy_(folded_bias)
                running_mean.zero_()
                running_var.fill_(1.0 - norm.eps)
            elif conv.bias is not None:
                conv.bias.copy_(folded_bias)
            elif bias is not None and np.any(bias):
                raise ModelFileError(
                    f"convolution {index} ({name}) has a bias in the graph but none in the model"
                )
            filled.add(id(conv))
    covered = {
        id(t) for m in (*calls, *norms.values(), *unused) for t in (*m.parameters(False), *m.buffers(False))
    }
    missing = [
        name
        for name, tensor in (*model.named_parameters(), *model.named_buffers())
        if id(tensor) not in covered and not name.endswith("num_batches_tracked")
    ]
    if missing:
        raise ModelFileError(f"no weights in the graph for {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    names = {id(module): name for name, module in model.named_modules()}
    return len(set(map(id, calls))), len(norms), tuple(names[id(module)] for module in unused)


def calibrate_norms(model: nn.Module, frames: Iterable[torch.Tensor]) -> int:
    """Give each batch norm the statistics of its input without changing what the model computes.

    A recovered norm is ``y = x + b``. With the mean ``m`` and variance ``v`` of ``x`` over the
    frames, it becomes ``y = (x - m) / sqrt(v + eps) * sqrt(v + eps) + (m + b)``: the same in eval
    mode, and close to it in train mode, where a batch's statistics stand in for ``m`` and ``v``.

    Returns:
        The number of frames seen.
    """
    norms = [m for m in model.modules() if isinstance(m, _NORM)]
    sums: dict[int, list[torch.Tensor]] = {id(n): [] for n in norms}

    def record(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        x = inputs[0].double()
        sums[id(module)].append(
            torch.stack([x.mean(dim=(0, 2, 3)), (x * x).mean(dim=(0, 2, 3))]) * x.shape[0]
        )

    handles = [n.register_forward_pre_hook(record) for n in norms]
    count = 0
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in frames:
                model(batch)
                count += int(batch.shape[0])
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if not count:
        return 0
    with torch.no_grad():
        for norm in norms:
            if not sums[id(norm)]:
                continue
            mean, square = (torch.stack(sums[id(norm)]).sum(dim=0) / count).float()
            variance = (square - mean * mean).clamp_min(0.0)
            scale = torch.sqrt(variance + norm.eps)
            running_mean, running_var = _statistics(norm)
            norm.bias.add_(mean - running_mean)  # running_mean is 0 after fill_from_onnx
            running_mean.copy_(mean)
            running_var.copy_(variance)
            norm.weight.copy_(scale)
    return count


def recover_checkpoint(
    onnx_path: str | Path,
    out: str | Path,
    *,
    calibration: Callable[[ModelMetadata], Iterable[np.ndarray]] | None = None,
    model_options: dict[str, Any] | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    seed: int = 0,
) -> RecoverReport:
    """Write a training checkpoint with the weights of an exported seg_perception ONNX model.

    Args:
        onnx_path: A file written by ``seg-perception export`` (its metadata names the model).
        out: Destination ``.pt``; loadable by ``train --init``, ``export`` and the torch engine.
        calibration: Given the file's metadata (read here once), preprocessed ``(N, 3, h, w)``
            float32 inputs for :func:`calibrate_norms`; None: no calibration.
        model_options: ``build_model`` options; default: what the metadata implies.
        tolerance: Largest allowed max-abs difference between ONNX Runtime and the rebuilt model.
        seed: Seed of the random example and parity inputs.

    Raises:
        ModelFileError: no seg_perception metadata, an int8 copy (``seg-perception quantize``),
            unknown model, weights that do not fit, or a rebuilt model whose outputs differ from
            the file's.
    """
    import onnx

    from seg_perception.inference.checkpoint import save_checkpoint
    from seg_perception.models import build_model

    onnx_path = Path(onnx_path)
    try:
        proto = onnx.load(str(onnx_path))
    except Exception as err:  # protobuf decode errors have no common base class
        raise ModelFileError(f"{onnx_path} is not a loadable ONNX model ({err})") from err
    metadata = ModelMetadata.from_props(
        {prop.key: prop.value for prop in proto.metadata_props}, source=str(onnx_path)
    )
    if metadata.quantization:
        # its weights are int8 approximations: training must start from the float file
        raise ModelFileError(
            f"{onnx_path} is an int8 copy made by 'seg-perception quantize' from "
            f"{metadata.quantization.get('source', 'a float model')}: recover that file instead"
        )
    options = model_options_from_metadata(metadata) if model_options is None else dict(model_options)
    try:
        model = build_model(metadata.model, metadata.num_classes, **options).eval()
    except Exception as err:
        raise ModelFileError(f"{onnx_path}: cannot build model {metadata.model!r} ({err})") from err
    height, width = metadata.input_size
    generator = torch.Generator().manual_seed(seed)
    example = torch.randn(1, 3, height, width, generator=generator)
    convolutions, folded, unused = fill_from_onnx(model, proto, example)
    frames = calibrate_norms(
        model,
        (torch.from_numpy(np.asarray(batch, np.float32)) for batch in (calibration or _no_frames)(metadata)),
    )
    parity_input = torch.randn(2, 3, height, width, generator=generator)
    # A mirror-averaged file runs the model once on a doubled batch: the same convolutions in the
    # same order, so the model fills alike; its parity is the wrapper's.
    graph_function = MirrorAveraged(model).eval() if metadata.mirror_averaged else model
    with torch.no_grad():
        result = graph_function(parity_input)
    expected_all = [t.numpy() for t in (result if isinstance(result, (list, tuple)) else [result])]
    actual_all = onnx_outputs(onnx_path, parity_input.numpy())
    max_abs_diff = max(
        float(np.max(np.abs(actual - expected)))
        for actual, expected in zip(actual_all, expected_all, strict=True)
    )
    if not max_abs_diff <= tolerance:
        raise ModelFileError(
            f"{onnx_path}: the rebuilt {metadata.model} differs from the file by {max_abs_diff:.3g} "
            f"(> {tolerance}); the recovered weights are not trustworthy"
        )
    extra = dict(metadata.extra)
    extra["recovered_from"] = onnx_path.name
    path = save_checkpoint(
        out,
        model,
        # The checkpoint holds the bare model: mirroring again is an export option.
        dataclasses.replace(metadata, extra=extra, mirror_averaged=False),
        model_name=metadata.model,
        model_options=options,
        step=int(extra.get("steps", 0)),
    )
    return RecoverReport(
        path, convolutions, folded, unused, frames, max_abs_diff, mirror_averaged=metadata.mirror_averaged
    )
