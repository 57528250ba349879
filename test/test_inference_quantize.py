"""``seg-perception quantize``: an int8 copy of an exported model that follows the float one."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import onnx
import pytest

from seg_perception.cli import main
from seg_perception.errors import ModelFileError
from seg_perception.inference.engine import create_engine
from seg_perception.inference.errors import QuantizationError
from seg_perception.inference.onnxruntime_engine import read_onnx_metadata
from seg_perception.inference.quantize import METHOD, QuantizeReport, quantize_model
from seg_perception.inference.recover import recover_checkpoint
from seg_perception.tools.quantize import CHECK_SEED
from seg_perception.tools.synthetic_batches import synthetic_batches

SHIPPED = Path(__file__).resolve().parents[1] / "weights"
SOURCE = SHIPPED / "parking.onnx"  # the smallest shipped model with a marking-point head


@pytest.fixture(scope="module")
def quantized(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, QuantizeReport]:
    out = tmp_path_factory.mktemp("quantize") / "parking_int8.onnx"
    metadata = read_onnx_metadata(SOURCE)
    report = quantize_model(
        SOURCE,
        out,
        calibration=synthetic_batches(metadata, 8, batch=4),
        check=synthetic_batches(metadata, 3, first_seed=CHECK_SEED),
        calibration_note={"seeds": [90000, 90008]},
    )
    return out, report


def test_the_copy_is_int8_smaller_and_follows_the_float_model(quantized: tuple[Path, QuantizeReport]) -> None:
    out, report = quantized
    graph = onnx.load(str(out)).graph
    ops = {node.op_type for node in graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    int8_weights = [t for t in graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8_weights, "the convolution weights are stored as int8"
    assert report.size_bytes < 0.6 * SOURCE.stat().st_size
    assert (report.calibration_frames, report.check_frames) == (8, 3)
    assert report.mask_agreement >= 0.97
    assert report.max_heat_difference is not None and report.max_heat_difference < 0.2


def test_the_metadata_is_carried_over_and_says_how_the_file_was_made(
    quantized: tuple[Path, QuantizeReport],
) -> None:
    out, _ = quantized
    source, copy = read_onnx_metadata(SOURCE), read_onnx_metadata(out)
    assert dataclasses.replace(copy, quantization={}) == source  # classes, sizes, scale, heads: unchanged
    assert copy.quantization["method"] == METHOD
    assert copy.quantization["source"] == SOURCE.name
    assert copy.quantization["calibration_frames"] == 8
    assert copy.quantization["calibration"] == {"seeds": [90000, 90008]}


def test_an_engine_runs_the_copy_and_says_it_is_int8(quantized: tuple[Path, QuantizeReport]) -> None:
    out, _ = quantized
    frame = np.random.default_rng(0).integers(0, 255, (240, 320, 3), dtype=np.uint8)
    with (
        create_engine(out, engine="onnxruntime", device="cpu", intra_op_threads=1) as engine,
        create_engine(SOURCE, engine="onnxruntime", device="cpu", intra_op_threads=1) as reference,
    ):
        assert "int8" in engine.describe() and "int8" not in reference.describe()
        mask, _ = engine.predict_masks(frame)
        expected, _ = reference.predict_masks(frame)
    assert mask.shape == expected.shape == frame.shape[:2]


def test_a_quantized_file_is_not_quantized_again(
    quantized: tuple[Path, QuantizeReport], tmp_path: Path
) -> None:
    out, _ = quantized
    metadata = read_onnx_metadata(out)
    with pytest.raises(QuantizationError, match="quantized already"):
        quantize_model(
            out,
            tmp_path / "twice.onnx",
            calibration=synthetic_batches(metadata, 1),
            check=synthetic_batches(metadata, 1),
            calibration_note={},
        )
    assert not (tmp_path / "twice.onnx").exists()


def test_a_copy_that_does_not_follow_the_float_model_is_not_written(tmp_path: Path) -> None:
    metadata = read_onnx_metadata(SOURCE)
    # calibrated on a single black frame, the activation ranges fit no real scene
    black = np.zeros((1, 3, *metadata.input_size), np.float32)
    with pytest.raises(QuantizationError, match="check pixels"):
        quantize_model(
            SOURCE,
            tmp_path / "bad.onnx",
            calibration=[black],
            check=synthetic_batches(metadata, 2, first_seed=CHECK_SEED),
            calibration_note={},
            min_agreement=0.999,
        )
    assert not (tmp_path / "bad.onnx").exists()


def test_missing_frames_are_errors(tmp_path: Path) -> None:
    metadata = read_onnx_metadata(SOURCE)
    with pytest.raises(QuantizationError, match="calibration frames"):
        quantize_model(
            SOURCE,
            tmp_path / "a.onnx",
            calibration=[],
            check=synthetic_batches(metadata, 1),
            calibration_note={},
        )
    with pytest.raises(QuantizationError, match="check frames"):
        quantize_model(
            SOURCE,
            tmp_path / "b.onnx",
            calibration=synthetic_batches(metadata, 1),
            check=[],
            calibration_note={},
        )
    assert not list(tmp_path.iterdir())


def test_the_command_writes_the_copy_and_reports_the_agreement(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "int8.onnx"
    assert (
        main(["quantize", str(SOURCE), "--out", str(out), "--calibration-scenes", "4", "--check-scenes", "2"])
        == 0
    )
    printed = capsys.readouterr().out
    assert f"wrote {out}" in printed and "4 synthetic scenes" in printed and "2 other scenes" in printed
    calibration = read_onnx_metadata(out).quantization["calibration"]
    assert calibration["seeds"] == [90000, 90004] and calibration["generator"].endswith("'parking' scenes")


def test_recover_refuses_the_copy_and_names_its_float_source(
    quantized: tuple[Path, QuantizeReport], tmp_path: Path
) -> None:
    out, _ = quantized
    with pytest.raises(ModelFileError, match=r"int8 copy .* from parking\.onnx: recover that file instead"):
        recover_checkpoint(out, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_the_copy_can_carry_the_point_threshold_it_was_judged_at(tmp_path: Path) -> None:
    metadata = read_onnx_metadata(SOURCE)
    out = tmp_path / "judged_int8.onnx"

    def batches(count: int, seed: int) -> object:
        return synthetic_batches(metadata, count, first_seed=seed)

    quantize_model(
        SOURCE,
        out,
        calibration=batches(2, 90000),
        check=batches(1, CHECK_SEED),
        calibration_note={},
        marking_point_threshold=0.4,
    )
    copy = read_onnx_metadata(out)
    assert copy.marking_point_threshold == 0.4
    assert dataclasses.replace(copy, quantization={}, marking_point_threshold=None) == metadata
    for bad in (0.0, 1.0, -0.2):
        with pytest.raises(QuantizationError, match="marking_point_threshold"):
            quantize_model(
                SOURCE,
                tmp_path / "bad.onnx",
                calibration=batches(1, 90000),
                check=[],
                calibration_note={},
                marking_point_threshold=bad,
            )
    assert not (tmp_path / "bad.onnx").exists()
    with pytest.raises(QuantizationError, match="no marking-point output"):
        quantize_model(
            SHIPPED / "highway.onnx",
            tmp_path / "bad.onnx",
            calibration=[],
            check=[],
            calibration_note={},
            marking_point_threshold=0.4,
        )


def _constants(path: Path) -> dict[str, np.ndarray]:
    return {t.name: onnx.numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def _quantize_source(out: Path, **options: object) -> None:
    """``SOURCE`` quantized on 4 scenes other than the ``quantized`` fixture's (frames are drawn lazily:
    a refusal before calibration costs none)."""
    metadata = read_onnx_metadata(SOURCE)
    quantize_model(
        SOURCE,
        out,
        calibration=synthetic_batches(metadata, 4, first_seed=95000),
        check=synthetic_batches(metadata, 2, first_seed=CHECK_SEED),
        calibration_note={},
        **options,  # type: ignore[arg-type]
    )


def test_an_earlier_copys_ranges_are_kept_except_downstream_of_the_recalibrated_modules(
    quantized: tuple[Path, QuantizeReport], tmp_path: Path
) -> None:
    """A model whose head alone was retrained gets an int8 copy whose other layers are the earlier
    copy's bit for bit; calibrated afresh on other frames, they would move."""
    earlier, _ = quantized
    reference = _constants(earlier)

    def changed_against_earlier(name: str, **options: object) -> set[str]:
        _quantize_source(tmp_path / name, **options)
        constants = _constants(tmp_path / name)
        assert constants.keys() == reference.keys()
        return {name for name, value in constants.items() if not np.array_equal(value, reference[name])}

    assert changed_against_earlier("fresh.onnx")
    assert not changed_against_earlier("kept.onnx", ranges_from=earlier)
    head = changed_against_earlier("head.onnx", ranges_from=earlier, recalibrate=("classifier",))
    assert head and all("classifier" in name for name in head), head
    entry = read_onnx_metadata(tmp_path / "head.onnx").quantization["ranges_from"]
    assert entry == {"file": earlier.name, "recalibrated": ["classifier"]}


def test_ranges_from_refuses_a_float_file_and_unknown_modules(
    quantized: tuple[Path, QuantizeReport], tmp_path: Path
) -> None:
    earlier, _ = quantized
    out = tmp_path / "x.onnx"
    with pytest.raises(QuantizationError, match="needs ranges_from"):
        _quantize_source(out, recalibrate=("classifier",))
    with pytest.raises(QuantizationError, match="no int8 copy"):
        _quantize_source(out, ranges_from=SOURCE)
    with pytest.raises(QuantizationError, match="'no_such_module', which has no node"):
        _quantize_source(out, ranges_from=earlier, recalibrate=("no_such_module",))
    assert not out.exists()
