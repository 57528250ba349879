"""Training-memory measurements: saved activations and peak process memory of one training step.

Each configuration runs in a fresh subprocess so peak RSS (``ru_maxrss``) belongs to it alone.
Run ``python -m seg_perception.models.memory '<json config>'`` to measure one configuration.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from seg_perception.models.complexity import count_parameters
from seg_perception.models.errors import ModelOptionError
from seg_perception.models.layers import Mish, mish_reference
from seg_perception.models.registry import build_model


@dataclass(frozen=True)
class MemoryConfig:
    """One measured configuration.

    Attributes:
        label: Row label.
        model: Registry name.
        options: Builder options (``activation``, ``csp``...).
        size: Input (height, width).
        batch: Batch size.
        plain_mish: Replace the memory-lean Mish by the plain autograd expression (for comparison).
    """

    label: str
    model: str
    options: dict[str, Any] = field(default_factory=dict)
    size: tuple[int, int] = (256, 512)
    batch: int = 2
    num_classes: int = 3
    plain_mish: bool = False


DEFAULT_CONFIGS: tuple[MemoryConfig, ...] = (
    MemoryConfig("ReLU", "hrnetv2_w18_small_v2"),
    MemoryConfig("Mish (plain autograd)", "hrnetv2_w18_small_v2", {"activation": "mish"}, plain_mish=True),
    MemoryConfig("Mish (custom Function)", "hrnetv2_w18_small_v2", {"activation": "mish"}),
    MemoryConfig("CSP + ReLU", "hrnetv2_w18_small_v2", {"csp": True}),
    MemoryConfig("CSP + Mish (custom Function)", "hrnetv2_w18_small_v2", {"csp": True, "activation": "mish"}),
)


class _PlainMish(nn.Module):
    def forward(self, x: Tensor) -> Tensor:
        return mish_reference(x)


def _use_plain_mish(model: nn.Module) -> None:
    for name, module in list(model.named_modules()):
        if isinstance(module, Mish):
            parent_name, _, child = name.rpartition(".")
            setattr(model.get_submodule(parent_name) if parent_name else model, child, _PlainMish())


def saved_activation_bytes(model: nn.Module, images: Tensor) -> int:
    """Bytes of distinct tensors autograd keeps for backward in one training forward (weights excluded)."""
    parameter_storages = {p.untyped_storage().data_ptr() for p in model.parameters()}
    seen: dict[int, int] = {}

    def pack(tensor: Tensor) -> Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameter_storages:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        outputs = model(images)
    sum(o.float().mean() for o in outputs).backward()
    return sum(seen.values())


def _rss_now_kb() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * resource.getpagesize() // 1024


def measure_in_process(config: MemoryConfig) -> dict[str, Any]:
    """Measure ``config`` in this process: parameters, saved activations, peak RSS increase of a step."""
    torch.manual_seed(0)
    model = build_model(config.model, config.num_classes, **config.options)
    if config.plain_mish:
        _use_plain_mish(model)
    images = torch.randn(config.batch, 3, *config.size)
    before_kb = _rss_now_kb()
    saved = saved_activation_bytes(model, images)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return {
        "params": count_parameters(model),
        "saved_activations_mb": saved / 2**20,
        "peak_step_rss_mb": max(0, peak_kb - before_kb) / 1024,
    }


def measure(config: MemoryConfig, *, timeout_s: float = 600.0) -> dict[str, Any]:
    """Measure ``config`` in a fresh subprocess (so its peak RSS is its own)."""
    result = subprocess.run(
        [sys.executable, "-m", "seg_perception.models.memory", json.dumps(asdict(config))],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
    if result.returncode != 0:
        raise ModelOptionError(f"memory measurement of {config.label} failed: {result.stderr.strip()}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str]) -> int:
    raw = json.loads(argv[0])
    raw["size"] = tuple(raw["size"])
    print(json.dumps(measure_in_process(MemoryConfig(**raw))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
