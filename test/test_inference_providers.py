"""Provider selection and the CUDA policy, against fake lists of available providers."""

import logging

import pytest

from seg_perception.inference import providers as prov
from seg_perception.inference.errors import EngineError

CPU_ONLY = ["AzureExecutionProvider", prov.CPU]
FULL_GPU = [prov.TENSORRT, prov.CUDA, prov.CPU]


def names(entries):
    return [prov.provider_name(entry) for entry in entries]


def test_cpu_device_asks_for_cpu_only():
    assert names(prov.default_providers("cpu")) == [prov.CPU]


def test_cuda_device_prefers_tensorrt_then_cuda_then_cpu_with_options(tmp_path):
    entries = prov.default_providers("cuda:1", fp16=True, trt_cache_dir=tmp_path)
    assert names(entries) == [prov.TENSORRT, prov.CUDA, prov.CPU]
    trt_options = entries[0][1]
    assert trt_options["trt_fp16_enable"] is True
    assert trt_options["trt_engine_cache_enable"] is True
    assert trt_options["trt_engine_cache_path"] == str(tmp_path)
    assert trt_options["device_id"] == 1
    assert entries[1][1]["device_id"] == 1


def test_unknown_device_is_rejected():
    with pytest.raises(EngineError, match="unknown device"):
        prov.default_providers("tpu")


@pytest.mark.parametrize(
    ("available", "expected"),
    [
        (FULL_GPU, [prov.TENSORRT, prov.CUDA, prov.CPU]),
        ([prov.CUDA, prov.CPU], [prov.CUDA, prov.CPU]),
        (CPU_ONLY, [prov.CPU]),
    ],
)
def test_filter_keeps_available_providers_in_requested_order(available, expected):
    requested, usable = prov.resolve_providers(device="cuda", providers=None, available=available)
    assert names(requested) == [prov.TENSORRT, prov.CUDA, prov.CPU]
    assert names(usable) == expected


def test_explicit_providers_win_and_cpu_is_always_appended():
    requested, usable = prov.resolve_providers(device="cpu", providers=[prov.CUDA], available=FULL_GPU)
    assert names(requested) == [prov.CUDA]
    assert names(usable) == [prov.CUDA, prov.CPU]


def test_gpu_obtained_passes_silently(caplog):
    with caplog.at_level(logging.WARNING):
        prov.check_gpu_obtained([prov.CUDA, prov.CPU], [prov.CUDA, prov.CPU], FULL_GPU, policy="fail")
    assert not caplog.records


def test_gpu_provider_missing_beside_another_gpu_provider_is_said(caplog):
    logger = logging.getLogger("test.providers")
    requested = prov.default_providers("cuda")
    with caplog.at_level(logging.WARNING, logger="test.providers"):
        prov.check_gpu_obtained(requested, [prov.CUDA, prov.CPU], FULL_GPU, policy="fail", logger=logger)
    message = caplog.records[-1].getMessage()
    assert message.startswith(prov.TENSORRT) and "not in use" in message and prov.CUDA in message


def test_tensorrt_keeps_engine_and_timing_caches_with_a_per_model_prefix(tmp_path):
    entries = prov.default_providers("cuda", trt_cache_dir=tmp_path)
    assert entries[0][1]["trt_timing_cache_enable"] is True
    assert entries[0][1]["trt_timing_cache_path"] == str(tmp_path)
    prefixed = prov.with_engine_cache_prefix(entries, "parkéing_3f2a-v1.b1")
    assert prefixed[0][1]["trt_engine_cache_prefix"] == "park_ing_3f2a_v1_b1"  # a safe file-name part
    assert prefixed[1:] == entries[1:]
    assert "trt_engine_cache_prefix" not in entries[0][1]  # the input is not modified
    uncached = prov.default_providers("cuda")
    assert prov.with_engine_cache_prefix(uncached, "model") == uncached


def test_cuda_graphs_go_to_tensorrt_or_else_to_cuda():
    with_trt = prov.with_cuda_graphs(prov.default_providers("cuda"))
    assert with_trt[0][1]["trt_cuda_graph_enable"] is True
    assert "enable_cuda_graph" not in with_trt[1][1]  # CUDA graphs there need every node on CUDA
    cuda_only = prov.with_cuda_graphs([(prov.CUDA, {"device_id": 0}), prov.CPU])
    assert cuda_only == [(prov.CUDA, {"device_id": 0, "enable_cuda_graph": True}), prov.CPU]
    assert prov.with_cuda_graphs([prov.CPU]) == [prov.CPU]
    assert prov.uses_tensorrt(with_trt) and not prov.uses_tensorrt(cuda_only)
    assert prov.uses_cuda_graphs(with_trt) and prov.uses_cuda_graphs(cuda_only)
    assert not prov.uses_cuda_graphs(prov.default_providers("cuda"))
    # ONNX Runtime parses str(value): "True", "true" and, for the CUDA provider, "1" mean on.
    assert prov.uses_cuda_graphs([(prov.CUDA, {"enable_cuda_graph": "1"})])
    assert not prov.uses_cuda_graphs([(prov.TENSORRT, {"trt_cuda_graph_enable": False}), prov.CPU])


def test_cpu_request_never_warns(caplog):
    with caplog.at_level(logging.WARNING):
        prov.check_gpu_obtained([prov.CPU], [prov.CPU], CPU_ONLY, policy="fail")
    assert not caplog.records


def test_fallback_policy_warns_with_providers_and_fix(caplog):
    logger = logging.getLogger("test.providers")
    requested = prov.default_providers("cuda")
    with caplog.at_level(logging.WARNING, logger="test.providers"):
        prov.check_gpu_obtained(requested, [prov.CPU], CPU_ONLY, policy="fallback_to_cpu", logger=logger)
    message = caplog.records[-1].getMessage()
    assert prov.CUDA in message and "AzureExecutionProvider" in message
    assert "pip install .[gpu]" in message and "CPU" in message


def test_fail_policy_raises_naming_requested_available_and_fix():
    requested = prov.default_providers("cuda")
    with pytest.raises(EngineError) as caught:
        prov.check_gpu_obtained(requested, [prov.CPU], CPU_ONLY, policy="fail")
    message = str(caught.value)
    assert prov.TENSORRT in message and prov.CUDA in message
    assert "AzureExecutionProvider" in message
    assert "pip install .[gpu]" in message


def test_unknown_policy_is_rejected():
    with pytest.raises(EngineError, match="cuda_policy"):
        prov.check_gpu_obtained([prov.CPU], [prov.CPU], CPU_ONLY, policy="ignore")


def test_torch_device_resolution(caplog):
    assert prov.resolve_torch_device("cuda:0", cuda_available=True, policy="fail") == "cuda:0"
    assert prov.resolve_torch_device("cpu", cuda_available=False, policy="fail") == "cpu"
    with caplog.at_level(logging.WARNING):
        assert prov.resolve_torch_device("cuda", cuda_available=False, policy="fallback_to_cpu") == "cpu"
    assert "cuda" in caplog.records[-1].getMessage()
    with pytest.raises(EngineError, match="no usable CUDA"):
        prov.resolve_torch_device("cuda", cuda_available=False, policy="fail")
    with pytest.raises(EngineError, match="unknown device"):
        prov.resolve_torch_device("gpu", cuda_available=True, policy="fail")
