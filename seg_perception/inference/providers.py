"""ONNX Runtime execution-provider selection, as pure functions testable without a GPU.

A provider entry is either a name (``"CPUExecutionProvider"``) or a ``(name, options)``
tuple, the two forms ``onnxruntime.InferenceSession(providers=...)`` accepts.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from typing import Any, Literal, Protocol

from seg_perception.inference.errors import EngineError

TENSORRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
CPU = "CPUExecutionProvider"
GPU_PROVIDERS = (TENSORRT, CUDA)
CUDA_POLICIES = ("fallback_to_cpu", "fail")
GPU_INSTALL_HINT = (
    "install the GPU runtime with 'pip install .[gpu]' (onnxruntime-gpu) and check the CUDA driver"
)

ProviderEntry = str | tuple[str, dict[str, Any]]


class EngineLogger(Protocol):
    """Where engines send load messages and fallback warnings: a ``logging.Logger`` or the
    node's rclpy logger facade. Messages arrive pre-formatted (rclpy takes one string)."""

    def info(self, message: str, /) -> None: ...

    def warning(self, message: str, /) -> None: ...


CudaPolicy = Literal["fallback_to_cpu", "fail"]


def check_cuda_policy(policy: str) -> CudaPolicy:
    """``policy`` as a :data:`CudaPolicy`.

    Raises:
        EngineError: not one of :data:`CUDA_POLICIES`.
    """
    if policy == "fallback_to_cpu":
        return "fallback_to_cpu"
    if policy == "fail":
        return "fail"
    raise EngineError(f"unknown cuda_policy {policy!r}; use one of {', '.join(CUDA_POLICIES)}")


def provider_name(entry: ProviderEntry) -> str:
    """Name of a provider entry, with or without options."""
    return entry if isinstance(entry, str) else entry[0]


def default_providers(
    device: str, *, fp16: bool = False, trt_cache_dir: str | os.PathLike[str] | None = None
) -> list[ProviderEntry]:
    """Preferred provider order for a device, before checking what is installed.

    Args:
        device: ``cpu`` or ``cuda`` (``cuda:N`` selects a GPU).
        fp16: Let TensorRT build FP16 engines.
        trt_cache_dir: Where TensorRT caches built engines; none disables the cache.

    Raises:
        EngineError: unknown device.
    """
    kind, _, index = device.partition(":")
    if kind == "cpu":
        return [CPU]
    if kind != "cuda":
        raise EngineError(f"unknown device {device!r}; use 'cpu' or 'cuda' (or 'cuda:N')")
    device_id = int(index) if index else 0
    trt_options: dict[str, Any] = {"device_id": device_id, "trt_fp16_enable": bool(fp16)}
    if trt_cache_dir is not None:
        # Engines and kernel timings survive restarts: a second start loads instead of building.
        trt_options["trt_engine_cache_enable"] = True
        trt_options["trt_engine_cache_path"] = str(trt_cache_dir)
        trt_options["trt_timing_cache_enable"] = True
        trt_options["trt_timing_cache_path"] = str(trt_cache_dir)
    return [(TENSORRT, trt_options), (CUDA, {"device_id": device_id}), CPU]


def filter_available(requested: Sequence[ProviderEntry], available: Sequence[str]) -> list[ProviderEntry]:
    """Keep the requested providers that ONNX Runtime has, in the requested order.

    The CPU provider is always appended when missing so a session can be created.
    """
    kept = [entry for entry in requested if provider_name(entry) in available]
    if CPU not in [provider_name(entry) for entry in kept]:
        kept.append(CPU)
    return kept


def wants_gpu(requested: Sequence[ProviderEntry]) -> bool:
    """True when any GPU provider was asked for."""
    return any(provider_name(entry) in GPU_PROVIDERS for entry in requested)


def has_gpu(providers: Sequence[ProviderEntry]) -> bool:
    """True when any provider in the list runs on the GPU."""
    return wants_gpu(providers)


def uses_tensorrt(providers: Sequence[ProviderEntry]) -> bool:
    """True when TensorRT is among the providers."""
    return any(provider_name(entry) == TENSORRT for entry in providers)


def with_engine_cache_prefix(providers: Sequence[ProviderEntry], model_key: str) -> list[ProviderEntry]:
    """Providers with TensorRT's engine-cache file prefix set to ``model_key``.

    TensorRT's cache names hash the graph's structure, not its weights, so two
    models of the same architecture (highway and parking ICNets) would share an
    engine; a prefix per model file keeps them apart. Only letters, digits and ``_``
    are kept. Other providers are returned unchanged.
    """
    prefix = "".join(char if char.isascii() and char.isalnum() else "_" for char in model_key)
    return [
        (entry[0], {**entry[1], "trt_engine_cache_prefix": prefix})
        if not isinstance(entry, str) and entry[0] == TENSORRT and entry[1].get("trt_engine_cache_enable")
        else entry
        for entry in providers
    ]


def with_cuda_graphs(providers: Sequence[ProviderEntry]) -> list[ProviderEntry]:
    """Providers asked to record and replay CUDA graphs (static shapes and bound buffers needed).

    TensorRT records its own (``trt_cuda_graph_enable``); the CUDA provider's
    (``enable_cuda_graph``) is asked for only when TensorRT is absent, because it
    requires every node on the CUDA provider.
    """
    tensorrt = uses_tensorrt(providers)
    result: list[ProviderEntry] = []
    for entry in providers:
        name, options = (entry, {}) if isinstance(entry, str) else entry
        if name == TENSORRT:
            result.append((name, {**options, "trt_cuda_graph_enable": True}))
        elif name == CUDA and not tensorrt:
            result.append((name, {**options, "enable_cuda_graph": True}))
        else:
            result.append(entry)
    return result


def uses_cuda_graphs(providers: Sequence[ProviderEntry]) -> bool:
    """True when a provider entry asks for CUDA graphs (see :func:`with_cuda_graphs`)."""
    keys = ("trt_cuda_graph_enable", "enable_cuda_graph")
    # ONNX Runtime receives str(value): "True"/"true" mean on (and "1" for the CUDA provider).
    return any(
        not isinstance(entry, str) and str(entry[1].get(key, "")).lower() in ("true", "1")
        for entry in providers
        for key in keys
    )


def check_gpu_obtained(
    requested: Sequence[ProviderEntry],
    obtained: Sequence[str],
    available: Sequence[str],
    *,
    policy: CudaPolicy,
    logger: EngineLogger | None = None,
) -> None:
    """Apply the CUDA policy when a GPU provider was asked for but is not in use.

    Args:
        requested: Providers the user or the device asked for.
        obtained: ``session.get_providers()`` (or the filtered list before a session exists).
        available: ``onnxruntime.get_available_providers()``.
        policy: ``fallback_to_cpu`` logs a warning; ``fail`` raises.
        logger: Where the warning goes.

    Raises:
        EngineError: policy is ``fail`` and no GPU provider is in use, or the policy is unknown.
    """
    if policy not in CUDA_POLICIES:
        raise EngineError(f"unknown cuda_policy {policy!r}; use one of {', '.join(CUDA_POLICIES)}")
    if not wants_gpu(requested):
        return
    if has_gpu(obtained):
        missing = [
            provider_name(entry)
            for entry in requested
            if provider_name(entry) in GPU_PROVIDERS and provider_name(entry) not in obtained
        ]
        if missing:  # e.g. TensorRT listed by onnxruntime-gpu but its libraries absent
            (logger or logging.getLogger(__name__)).warning(
                f"{', '.join(missing)} requested but not in use; ONNX Runtime runs on {list(obtained)}. "
                "Fix: install TensorRT ('pip install .[gpu]') or list the providers you want"
            )
        return
    asked = [provider_name(entry) for entry in requested]
    message = (
        f"CUDA was requested (providers {asked}) but ONNX Runtime runs on {list(obtained)}; "
        f"available providers: {list(available)}. Fix: {GPU_INSTALL_HINT}, or set device to 'cpu'"
    )
    if policy == "fail":
        raise EngineError(message)
    _warn_fallback(message, logger)


def resolve_providers(
    *,
    device: str,
    providers: Sequence[ProviderEntry] | None,
    available: Sequence[str],
    fp16: bool = False,
    trt_cache_dir: str | os.PathLike[str] | None = None,
) -> tuple[list[ProviderEntry], list[ProviderEntry]]:
    """Return ``(requested, usable)``: what was asked for and what this ONNX Runtime can try."""
    if providers:
        requested = list(providers)
    else:
        requested = default_providers(device, fp16=fp16, trt_cache_dir=trt_cache_dir)
    return requested, filter_available(requested, available)


def resolve_torch_device(
    device: str,
    *,
    cuda_available: bool,
    policy: CudaPolicy,
    logger: EngineLogger | None = None,
) -> str:
    """Device string the torch engine will use, applying the CUDA policy.

    Raises:
        EngineError: unknown device or policy, or CUDA absent under policy ``fail``.
    """
    if policy not in CUDA_POLICIES:
        raise EngineError(f"unknown cuda_policy {policy!r}; use one of {', '.join(CUDA_POLICIES)}")
    kind = device.partition(":")[0]
    if kind == "cpu":
        return "cpu"
    if kind != "cuda":
        raise EngineError(f"unknown device {device!r}; use 'cpu' or 'cuda' (or 'cuda:N')")
    if cuda_available:
        return device
    message = (
        f"device {device!r} was requested but this PyTorch has no usable CUDA device. "
        "Fix: install a CUDA build of torch and check the driver (nvidia-smi), or set device to 'cpu'"
    )
    if policy == "fail":
        raise EngineError(message)
    _warn_fallback(message, logger)
    return "cpu"


def _warn_fallback(message: str, logger: EngineLogger | None) -> None:
    # Pre-formatted: rclpy loggers accept a single message argument only.
    text = f"{message}. Continuing on CPU (cuda_policy=fallback_to_cpu)."
    (logger or logging.getLogger(__name__)).warning(text)
