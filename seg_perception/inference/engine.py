"""Inference engines: ONNX Runtime (TensorRT / CUDA / CPU providers) and PyTorch checkpoints.

:func:`create_engine` is the one way in: a model file and :class:`EngineOptions`, the engine
named there taken from the table :data:`ENGINES` (each entry imports its engine module only
when an engine is created, so the table is cheap to read for command lines, node parameters
and launch arguments). The contract every engine keeps is
:class:`~seg_perception.inference.base.Engine`; what the pipeline and the node rely on is the
protocol :class:`~seg_perception.inference.base.SegmentationEngine`.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from seg_perception.inference.base import (
    CHECKPOINT_SUFFIXES,
    Engine,
    SegmentationEngine,
    default_trt_cache_dir,
    require_model_file,
)
from seg_perception.inference.errors import EngineError
from seg_perception.inference.options import EngineOptions
from seg_perception.inference.providers import EngineLogger

__all__ = [
    "CHECKPOINT_SUFFIXES",
    "ENGINES",
    "Engine",
    "EngineLogger",
    "EngineOptions",
    "SegmentationEngine",
    "create_engine",
    "default_trt_cache_dir",
    "engine_for_file",
    "require_model_file",
]

EngineFactory = Callable[[str | os.PathLike[str], EngineOptions, EngineLogger | None], Engine]


def _onnxruntime(
    model_file: str | os.PathLike[str], options: EngineOptions, logger: EngineLogger | None
) -> Engine:
    from seg_perception.inference.onnxruntime_engine import OnnxRuntimeEngine

    return OnnxRuntimeEngine(model_file, options, logger=logger)


def _torch(model_file: str | os.PathLike[str], options: EngineOptions, logger: EngineLogger | None) -> Engine:
    from seg_perception.inference.torch_engine import TorchEngine

    return TorchEngine(model_file, options, logger=logger)


ENGINES: dict[str, EngineFactory] = {"onnxruntime": _onnxruntime, "torch": _torch}
"""Engine name -> factory: the one list of engines (CLIs, node parameters, launch arguments)."""


def engine_for_file(model_file: str | os.PathLike[str]) -> str:
    """The engine that runs a model file: ``torch`` for a training checkpoint, else ``onnxruntime``."""
    return "torch" if os.fspath(model_file).endswith(CHECKPOINT_SUFFIXES) else "onnxruntime"


def create_engine(
    model_file: str | os.PathLike[str],
    options: EngineOptions | None = None,
    *,
    logger: EngineLogger | None = None,
    **overrides: Any,
) -> Engine:
    """Load a model file into the engine ``options.engine`` names.

    Args:
        model_file: ``.onnx`` file (``onnxruntime``) or ``.pt`` checkpoint (``torch``).
        options: Engine, device, providers, precision, threads, caches, ... (default
            :class:`EngineOptions`).
        logger: Receives load info and fallback warnings (``logging`` or the node's logger).
        overrides: Fields of :class:`EngineOptions` replaced for this call, for short calls
            such as ``create_engine(path, engine="torch", device="cuda")``.

    Raises:
        ModelFileError: missing, corrupt or metadata-less model file.
        EngineError: unknown engine/device/policy/precision, or CUDA absent under policy ``fail``.
        TypeError: an override that is not a field of :class:`EngineOptions`.
    """
    options = options or EngineOptions()
    if overrides:
        options = dataclasses.replace(options, **overrides)
    factory = ENGINES.get(options.engine)
    if factory is None:
        raise EngineError(f"unknown engine {options.engine!r}; choose one of {', '.join(ENGINES)}")
    return factory(model_file, options, logger)
