"""The machine and library versions a benchmark ran on, so numbers can be compared fairly."""

from __future__ import annotations

import datetime
import importlib
import os
import platform
import shutil
import subprocess
from typing import Any

NVIDIA_SMI_TIMEOUT_S = 10.0
LIBRARIES = ("torch", "onnxruntime", "numpy", "cv2", "onnx")


def cpu_model() -> str:
    """CPU model name from ``/proc/cpuinfo`` (falls back to ``platform.processor()``)."""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def usable_cpus() -> int:
    """CPUs this process may run on (affinity), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def library_versions() -> dict[str, str | None]:
    """``__version__`` of each benchmarked library (None when not installed)."""
    versions: dict[str, str | None] = {}
    for name in LIBRARIES:
        key = "opencv" if name == "cv2" else name
        try:
            module = importlib.import_module(name)
        except ImportError:
            versions[key] = None
            continue
        versions[key] = str(getattr(module, "__version__", "unknown"))
    return versions


def gpu_info() -> list[dict[str, str]]:
    """Name, driver and memory of each GPU from ``nvidia-smi`` (empty without one)."""
    executable = shutil.which("nvidia-smi")
    if executable is None:
        return []
    query = "name,driver_version,memory.total"
    try:
        output = subprocess.run(
            [executable, f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in output.strip().splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 3:
            gpus.append({"name": parts[0], "driver": parts[1], "memory": parts[2]})
    return gpus


def torch_cuda_info() -> dict[str, Any]:
    """torch's CUDA / cuDNN versions and device name (None where absent)."""
    try:
        import torch
    except ImportError:
        return {"cuda": None, "cudnn": None, "device": None}
    available = torch.cuda.is_available()
    cudnn = torch.backends.cudnn.version() if available else None  # type: ignore[no-untyped-call]  # torch leaves it unannotated
    return {
        "cuda": torch.version.cuda,
        "cudnn": cudnn,
        "device": torch.cuda.get_device_name(0) if available else None,
    }


def system_info(*, threads: int | None = None) -> dict[str, Any]:
    """Everything the report header needs: date, host, CPU, GPU, driver, CUDA, versions, load."""
    gpus = gpu_info()
    cuda = torch_cuda_info()
    try:
        import onnxruntime as ort

        ort_providers = list(ort.get_available_providers())
        ort_device = ort.get_device()
    except ImportError:
        ort_providers, ort_device = [], None
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "host": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu": {"model": cpu_model(), "usable_cpus": usable_cpus(), "threads_requested": threads},
        "gpus": gpus,
        "driver": gpus[0]["driver"] if gpus else None,
        "torch_cuda": cuda,
        "onnxruntime": {"available_providers": ort_providers, "device": ort_device},
        "versions": library_versions(),
        "load_average": {"1min": load[0], "5min": load[1], "15min": load[2]},
    }


def describe_device(info: dict[str, Any]) -> str:
    """One line: the GPU when there is one, else the CPU and how many cores were usable."""
    cpu = f"{info['cpu']['model']} ({info['cpu']['usable_cpus']} usable cores)"
    if info.get("gpus"):
        names = ", ".join(gpu["name"] for gpu in info["gpus"])
        return f"{names} (driver {info.get('driver')}, CUDA {info['torch_cuda'].get('cuda')}); CPU {cpu}"
    return f"CPU {cpu}; no GPU"
