"""Layers shared by every architecture: Mish, the activation factory, Conv-BN-Act."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seg_perception.models.errors import ModelOptionError

ACTIVATIONS = ("relu", "mish")


class MishFunction(torch.autograd.Function):
    """Mish ``x * tanh(softplus(x))`` that keeps only its input for backward.

    Autograd through the plain expression would keep ``softplus(x)`` and ``tanh(...)`` alive as
    well; here the backward recomputes them, trading a little compute for activation memory.
    """

    @staticmethod
    def forward(ctx: Any, x: Tensor) -> Tensor:
        ctx.save_for_backward(x)
        return x * torch.tanh(F.softplus(x))

    @staticmethod
    def backward(ctx: Any, grad_output: Tensor) -> Tensor:
        (x,) = ctx.saved_tensors
        tanh_sp = torch.tanh(F.softplus(x))
        # d/dx mish = tanh(sp) + x * sigmoid(x) * sech²(sp), with sech² = 1 - tanh².
        return grad_output * (tanh_sp + x * torch.sigmoid(x) * (1.0 - tanh_sp * tanh_sp))

    @staticmethod
    def symbolic(graph: Any, x: Any) -> Any:
        """ONNX graph for the TorchScript exporter (opset < 18 has no Mish op)."""
        return graph.op("Mul", x, graph.op("Tanh", graph.op("Softplus", x)))


def mish_reference(x: Tensor) -> Tensor:
    """The plain Mish expression (autograd keeps its intermediates)."""
    return x * torch.tanh(F.softplus(x))


def _is_exporting() -> bool:
    return bool(torch.onnx.is_in_onnx_export() or torch.compiler.is_exporting())


class Mish(nn.Module):
    """Memory-lean Mish; traced exporters see the plain expression."""

    def forward(self, x: Tensor) -> Tensor:
        if _is_exporting() or torch.jit.is_scripting():  # type: ignore[attr-defined]  # re-exported, not in __all__
            return mish_reference(x)
        result: Tensor = MishFunction.apply(x)  # type: ignore[no-untyped-call]  # Function.apply is untyped
        return result


def make_activation(name: str) -> nn.Module:
    """Build an activation module by name (``relu`` or ``mish``).

    Raises:
        ModelOptionError: the name is not one of :data:`ACTIVATIONS`.
    """
    if name == "relu":
        # Not in-place: fusion code sums into tensors that are reused.
        return nn.ReLU()
    if name == "mish":
        return Mish()
    raise ModelOptionError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")


def check_activation(name: str) -> str:
    """Validate an activation name early, before building a large model."""
    make_activation(name)
    return name


class ConvBNAct(nn.Sequential):
    """Conv2d (no bias) → BatchNorm → optional activation, with 'same' padding for odd kernels."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        *,
        stride: int = 1,
        dilation: int = 1,
        activation: str | None = "relu",
    ) -> None:
        padding = dilation * (kernel_size - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(
                in_channels,
                out_channels,
                kernel_size,
                stride=stride,
                padding=padding,
                dilation=dilation,
                bias=False,
            ),
            nn.BatchNorm2d(out_channels),
        ]
        if activation is not None:
            layers.append(make_activation(activation))
        super().__init__(*layers)
        self.out_channels = out_channels


def resize_to(x: Tensor, size: tuple[int, int] | torch.Size, *, align_corners: bool = False) -> Tensor:
    """Bilinear resize to an exact size.

    ``align_corners=False`` is the official HRNet code's default; its HRNet-OCR branch and its
    ADE20K / COCO-Stuff configs train with ``ALIGN_CORNERS: True`` (the ``align_corners`` model option).
    """
    return F.interpolate(x, size=size, mode="bilinear", align_corners=align_corners)
