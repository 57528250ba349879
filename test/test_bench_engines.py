"""Which benchmark engines run where: skip reasons from fake provider lists, provider choices."""

from pathlib import Path

import pytest

from seg_perception.bench.engines import (
    CHECKPOINT,
    ENGINE_CHOICES,
    ONNX,
    Capabilities,
    engine_providers,
    resolve_precision,
    skip_reason,
)
from seg_perception.inference import providers as prov

CPU_ONLY = Capabilities(ort_providers=(prov.CPU,), torch_available=True, torch_cuda=False)
FULL_GPU = Capabilities(
    ort_providers=(prov.TENSORRT, prov.CUDA, prov.CPU), torch_available=True, torch_cuda=True
)
BOTH = {ONNX, CHECKPOINT}


def test_cpu_only_machine_skips_every_gpu_engine_with_a_reason():
    reasons = {
        name: skip_reason(choice, CPU_ONLY, model_kinds=BOTH) for name, choice in ENGINE_CHOICES.items()
    }
    assert reasons["onnxruntime-cpu"] is None
    assert reasons["torch-cpu"] is None
    assert prov.CUDA in reasons["onnxruntime-cuda"]
    assert prov.TENSORRT in reasons["onnxruntime-tensorrt"]
    assert "CUDA" in reasons["torch-cuda"]


def test_gpu_machine_runs_every_engine():
    assert all(skip_reason(choice, FULL_GPU, model_kinds=BOTH) is None for choice in ENGINE_CHOICES.values())


def test_gpu_providers_without_a_cuda_device_are_skipped():
    # onnxruntime-gpu installed on a machine without a GPU still lists its providers.
    listed = Capabilities(
        ort_providers=(prov.TENSORRT, prov.CUDA, prov.CPU), torch_available=True, torch_cuda=False
    )
    assert "no CUDA device" in skip_reason(ENGINE_CHOICES["onnxruntime-cuda"], listed, model_kinds=BOTH)
    assert skip_reason(ENGINE_CHOICES["onnxruntime-cpu"], listed, model_kinds=BOTH) is None


def test_missing_libraries_and_model_formats_are_reasons():
    no_libs = Capabilities(
        ort_providers=None,
        torch_available=False,
        torch_cuda=False,
        notes={"onnxruntime": "No module named 'onnxruntime'"},
    )
    assert "onnxruntime is not installed" in skip_reason(
        ENGINE_CHOICES["onnxruntime-cpu"], no_libs, model_kinds=BOTH
    )
    assert "torch is not installed" in skip_reason(ENGINE_CHOICES["torch-cpu"], no_libs, model_kinds=BOTH)
    only_onnx = skip_reason(ENGINE_CHOICES["torch-cpu"], FULL_GPU, model_kinds={ONNX})
    assert "checkpoint" in only_onnx
    assert "onnx" in skip_reason(ENGINE_CHOICES["onnxruntime-cpu"], FULL_GPU, model_kinds={CHECKPOINT})


def test_provider_lists_per_engine(tmp_path: Path):
    cuda = engine_providers(ENGINE_CHOICES["onnxruntime-cuda"], fp16=True, trt_cache_dir=tmp_path)
    assert [prov.provider_name(entry) for entry in cuda] == [prov.CUDA, prov.CPU]
    trt = engine_providers(ENGINE_CHOICES["onnxruntime-tensorrt"], fp16=True, trt_cache_dir=tmp_path)
    assert [prov.provider_name(entry) for entry in trt] == [prov.TENSORRT, prov.CUDA, prov.CPU]
    assert trt[0][1]["trt_fp16_enable"] is True
    assert trt[0][1]["trt_engine_cache_path"] == str(tmp_path)
    cpu = engine_providers(ENGINE_CHOICES["onnxruntime-cpu"], fp16=False, trt_cache_dir=tmp_path)
    assert cpu == [prov.CPU]
    assert engine_providers(ENGINE_CHOICES["torch-cuda"], fp16=False, trt_cache_dir=tmp_path) is None


@pytest.mark.parametrize(
    ("engine", "asked", "expected"),
    [
        ("onnxruntime-tensorrt", "auto", "fp16"),
        ("torch-cuda", "auto", "fp16"),
        ("onnxruntime-cuda", "auto", "fp16"),
        ("onnxruntime-cpu", "fp16", "fp32"),
        ("onnxruntime-cpu", "bf16", "fp32"),
        ("torch-cpu", "auto", "fp32"),
        ("onnxruntime-tensorrt", "fp32", "fp32"),
        ("torch-cuda", "bf16", "bf16"),
        ("onnxruntime-tensorrt", "bf16", "fp16"),
    ],
)
def test_precision_is_what_the_engine_really_runs(engine, asked, expected):
    assert resolve_precision(ENGINE_CHOICES[engine], asked) == expected
