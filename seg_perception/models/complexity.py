"""Parameter and multiply-accumulate counts.

Convention: the one of the official HRNet tables (``lib/utils/modelsummary.py``): "GFLOPs" are
multiply-accumulates of convolution and linear layers (BN, activations and resizing are not
counted) divided by 2³⁰. With it HRNetV2-W48 at 1024×2048 is 696, as published
(747.5 × 10⁹ MACs).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

#: Divisor from MACs to the "GFLOPs" of the official HRNet tables.
GFLOPS_DIVISOR = 2**30


def count_parameters(model: nn.Module) -> int:
    """Number of parameters (trainable or not; buffers excluded)."""
    return sum(p.numel() for p in model.parameters())


def _conv_macs(module: nn.Conv2d, output: Tensor) -> int:
    kernel = module.weight.shape  # (out, in/groups, kh, kw)
    per_output = int(kernel[1] * kernel[2] * kernel[3])
    return per_output * int(output.numel())


def count_macs(model: nn.Module, size: tuple[int, int], *, batch: int = 1) -> int:
    """Multiply-accumulates of one eval forward pass on a ``(batch, 3, H, W)`` input.

    Works on a model built on the ``meta`` device (no memory, no compute), which is how the
    ``models`` command counts large models at full resolution.
    """
    device = next(model.parameters()).device
    total = 0

    def on_conv(module: nn.Module, _inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        total += _conv_macs(module, output)  # type: ignore[arg-type]

    def on_linear(module: nn.Module, _inputs: tuple[Tensor, ...], output: Tensor) -> None:
        nonlocal total
        assert isinstance(module, nn.Linear)  # the hook is only registered on Linear layers
        total += int(output.numel()) * module.in_features

    handles = []
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            handles.append(module.register_forward_hook(on_conv))
        elif isinstance(module, nn.Linear):
            handles.append(module.register_forward_hook(on_linear))
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(batch, 3, *size, device=device))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return total


def count_gflops(model: nn.Module, size: tuple[int, int], *, batch: int = 1) -> float:
    """ "GFLOPs" in the official HRNet convention: ``count_macs / 2**30``."""
    return count_macs(model, size, batch=batch) / GFLOPS_DIVISOR
