"""Tiny ONNX segmentation models with real seg_perception metadata, for tests (no torch, built in ms).

Every model is one 1x1 convolution over the normalised RGB input, so what it segments is
known exactly: ``logits[k] = weight[k] · (r, g, b) + bias[k]``. Tests get them through the
``tiny_onnx_model`` fixture (``conftest.py``); plain helper modules import this module.

Kinds (``KINDS``):

- ``threshold``: class 1 where the pixel is bright (normalised R+G+B > 0), every other class
  below it: background elsewhere.
- ``bright_green``: as ``threshold``, and classes 2.. where green dominates red (4·(G−R) > 6).
- ``brightness``: mean 0, std 1 (input = RGB/255): bright pixels → class 1, green-dominant
  pixels → class 2, background where neither reaches 0.45 (parking's lines and free slots).
- ``random``: normal weights (seed 0), no bias: arbitrary but deterministic masks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from seg_perception.config import load_scenario
from seg_perception.inference.metadata import INPUT_NAME, OUTPUT_NAME, ModelMetadata

DEFAULT_INPUT_SIZE = (48, 64)
KINDS = ("threshold", "bright_green", "brightness", "random")
_UNIT_NORM = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}


def tiny_metadata(
    scenario: str,
    *,
    classes: tuple[str, ...] | None = None,
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    model: str = "tiny_conv",
    **norm: tuple[float, float, float],
) -> ModelMetadata:
    """Metadata with the scenario's classes and colours (or ``classes``, colours padded with white)."""
    config = load_scenario(scenario)
    names = tuple(classes or config.classes.names)
    colors = config.classes.colors_hex[: len(names)]
    colors += ("#ffffff",) * (len(names) - len(colors))
    return ModelMetadata(
        model=model, scenario=scenario, classes=names, colors=colors, input_size=tuple(input_size), **norm
    )


def write_conv_model(
    path: Path, metadata: ModelMetadata, weight: np.ndarray, bias: np.ndarray | None = None
) -> Path:
    """Save a 1x1 convolution ``weight`` ((classes, 3) on RGB) + ``bias`` with ``metadata`` as ONNX.

    Input ``image`` (batch, 3, H, W) and output ``logits`` have a dynamic batch and the
    metadata's static input size, as exported models do.
    """
    weight = np.asarray(weight, np.float32).reshape(metadata.num_classes, 3, 1, 1)
    initializers = [numpy_helper.from_array(weight, "weight")]
    inputs = [INPUT_NAME, "weight"]
    if bias is not None:
        initializers.append(numpy_helper.from_array(np.asarray(bias, np.float32).reshape(-1), "bias"))
        inputs.append("bias")
    height, width = metadata.input_size
    logits_shape = ["batch", metadata.num_classes, height, width]
    graph = helper.make_graph(
        [helper.make_node("Conv", inputs, [OUTPUT_NAME])],
        metadata.model,
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, ["batch", 3, height, width])],
        [helper.make_tensor_value_info(OUTPUT_NAME, TensorProto.FLOAT, logits_shape)],
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # readable by every onnxruntime the package supports
    helper.set_model_props(model, metadata.to_props())
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def _weights(kind: str, num_classes: int) -> tuple[np.ndarray, np.ndarray | None, dict]:
    """(weight (classes, 3), bias or None, metadata normalisation) of a kind."""
    brightness = [1.0, 1.0, 1.0]
    if kind == "threshold":
        rows = [[0.0] * 3, brightness] + [[-1.0] * 3] * (num_classes - 2)
        return np.array(rows), None, {}
    if kind == "bright_green":
        rows = [[0.0] * 3, brightness] + [[-4.0, 4.0, 0.0]] * (num_classes - 2)
        return np.array(rows), np.array([0.0, 0.0] + [-6.0] * (num_classes - 2)), {}
    if kind == "brightness":
        if num_classes != 3:
            raise ValueError(f"kind 'brightness' has 3 classes, not {num_classes}")
        rows = np.array([[0, 0, 0], [1, 1, 1], [-2, 2, -2]]) / 3
        return rows, np.array([0.45, 0.0, 0.0]), _UNIT_NORM
    if kind == "random":
        return np.random.default_rng(0).normal(size=(num_classes, 3)), None, {}
    raise ValueError(f"unknown tiny model kind {kind!r}; one of {', '.join(KINDS)}")


def write_tiny_model(
    path: Path,
    scenario: str,
    *,
    kind: str = "threshold",
    input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
    classes: tuple[str, ...] | None = None,
    model: str | None = None,
) -> Path:
    """Write a tiny model of ``kind`` (see the module docstring) for ``scenario`` to ``path``."""
    num_classes = len(classes or load_scenario(scenario).classes.names)
    weight, bias, norm = _weights(kind, num_classes)
    metadata = tiny_metadata(scenario, classes=classes, input_size=input_size, model=model or kind, **norm)
    return write_conv_model(path, metadata, weight, bias)
