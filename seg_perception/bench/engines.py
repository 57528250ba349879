"""The engines a benchmark can ask for, and why one is unavailable on this machine.

A benchmark engine name (``onnxruntime-tensorrt``) maps to an
:func:`~seg_perception.inference.engine.create_engine` call. Availability is decided
by :func:`skip_reason` from plain facts (ONNX Runtime's providers, whether torch has
CUDA, what kind of model file there is), so the logic is testable without a GPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seg_perception.inference import providers as prov

ONNX = "onnx"
CHECKPOINT = "checkpoint"


@dataclass(frozen=True)
class EngineChoice:
    """One benchmark engine.

    Attributes:
        name: Benchmark name, e.g. ``onnxruntime-cuda``.
        engine: ``create_engine`` engine (``onnxruntime`` or ``torch``).
        device: ``cpu`` or ``cuda``.
        required_provider: ONNX Runtime provider that must be available (ONNX engines).
        precisions: Precisions the engine really runs (TensorRT FP16 engines, a float16
            network on the CUDA provider, float16/bfloat16 weights in torch on CUDA).
    """

    name: str
    engine: str
    device: str
    required_provider: str | None = None
    precisions: tuple[str, ...] = ("fp32",)

    @property
    def model_kind(self) -> str:
        """Model file this engine loads: ``onnx`` or ``checkpoint``."""
        return ONNX if self.engine == "onnxruntime" else CHECKPOINT

    @property
    def on_gpu(self) -> bool:
        return self.device.startswith("cuda")


ENGINE_CHOICES: dict[str, EngineChoice] = {
    choice.name: choice
    for choice in (
        EngineChoice("onnxruntime-cpu", "onnxruntime", "cpu", prov.CPU),
        EngineChoice("onnxruntime-cuda", "onnxruntime", "cuda", prov.CUDA, ("fp32", "fp16")),
        EngineChoice("onnxruntime-tensorrt", "onnxruntime", "cuda", prov.TENSORRT, ("fp32", "fp16")),
        EngineChoice("torch-cpu", "torch", "cpu"),
        EngineChoice("torch-cuda", "torch", "cuda", precisions=("fp32", "fp16", "bf16")),
    )
}
DEFAULT_ENGINES = tuple(ENGINE_CHOICES)


@dataclass(frozen=True)
class Capabilities:
    """What this machine's libraries can run.

    Attributes:
        ort_providers: ``onnxruntime.get_available_providers()``; None when ONNX Runtime is missing.
        torch_available: torch imports.
        torch_cuda: ``torch.cuda.is_available()``.
        notes: Why something is missing (import errors).
    """

    ort_providers: tuple[str, ...] | None
    torch_available: bool
    torch_cuda: bool
    notes: dict[str, str] = field(default_factory=dict)


def probe_capabilities() -> Capabilities:
    """Import ONNX Runtime and torch and ask them what they can run here."""
    notes: dict[str, str] = {}
    try:
        import onnxruntime as ort

        ort_providers: tuple[str, ...] | None = tuple(ort.get_available_providers())
    except ImportError as err:
        ort_providers, notes["onnxruntime"] = None, str(err)
    try:
        import torch

        torch_available, torch_cuda = True, bool(torch.cuda.is_available())
    except ImportError as err:
        torch_available, torch_cuda, notes["torch"] = False, False, str(err)
    return Capabilities(ort_providers, torch_available, torch_cuda, notes)


def skip_reason(choice: EngineChoice, capabilities: Capabilities, *, model_kinds: set[str]) -> str | None:
    """Why ``choice`` cannot run here, or None when it can.

    Args:
        choice: The engine.
        capabilities: What the machine can run (:func:`probe_capabilities`).
        model_kinds: Model files at hand: ``onnx`` and/or ``checkpoint``.
    """
    if choice.model_kind not in model_kinds:
        have = " and ".join(sorted(model_kinds)) or "no model file"
        return f"{choice.engine} needs a {choice.model_kind} file but only {have} was given"
    if choice.engine == "onnxruntime":
        if capabilities.ort_providers is None:
            return f"onnxruntime is not installed ({capabilities.notes.get('onnxruntime', 'import failed')})"
        if choice.required_provider not in capabilities.ort_providers:
            return (
                f"ONNX Runtime has no {choice.required_provider} (available: "
                f"{', '.join(capabilities.ort_providers)}); {prov.GPU_INSTALL_HINT}"
            )
        if choice.on_gpu and not capabilities.torch_cuda and capabilities.torch_available:
            # onnxruntime-gpu lists its CUDA providers even where no GPU or driver exists.
            return "no CUDA device (torch.cuda.is_available() is False)"
        return None
    if not capabilities.torch_available:
        return f"torch is not installed ({capabilities.notes.get('torch', 'import failed')})"
    if choice.on_gpu and not capabilities.torch_cuda:
        return "no CUDA device (torch.cuda.is_available() is False)"
    return None


def resolve_precision(choice: EngineChoice, precision: str) -> str:
    """The precision this engine runs: ``auto`` (or one it lacks) means FP16 where it has it, else FP32."""
    if precision in choice.precisions:
        return precision
    return "fp16" if "fp16" in choice.precisions else "fp32"


def engine_providers(choice: EngineChoice, *, fp16: bool, trt_cache_dir: Path) -> list[Any] | None:
    """Explicit ONNX Runtime providers for ``choice`` (None for torch engines).

    TensorRT keeps CUDA and CPU behind it for the nodes it cannot take; CUDA keeps only CPU.
    """
    if choice.engine != "onnxruntime":
        return None
    if not choice.on_gpu:
        return [prov.CPU]
    entries = prov.default_providers("cuda", fp16=fp16, trt_cache_dir=trt_cache_dir)
    if choice.required_provider == prov.CUDA:
        entries = [entry for entry in entries if prov.provider_name(entry) != prov.TENSORRT]
    return entries


def create_bench_engine(
    choice: EngineChoice,
    model_file: Path,
    *,
    precision: str,
    threads: int | None,
    trt_cache_dir: Path,
    cuda_graphs: bool = True,
) -> Any:
    """Build the engine under ``cuda_policy="fail"``, so a GPU row never silently runs on CPU.

    GPU engines run as the node runs them: the fused graph on ONNX Runtime, CUDA graphs
    unless ``cuda_graphs`` is off.

    Raises:
        EngineError: the engine cannot run here after all (e.g. the CUDA driver is missing).
        ModelFileError: the model file is missing or unusable.
    """
    from seg_perception.inference.engine import EngineOptions, create_engine

    fp16 = precision == "fp16"
    if choice.engine == "torch" and choice.on_gpu:
        import torch

        torch.backends.cudnn.benchmark = True  # static shapes: let cuDNN pick the fastest kernels
    # Each engine takes the options that apply to it: torch the precision, ONNX Runtime the
    # providers, FP16 flag, CPU threads and caches.
    options = EngineOptions(
        engine=choice.engine,
        device=choice.device,
        providers=engine_providers(choice, fp16=fp16, trt_cache_dir=trt_cache_dir),
        fp16=fp16,
        precision=precision,
        cuda_policy="fail",
        intra_op_threads=threads,
        trt_cache_dir=trt_cache_dir,
        cuda_graphs=cuda_graphs,
        fused_cache_dir=trt_cache_dir.parent / "fused",
    )
    return create_engine(model_file, options)
