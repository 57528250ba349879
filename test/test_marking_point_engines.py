"""A model with the marking-point head: export, checkpoint, and every engine give the same points."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch

from seg_perception.inference.checkpoint import save_checkpoint
from seg_perception.inference.engine import create_engine
from seg_perception.inference.export import export_onnx
from seg_perception.inference.metadata import MARKING_POINTS_NAME, ModelMetadata
from seg_perception.models import build_model

SIZE = (64, 64)


@pytest.fixture(scope="module", params=[False, True], ids=["heat", "heat_offsets"])
def point_model_files(request, tmp_path_factory):
    """The exported head without and with the sub-cell offset channels (option point_offsets)."""
    torch.manual_seed(0)
    offsets = bool(request.param)
    model = build_model("icnet_lite", 3, marking_points=True, point_offsets=offsets).eval()
    if offsets:  # the offset branch starts at zero; random weights make its channels worth comparing
        with torch.no_grad():
            model.point_head.offset[-1].weight.normal_(0.0, 0.1)
    metadata = ModelMetadata(
        model="icnet_lite",
        scenario="parking",
        classes=("background", "slot_line", "free_slot"),
        colors=("#000000", "#FFFFFF", "#30E060"),
        input_size=SIZE,
        marking_point_stride=4,
        metres_per_pixel=0.04,
    )
    folder = tmp_path_factory.mktemp("points")
    onnx_path = folder / "points.onnx"
    report = export_onnx(model, metadata, onnx_path)
    checkpoint = save_checkpoint(
        folder / "points.pt",
        model,
        metadata,
        model_name="icnet_lite",
        model_options={"marking_points": True, "point_offsets": offsets},
    )
    return onnx_path, checkpoint, report, 5 if offsets else 3


def frame(seed=0, size=SIZE):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def test_export_writes_named_outputs_and_metadata(point_model_files):
    onnx_path, _, report, channels = point_model_files
    proto = onnx.load(str(onnx_path))
    assert [output.name for output in proto.graph.output] == ["logits", MARKING_POINTS_NAME]
    assert report.max_abs_diff < 1e-3
    engine = create_engine(onnx_path, intra_op_threads=1)
    assert engine.metadata.has_marking_points and engine.metadata.marking_point_stride == 4
    assert engine.metadata.marking_point_offsets == (channels == 5)
    assert engine.metadata.marking_point_channels == channels
    assert engine.metadata.metres_per_pixel == pytest.approx(0.04)


def test_every_engine_returns_the_same_marking_points(point_model_files, tmp_path):
    onnx_path, checkpoint, _, channels = point_model_files
    image = frame(1, (96, 80))  # not the model's size: the engine resizes
    results = {}
    plain = create_engine(onnx_path, intra_op_threads=1, fused=False)
    fused = create_engine(onnx_path, intra_op_threads=1, fused=True, fused_cache_dir=tmp_path)
    torch_engine = create_engine(checkpoint, engine="torch")
    assert torch_engine.metadata.marking_point_channels == channels  # from the built model
    for name, engine in (("plain", plain), ("fused", fused), ("torch", torch_engine)):
        mask, model_mask = engine.predict_masks(image)
        assert mask.shape == (96, 80) and model_mask.shape == SIZE
        points = engine.last_outputs[MARKING_POINTS_NAME]
        assert points.shape == (1, channels, 16, 16) and points.dtype == np.float32
        results[name] = (model_mask, points)
    results["torch_device"] = (None, None)
    masks = torch_engine._predict_batch_on_device([image])  # the CUDA path's code, on the CPU device
    results["torch_device"] = (masks[0][1], torch_engine.last_outputs[MARKING_POINTS_NAME])
    reference_mask, reference_points = results["plain"]
    for name, (model_mask, points) in results.items():
        # Heat to 1e-3; the direction of an untrained head is a normalised near-zero vector, so the
        # engines' slightly different resizes move it more.
        np.testing.assert_allclose(points[:, 0], reference_points[:, 0], atol=1e-3, err_msg=name)
        np.testing.assert_allclose(points[:, 1:3], reference_points[:, 1:3], atol=3e-2, err_msg=name)
        # Offsets (cells) are linear in the features: as close as the heat.
        np.testing.assert_allclose(points[:, 3:], reference_points[:, 3:], atol=1e-2, err_msg=name)
        assert np.mean(model_mask == reference_mask) > 0.99, name
    batch = plain.predict_masks_batch([image, frame(2)])
    assert len(batch) == 2 and plain.last_outputs[MARKING_POINTS_NAME].shape == (2, channels, 16, 16)
    fused.predict_masks_batch([image, frame(2)])
    np.testing.assert_allclose(
        fused.last_outputs[MARKING_POINTS_NAME], plain.last_outputs[MARKING_POINTS_NAME], atol=3e-2
    )


def test_plain_models_have_no_extra_outputs(tiny_onnx_model):
    engine = create_engine(tiny_onnx_model("parking"), intra_op_threads=1)
    engine.predict_masks(frame())
    assert engine.last_outputs == {}
    assert not engine.metadata.has_marking_points
