"""How an engine is asked for: :class:`EngineOptions` (the engine table is
:data:`seg_perception.inference.engine.ENGINES`).

Light on purpose (no ONNX Runtime, onnx or torch import).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from seg_perception.inference import providers as prov
from seg_perception.inference.errors import EngineError
from seg_perception.inference.torch_graphs import DEFAULT_MAX_GRAPHS

DEFAULT_ENGINE = "onnxruntime"
PRECISIONS = ("fp32", "fp16", "bf16")  # torch weights on CUDA
PRECISION_CHOICES = ("auto", *PRECISIONS)  # command lines and node parameters: auto lets the engine choose


def available_cpus() -> int:
    """CPU cores this process may run on (its affinity mask: a container's or ``taskset``'s share)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # no affinity API on this platform
        return max(1, os.cpu_count() or 1)


def threads_per_engine(concurrent_engines: int, cpus: int | None = None) -> int:
    """CPU inference threads for each of ``concurrent_engines`` engines that run at the same time.

    The cores are split between them (at least one thread each): ONNX Runtime's default gives every
    session a thread per core, and sessions running side by side then oversubscribe the CPU, their
    spinning worker threads competing for the same cores (on 2 cores with front and AVM cameras that
    halved the frame rate and doubled the CPU time per frame, ``docs/benchmarks.md``).
    """
    if concurrent_engines < 1:
        raise ValueError(f"concurrent_engines must be at least 1, got {concurrent_engines}")
    return max(1, (available_cpus() if cpus is None else cpus) // concurrent_engines)


@dataclass(frozen=True)
class EngineOptions:
    """Everything an engine is asked for besides the model file.

    Attributes:
        engine: A name of :data:`~seg_perception.inference.engine.ENGINES` (``onnxruntime``
            runs ``.onnx`` files, ``torch`` ``.pt`` checkpoints).
        device: ``cpu`` or ``cuda`` (``cuda:N``).
        providers: ONNX Runtime: explicit providers (names or ``(name, options)``); None
            derives them from ``device``.
        fp16: TensorRT FP16 engines / a float16 fused network (ONNX Runtime), float16
            weights (torch, CUDA only).
        precision: torch only: ``fp32``, ``fp16`` or ``bf16`` weights on CUDA (overrides
            ``fp16``); ignored with a note on the CPU.
        cuda_policy: When CUDA is asked for but unavailable: ``fallback_to_cpu`` (warn) or
            ``fail`` (raise :class:`~seg_perception.inference.errors.EngineError`).
        intra_op_threads: ONNX Runtime CPU threads; None lets ONNX Runtime decide (torch's
            pool is process-wide: set it in the calling program).
        spin_wait: ONNX Runtime: let its CPU worker threads spin waiting for work after each run.
            That only pays back to back (benchmarks); between a camera's frames it burns a core: with
            2 threads and 20 ms between runs, 38 instead of 18 ms of CPU per highway frame for the same
            wall time (``docs/benchmarks.md``). Off: idle threads sleep.
        trt_cache_dir: TensorRT engine and timing cache; None: ``<cache>/tensorrt``.
        fused: ONNX Runtime: run the fused frame-to-mask graph (pre-processing and arg-max
            inside, uint8 in and out); None fuses on GPU providers only.
        cuda_graphs: Record and replay CUDA graphs where shapes are static (GPU only;
            retried without them, with a warning, where the runtime cannot).
        fused_cache_dir: Where fused graphs are cached; None: ``<cache>/fused``.
        max_graphs: torch on CUDA: frame sizes whose CUDA graphs are kept.

    Raises:
        EngineError: an unknown CUDA policy (an unknown engine name: when the engine is created).
    """

    engine: str = DEFAULT_ENGINE
    device: str = "cpu"
    providers: Sequence[prov.ProviderEntry] | None = None
    fp16: bool = False
    precision: str | None = None
    cuda_policy: prov.CudaPolicy = "fallback_to_cpu"
    intra_op_threads: int | None = None
    spin_wait: bool = False
    trt_cache_dir: str | os.PathLike[str] | None = None
    fused: bool | None = None
    cuda_graphs: bool = True
    fused_cache_dir: str | os.PathLike[str] | None = None
    max_graphs: int = DEFAULT_MAX_GRAPHS

    def __post_init__(self) -> None:
        if self.cuda_policy not in prov.CUDA_POLICIES:
            raise EngineError(
                f"unknown cuda_policy {self.cuda_policy!r}; use one of {', '.join(prov.CUDA_POLICIES)}"
            )
