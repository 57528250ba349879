"""Segmentation losses: cross-entropy, focal, soft (label-smoothed) CE, and the ICNet cascade.

Every loss takes logits ``(N, C, H, W)`` and an int64 target ``(N, H, W)`` whose pixels
equal to ``ignore_index`` contribute nothing. Losses are built from a recipe's ``loss``
block, e.g. ``{"focal": 0.3, "soft_ce": 0.7}``, by :func:`build_loss`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from seg_perception.training.errors import RecipeError

IGNORE_INDEX = 255


def _class_weight_tensor(class_weights: Sequence[float] | None) -> torch.Tensor | None:
    if class_weights is None:
        return None
    return torch.as_tensor(list(class_weights), dtype=torch.float32)


class CrossEntropyLoss(nn.Module):
    """Pixel-wise cross-entropy, mean over non-ignored pixels (class-weighted if weights are given)."""

    class_weights: torch.Tensor | None  # a buffer (None: unweighted)

    def __init__(
        self, *, ignore_index: int = IGNORE_INDEX, class_weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.register_buffer("class_weights", _class_weight_tensor(class_weights), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.float(), target, weight=self.class_weights, ignore_index=self.ignore_index
        )


class FocalLoss(nn.Module):
    """Focal loss ``-(1 - p_t)^gamma * w_t * log p_t``; equals weighted CE when ``gamma == 0``.

    The mean is taken over non-ignored pixels, normalised by the summed class weights
    exactly as :func:`torch.nn.functional.cross_entropy` does, so ``gamma=0`` reproduces CE.
    """

    class_weights: torch.Tensor | None  # a buffer (None: unweighted)

    def __init__(
        self,
        *,
        gamma: float = 2.0,
        ignore_index: int = IGNORE_INDEX,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        self.gamma = float(gamma)
        self.ignore_index = ignore_index
        self.register_buffer("class_weights", _class_weight_tensor(class_weights), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        log_probs = F.log_softmax(logits.float(), dim=1)
        valid = target != self.ignore_index
        safe_target = torch.where(valid, target, torch.zeros_like(target))
        log_pt = log_probs.gather(1, safe_target.unsqueeze(1)).squeeze(1)
        focal = (1.0 - log_pt.exp()).clamp(min=0.0) ** self.gamma
        if self.class_weights is not None:
            weight = self.class_weights.to(logits.device)[safe_target]
        else:
            weight = torch.ones_like(log_pt)
        weight = weight * valid
        denominator = weight.sum().clamp(min=1e-12)
        return -(focal * log_pt * weight).sum() / denominator


class SoftCrossEntropyLoss(nn.Module):
    """Cross-entropy against label-smoothed targets: ``(1 - eps)`` on the true class, ``eps / C`` spread.

    This is the "soft CE" of the competition write-up; ``smoothing=0`` is plain CE.
    """

    class_weights: torch.Tensor | None  # a buffer (None: unweighted)

    def __init__(
        self,
        *,
        smoothing: float = 0.1,
        ignore_index: int = IGNORE_INDEX,
        class_weights: Sequence[float] | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= smoothing < 1.0:
            raise RecipeError(f"soft_ce smoothing must be in [0, 1), got {smoothing}")
        self.smoothing = float(smoothing)
        self.ignore_index = ignore_index
        self.register_buffer("class_weights", _class_weight_tensor(class_weights), persistent=False)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(
            logits.float(),
            target,
            weight=self.class_weights,
            ignore_index=self.ignore_index,
            label_smoothing=self.smoothing,
        )


class CombinedLoss(nn.Module):
    """Weighted sum of named losses, e.g. ``0.3 * focal + 0.7 * soft_ce``."""

    def __init__(self, terms: Mapping[str, tuple[float, nn.Module]]) -> None:
        super().__init__()
        if not terms:
            raise RecipeError("a loss needs at least one term")
        self.term_weights = {name: float(weight) for name, (weight, _) in terms.items()}
        self.terms = nn.ModuleDict({name: module for name, (_, module) in terms.items()})

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        total = logits.new_zeros((), dtype=torch.float32)
        for name, module in self.terms.items():
            total = total + self.term_weights[name] * module(logits, target)
        return total


def downsample_target(target: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour resize of an int64 ``(N, H, W)`` target to ``size`` (keeps ignore pixels)."""
    if tuple(target.shape[-2:]) == tuple(size):
        return target
    resized = F.interpolate(target.unsqueeze(1).float(), size=size, mode="nearest")
    return resized.squeeze(1).long()


class CascadeLoss(nn.Module):
    """Apply a per-logits loss to a model's list of logits with the model's ``loss_weights``.

    ICNet's cascade label guidance: logits at 1/4, 1/8 and 1/16 weighted 1.0, 0.4, 0.4,
    each against the target downsampled (nearest) to that logits' size (``resize="target"``,
    the package contract). With ``resize="logits"`` the main (first) logits are instead
    upsampled bilinearly to the target's size (with the model's ``align_corners``):
    nearest-downsampling a 2-3 px lane line to 1/4 resolution breaks it into dots, and the
    model learns dotted, blobby lines.
    A single tensor (eval-mode output) is treated as a one-element list with weight 1.
    """

    def __init__(
        self,
        base: nn.Module,
        loss_weights: Sequence[float] = (1.0,),
        *,
        resize: str = "target",
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        if resize not in ("target", "logits"):
            raise RecipeError(f"loss resize must be 'target' or 'logits', got {resize!r}")
        self.base = base
        self.loss_weights = tuple(float(w) for w in loss_weights)
        self.resize = resize

    def forward(self, outputs: torch.Tensor | Sequence[torch.Tensor], target: torch.Tensor) -> torch.Tensor:
        if isinstance(outputs, torch.Tensor):
            outputs = [outputs]
            weights: tuple[float, ...] = (1.0,)
        else:
            weights = self.loss_weights
        if len(outputs) != len(weights):
            raise ValueError(f"model returned {len(outputs)} logits but has {len(weights)} loss weights")
        total = outputs[0].new_zeros((), dtype=torch.float32)
        for index, (logits, weight) in enumerate(zip(outputs, weights, strict=True)):
            if index == 0 and self.resize == "logits" and logits.shape[-2:] != target.shape[-2:]:
                logits = F.interpolate(
                    logits, size=target.shape[-2:], mode="bilinear", align_corners=self.align_corners
                )
            total = total + weight * self.base(
                logits, downsample_target(target, (int(logits.shape[-2]), int(logits.shape[-1])))
            )
        return total


class DistillationLoss(nn.Module):
    """Knowledge distillation: ``weight * T**2 * KL(softmax(teacher / T) || softmax(student / T))``.

    The KL divergence is summed over classes per pixel and averaged over the pixels whose
    target is not ``ignore_index`` (dropout holes, pixels rotated in from outside), so the
    teacher is followed exactly where the hard loss is. Logits of another size than the target
    are upsampled bilinearly to it first, like the hard loss's main logits (``resize: logits``).
    The teacher's logits carry no gradient. ``T**2`` keeps the gradients' size as ``T`` changes
    (Hinton et al., 2015, "Distilling the knowledge in a neural network").

    Args:
        weight: Weight of the term (> 0).
        temperature: Softmax temperature ``T`` (> 0).
        ignore_index: Target value whose pixels count for nothing.
        align_corners: The student's ``align_corners`` (used when logits are upsampled).
    """

    def __init__(
        self,
        *,
        weight: float = 1.0,
        temperature: float = 1.0,
        ignore_index: int = IGNORE_INDEX,
        align_corners: bool = False,
    ) -> None:
        super().__init__()
        if not (weight > 0.0 and temperature > 0.0):
            raise RecipeError(
                f"distillation weight and temperature must be positive, got {weight}, {temperature}"
            )
        self.weight = float(weight)
        self.temperature = float(temperature)
        self.ignore_index = ignore_index
        self.align_corners = align_corners

    def _resized(self, logits: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        if tuple(logits.shape[-2:]) == size:
            return logits.float()
        return F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=self.align_corners)

    def forward(self, student: torch.Tensor, teacher: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if student.shape[1] != teacher.shape[1]:
            raise ValueError(
                f"student logits have {student.shape[1]} classes but the teacher's have {teacher.shape[1]}"
            )
        size = (int(target.shape[-2]), int(target.shape[-1]))
        log_student = F.log_softmax(self._resized(student, size) / self.temperature, dim=1)
        log_teacher = F.log_softmax(self._resized(teacher.detach(), size) / self.temperature, dim=1)
        divergence = (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1)
        valid = (target != self.ignore_index).to(divergence.dtype)
        mean = (divergence * valid).sum() / valid.sum().clamp(min=1.0)
        return self.weight * self.temperature**2 * mean


class MarkingPointLoss(nn.Module):
    """Loss of the marking-point head against its target.

    The target is :func:`~seg_perception.data.marking_points.marking_point_target`.

    Heat: quality focal loss (binary cross-entropy with the soft Gaussian target, scaled by
    ``|target - p|^gamma``: easy background cells fade out, as in CenterNet's focal loss, and
    the sub-cell Gaussian shape is kept), summed and divided by the number of points (the
    summed target heat, at least 1). Direction: L1 between the predicted unit direction and the
    target's, on the cells near a point (target heat > ``direction_min_heat``). Offsets (a head
    with five channels, against a five-channel target): L1 between the predicted and the true
    sub-cell offset, in cells, on the same cells. Cells whose label is ignored (rotated in from
    outside, dropped out) count for none of them.
    """

    def __init__(
        self,
        *,
        heat_weight: float = 1.0,
        direction_weight: float = 0.5,
        offset_weight: float = 0.0,
        gamma: float = 2.0,
        direction_min_heat: float = 0.3,
    ) -> None:
        super().__init__()
        self.heat_weight = heat_weight
        self.direction_weight = direction_weight
        self.offset_weight = offset_weight
        self.gamma = gamma
        self.direction_min_heat = direction_min_heat

    def forward(
        self, raw: torch.Tensor, target: torch.Tensor, valid: torch.Tensor | None = None
    ) -> torch.Tensor:
        raw = raw.float()
        if raw.shape[-2:] != target.shape[-2:] or raw.shape[1] != target.shape[1]:
            raise ValueError(
                f"marking-point output {tuple(raw.shape)} and target {tuple(target.shape)} differ"
            )
        weight = torch.ones_like(target[:, 0]) if valid is None else valid.float()
        heat_target = target[:, 0]
        probability = torch.sigmoid(raw[:, 0])
        bce = F.binary_cross_entropy_with_logits(raw[:, 0], heat_target, reduction="none")
        focal = bce * (heat_target - probability).abs().pow(self.gamma)
        points = torch.clamp(
            heat_target.sum() / (2.0 * torch.pi), min=1.0
        )  # a Gaussian sums to ~2*pi*s^2/stride^2
        heat_loss = (focal * weight).sum() / points
        direction = raw[:, 1:3]
        direction = direction / torch.sqrt((direction * direction).sum(1, keepdim=True) + 1e-12)
        near = ((heat_target > self.direction_min_heat).float() * weight).unsqueeze(1)
        direction_loss = ((direction - target[:, 1:3]).abs() * near).sum() / torch.clamp(near.sum(), min=1.0)
        total = self.heat_weight * heat_loss + self.direction_weight * direction_loss
        if raw.shape[1] > 3:
            offset_loss = ((raw[:, 3:5] - target[:, 3:5]).abs() * near).sum() / torch.clamp(
                near.sum(), min=1.0
            )
            total = total + self.offset_weight * offset_loss
        return total


def valid_cells(mask: torch.Tensor, size: tuple[int, int], ignore_index: int = IGNORE_INDEX) -> torch.Tensor:
    """``(N, h, w)`` bool: cells of a 1/stride map whose (nearest) label is not ignored."""
    return downsample_target(mask, size) != ignore_index


_LOSSES = {"ce": CrossEntropyLoss, "focal": FocalLoss, "soft_ce": SoftCrossEntropyLoss}


def build_loss(
    spec: Mapping[str, Any] | None,
    *,
    loss_weights: Sequence[float] = (1.0,),
    ignore_index: int = IGNORE_INDEX,
    align_corners: bool = False,
) -> CascadeLoss:
    """Build the training loss from a recipe's ``loss`` block.

    Args:
        spec: ``{"terms": {"focal": 0.3, "soft_ce": 0.7}, "focal_gamma": 2.0,
            "smoothing": 0.1, "class_weights": [1.0, 5.0], "resize": "logits"}``; a flat
            ``{"focal": 0.3, ...}`` mapping of term weights is accepted too. ``None`` means plain CE.
        loss_weights: The model's cascade weights (``model.loss_weights``).
        ignore_index: Target value that contributes nothing.
        align_corners: The model's ``align_corners`` (used when logits are upsampled).

    Raises:
        RecipeError: an unknown term or a malformed option.
    """
    spec = dict(spec or {"ce": 1.0})
    terms_spec = spec.pop("terms", None)
    if terms_spec is None:
        terms_spec = {name: spec.pop(name) for name in list(spec) if name in _LOSSES}
    class_weights = spec.pop("class_weights", None)
    gamma = float(spec.pop("focal_gamma", 2.0))
    smoothing = float(spec.pop("smoothing", 0.1))
    resize = str(spec.pop("resize", "target"))
    if spec:
        raise RecipeError(f"unknown loss options {sorted(spec)}; known terms are {sorted(_LOSSES)}")
    terms: dict[str, tuple[float, nn.Module]] = {}
    for name, weight in dict(terms_spec).items():
        common: dict[str, Any] = {"ignore_index": ignore_index, "class_weights": class_weights}
        if name == "ce":
            module: nn.Module = CrossEntropyLoss(**common)
        elif name == "focal":
            module = FocalLoss(gamma=gamma, **common)
        elif name == "soft_ce":
            module = SoftCrossEntropyLoss(smoothing=smoothing, **common)
        else:
            raise RecipeError(f"unknown loss term {name!r}; choose from {sorted(_LOSSES)}")
        terms[name] = (float(weight), module)
    return CascadeLoss(CombinedLoss(terms), loss_weights, resize=resize, align_corners=align_corners)
