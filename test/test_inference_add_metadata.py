"""``seg-perception add-metadata``: a third-party ONNX file becomes a package model, or is refused."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from seg_perception.cli import main
from seg_perception.inference.engine import create_engine
from seg_perception.inference.pipeline import SegmentationPipeline


def third_party_model(path, classes=2, *, size=(32, 48)):
    """A 1x1 conv 'trained elsewhere': input 'input.1', outputs 'out' and an extra 'probs', no metadata."""
    weight = np.zeros((classes, 3, 1, 1), np.float32)
    weight[1:, :, 0, 0] = 1.0  # bright pixels -> class 1 (and above)
    nodes = [
        helper.make_node("Conv", ["input.1", "w"], ["out"]),
        helper.make_node("Softmax", ["out"], ["probs"], axis=1),
    ]
    graph = helper.make_graph(
        nodes,
        "thirdparty_net",
        [helper.make_tensor_value_info("input.1", TensorProto.FLOAT, [1, 3, *size])],
        [
            helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, classes, *size]),
            helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, classes, *size]),
        ],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_metadata_added_from_a_scenario_and_the_model_runs_everywhere(tmp_path, capsys):
    source = third_party_model(tmp_path / "lanes.onnx")
    with pytest.raises(Exception, match="metadata"):
        create_engine(source)
    out = tmp_path / "lanes_sp.onnx"
    assert main(["add-metadata", str(source), "--scenario", "highway", "--out", str(out)]) == 0
    assert "input 32x48" in capsys.readouterr().out
    with SegmentationPipeline.load(model_file=out) as pipeline:
        assert pipeline.scenario.name == "highway" and pipeline.engine.metadata.model == "thirdparty_net"
        frame = np.zeros((64, 96, 3), np.uint8)
        frame[:, 40:50] = 255
        mask = pipeline.process(frame).mask
        assert mask[:, 42:48].min() == 1 and mask[:, :30].max() == 0
    proto = onnx.load(str(out))
    assert [i.name for i in proto.graph.input] == ["image"]
    assert [o.name for o in proto.graph.output] == ["logits"]
    fused = create_engine(out, fused=True)  # the GPU path's fused graph needs these names
    assert fused.predict(np.zeros((64, 96, 3), np.uint8)).shape == (64, 96)


def test_class_count_mismatch_is_refused(tmp_path, capsys):
    source = third_party_model(tmp_path / "net.onnx", classes=2)
    out = tmp_path / "x.onnx"
    assert main(["add-metadata", str(source), "--scenario", "road", "--out", str(out)]) == 1
    assert "output (1, 2, 32, 48) does not match 3 classes" in capsys.readouterr().err
    assert not out.exists()


def test_custom_classes_and_dynamic_input_size(tmp_path):
    source = third_party_model(tmp_path / "net.onnx", classes=3)
    model = onnx.load(str(source))
    for dim in model.graph.input[0].type.tensor_type.shape.dim[2:]:
        dim.dim_param = "size"
    onnx.save(model, str(source))
    out = tmp_path / "custom.onnx"
    argv = ["add-metadata", str(source), "--classes", "background,curb,arrow", "--out", str(out)]
    assert main(argv) == 1  # dynamic size: --input-size needed
    assert main([*argv, "--input-size", "32x48", "--mean", "0", "0", "0", "--std", "1", "1", "1"]) == 0
    with SegmentationPipeline.load(model_file=out) as pipeline:
        assert pipeline.class_names == ("background", "curb", "arrow") and pipeline.scenario.name == "custom"
        assert pipeline.engine.metadata.mean == (0.0, 0.0, 0.0)
