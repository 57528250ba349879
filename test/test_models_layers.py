"""Mish (custom autograd Function), the activation factory and exportable adaptive pooling."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from seg_perception.models import ModelOptionError
from seg_perception.models.icnet.blocks import adaptive_avg_pool2d_exportable
from seg_perception.models.layers import Mish, MishFunction, make_activation, mish_reference


def test_mish_gradcheck_float64() -> None:
    x = torch.randn(4, 5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(MishFunction.apply, (x,))


def test_mish_matches_plain_formula_values_and_gradients() -> None:
    x = torch.linspace(-30, 30, 601, dtype=torch.float64)
    lean = x.clone().requires_grad_(True)
    plain = x.clone().requires_grad_(True)
    out_lean = Mish()(lean)
    out_plain = plain * torch.tanh(F.softplus(plain))
    torch.testing.assert_close(out_lean, out_plain)
    weights = torch.randn_like(x)
    (out_lean * weights).sum().backward()
    (out_plain * weights).sum().backward()
    torch.testing.assert_close(lean.grad, plain.grad)


def _saved_tensors(fn, x: torch.Tensor) -> list[torch.Tensor]:
    saved: list[torch.Tensor] = []

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        saved.append(tensor)
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        fn(x)
    return saved


def test_mish_saves_only_its_input() -> None:
    x = torch.randn(3, 8, requires_grad=True)
    saved = _saved_tensors(MishFunction.apply, x)
    assert len(saved) == 1
    assert saved[0] is x or torch.equal(saved[0], x)
    # The plain expression keeps more, which is what the Function avoids.
    assert len(_saved_tensors(mish_reference, x)) > 1


def test_activation_factory() -> None:
    assert isinstance(make_activation("relu"), torch.nn.ReLU)
    assert isinstance(make_activation("mish"), Mish)
    with pytest.raises(ModelOptionError, match="relu, mish"):
        make_activation("swish")


@pytest.mark.parametrize("size", [(6, 6), (5, 7), (13, 9), (1, 4)])
@pytest.mark.parametrize("bins", [1, 2, 3, 6])
def test_exportable_pooling_equals_adaptive_avg_pool(size: tuple[int, int], bins: int) -> None:
    x = torch.randn(2, 3, *size)
    torch.testing.assert_close(adaptive_avg_pool2d_exportable(x, bins), F.adaptive_avg_pool2d(x, bins))
