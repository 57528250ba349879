"""Inference engines: ONNX Runtime (TensorRT / CUDA / CPU providers) and PyTorch checkpoints.

:func:`create_engine` is the one way in; the contract is :class:`~seg_perception.inference.base.Engine`.
"""

from __future__ import annotations

import logging
import os

from seg_perception.inference import providers as prov
from seg_perception.inference.base import (
    CHECKPOINT_SUFFIXES,
    Engine,
    default_trt_cache_dir,
    require_model_file,
)
from seg_perception.inference.errors import EngineError
from seg_perception.inference.onnxruntime_engine import OnnxRuntimeEngine
from seg_perception.inference.torch_engine import TorchEngine

ENGINES = ("onnxruntime", "torch")

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "ENGINES",
    "Engine",
    "OnnxRuntimeEngine",
    "TorchEngine",
    "create_engine",
    "default_trt_cache_dir",
    "require_model_file",
]


def create_engine(
    model_file: str | os.PathLike[str],
    *,
    engine: str = "onnxruntime",
    device: str = "cpu",
    providers: list[prov.ProviderEntry] | None = None,
    fp16: bool = False,
    cuda_policy: prov.CudaPolicy = "fallback_to_cpu",
    intra_op_threads: int | None = None,
    trt_cache_dir: str | os.PathLike[str] | None = None,
    fused: bool | None = None,
    cuda_graphs: bool = True,
    fused_cache_dir: str | os.PathLike[str] | None = None,
    logger: logging.Logger | None = None,
    precision: str | None = None,
) -> Engine:
    """Load a model file into an engine.

    Args:
        model_file: ``.onnx`` file (``onnxruntime``) or ``.pt`` checkpoint (``torch``).
        engine: ``onnxruntime`` or ``torch``.
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        providers: Explicit ONNX Runtime providers (names or ``(name, options)``);
            default derived from ``device``.
        fp16: TensorRT FP16 engines (ONNX) / float16 weights (torch, CUDA only).
        cuda_policy: When CUDA is asked for but unavailable: ``fallback_to_cpu`` (warn)
            or ``fail`` (raise :class:`EngineError`).
        intra_op_threads: ONNX Runtime CPU threads; default lets ONNX Runtime decide.
        trt_cache_dir: TensorRT engine cache; default :func:`default_trt_cache_dir`.
        fused: ONNX Runtime: run the fused frame-to-mask graph (pre-processing and
            arg-max inside, uint8 in and out); None fuses on GPU providers only.
        cuda_graphs: Record and replay CUDA graphs where shapes are static (GPU only;
            retried without them, with a warning, where the runtime cannot).
        fused_cache_dir: Where fused graphs are cached (default ``<cache>/fused``).
        logger: Receives load info and fallback warnings (``logging`` or rclpy logger).
        precision: torch only: ``fp32``, ``fp16`` or ``bf16`` weights on CUDA (overrides
            ``fp16``); ignored with a note on the CPU.

    Raises:
        ModelFileError: missing, corrupt or metadata-less model file.
        EngineError: unknown engine/device/policy/precision, or CUDA absent under policy ``fail``.
    """
    if engine == "onnxruntime":
        return OnnxRuntimeEngine(
            model_file,
            device=device,
            providers=providers,
            fp16=fp16,
            cuda_policy=cuda_policy,
            intra_op_threads=intra_op_threads,
            trt_cache_dir=trt_cache_dir,
            fused=fused,
            cuda_graphs=cuda_graphs,
            fused_cache_dir=fused_cache_dir,
            logger=logger,
        )
    if engine == "torch":
        return TorchEngine(
            model_file,
            device=device,
            fp16=fp16,
            precision=precision,
            cuda_graphs=cuda_graphs,
            cuda_policy=cuda_policy,
            logger=logger,
        )
    raise EngineError(f"unknown engine {engine!r}; choose one of {', '.join(ENGINES)}")
