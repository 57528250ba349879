"""Feature-statistics mixing in training (MixStyle, Zhou et al., ICLR 2021): a domain-generalisation step.

A CNN's early feature maps carry an image's "style" (lighting, contrast, texture response) in their
per-channel means and standard deviations, and its content in the normalised maps. MixStyle swaps part
of each frame's style for another frame's of the same batch: at the named modules' outputs it
normalises every (frame, channel) map and rescales it with statistics mixed between the frame and a
random partner, ``lambda ~ Beta(alpha, alpha)``. The model then has to find paint and junctions under
styles the generator never drew as such. Nothing changes outside the generated batches' forward pass
(:meth:`MixStyle.active`): validation, the teacher, anchor frames and the exported model run unmixed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from seg_perception.training.errors import RecipeError
from seg_perception.training.recipe import MixStyleSpec

#: Added to a map's variance before the square root (a flat map has none).
STATISTICS_EPS = 1e-6


def mix_styles(features: torch.Tensor, weights: torch.Tensor, partners: torch.Tensor) -> torch.Tensor:
    """``features`` (N, C, H, W) with each frame's channel statistics mixed with its partner's.

    Args:
        features: The maps.
        weights: (N,) share of each frame's own statistics.
        partners: (N,) index of each frame's partner.
    """
    maps = features.float()  # half-precision maps (AMP) would lose the variance
    mean = maps.mean(dim=(2, 3), keepdim=True)
    std = (maps.var(dim=(2, 3), keepdim=True) + STATISTICS_EPS).sqrt()
    # the statistics are a target, not a path for gradients (as in the paper)
    mean, std = mean.detach(), std.detach()
    share = weights.to(maps.device, torch.float32).view(-1, 1, 1, 1)
    mixed_mean = share * mean + (1 - share) * mean[partners]
    mixed_std = share * std + (1 - share) * std[partners]
    return ((maps - mean) / std * mixed_std + mixed_mean).to(features.dtype)


class MixStyle:
    """Forward hooks that mix feature statistics while :meth:`active`; inert otherwise.

    Args:
        model: The model in training.
        spec: Which modules, how often, how much.
        seed: Seed of the hooks' own random stream (the draws repeat with the recipe's seed).

    Raises:
        RecipeError: a named module does not exist in the model.
    """

    def __init__(self, model: nn.Module, spec: MixStyleSpec, *, seed: int) -> None:
        self.spec = spec
        self._rng = np.random.default_rng(seed)
        self._active = False
        self.mixed_calls = 0
        self._handles: list[RemovableHandle] = []
        for name in spec.modules:
            try:
                module = model.get_submodule(name)
            except AttributeError as err:
                raise RecipeError(f"mix_style.modules: the model has no module {name!r}") from err
            self._handles.append(module.register_forward_hook(self._hook))

    @contextmanager
    def active(self) -> Iterator[None]:
        """Mix within this block (the forward pass of a generated training batch)."""
        self._active = True
        try:
            yield
        finally:
            self._active = False

    def remove(self) -> None:
        """Detach the hooks."""
        for handle in self._handles:
            handle.remove()
        self._handles.clear()

    def _draw(self, count: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Mixing weights and partners for a batch of ``count`` frames; None: leave this batch alone."""
        if count < 2 or self._rng.random() >= self.spec.p:
            return None
        partners = torch.from_numpy(self._rng.permutation(count))
        weights = torch.from_numpy(self._rng.beta(self.spec.alpha, self.spec.alpha, count))
        return weights, partners

    def _hook(self, module: nn.Module, inputs: Any, output: Any) -> Any:
        if not (self._active and module.training):
            return None
        maps = list(output) if isinstance(output, (list, tuple)) else [output]
        draw = self._draw(int(maps[0].shape[0]))
        if draw is None:
            return None
        weights, partners = draw
        partners = partners.to(maps[0].device)
        self.mixed_calls += 1
        mixed = [mix_styles(m, weights, partners) for m in maps]
        if isinstance(output, tuple):
            return tuple(mixed)
        return mixed if isinstance(output, list) else mixed[0]
