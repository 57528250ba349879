"""ONNX export (TorchScript exporter, opset 17) with Mish, run in ONNX Runtime at another size."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from seg_perception.models import build_model

ort = pytest.importorskip("onnxruntime")


@pytest.mark.parametrize("name", ["icnet_lite", "hrnetv2_w18_small_v1"])
def test_export_with_mish_matches_pytorch(name: str, tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = build_model(name, 3, activation="mish").eval()
    path = tmp_path / f"{name}.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter is deprecated but still supported
        torch.onnx.export(
            model,
            (torch.randn(1, 3, 64, 96),),
            str(path),
            dynamo=False,
            opset_version=17,
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes={
                "image": {0: "batch", 2: "height", 3: "width"},
                "logits": {0: "batch", 2: "height", 3: "width"},
            },
        )
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert {"Softplus", "Tanh"} <= ops  # Mish exported as Mul(x, Tanh(Softplus(x)))
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    images = torch.randn(2, 3, 70, 90)  # other batch and a size not divisible by 32
    with torch.no_grad():
        expected = model(images).numpy()
    (got,) = session.run(None, {"image": images.numpy()})
    assert got.shape == (2, 3, 70, 90)
    assert float(np.abs(got - expected).max()) < 1e-4
