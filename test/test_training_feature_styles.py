"""MixStyle: the statistics by hand, the hooks' scope, the recipe block, a short run."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from test_training_trainer import make_trainer, tiny_recipe
from torch import nn

from seg_perception.inference.checkpoint import read_checkpoint
from seg_perception.models import build_model
from seg_perception.training.errors import RecipeError
from seg_perception.training.feature_styles import MixStyle, mix_styles
from seg_perception.training.recipe import MixStyleSpec, parse_recipe


def feature_maps(seed: int = 0) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    scale = torch.tensor([0.5, 2.0, 4.0]).view(1, 3, 1, 1)
    return torch.randn(3, 3, 5, 7, generator=generator) * scale + torch.arange(3.0).view(3, 1, 1, 1)


def test_mixed_maps_carry_the_mixed_statistics_and_keep_their_content() -> None:
    x = feature_maps()
    weights = torch.tensor([1.0, 0.25, 0.0], dtype=torch.float64)
    partners = torch.tensor([2, 0, 1])
    mixed = mix_styles(x, weights, partners)
    mean, std = x.mean((2, 3)), (x.var((2, 3)) + 1e-6).sqrt()
    share = weights.float().view(-1, 1)
    torch.testing.assert_close(mixed.mean((2, 3)), share * mean + (1 - share) * mean[partners])
    torch.testing.assert_close(
        (mixed.var((2, 3)) + 1e-6).sqrt(), share * std + (1 - share) * std[partners], rtol=1e-4, atol=1e-4
    )
    torch.testing.assert_close(mixed[0], x[0], rtol=1e-4, atol=1e-4)  # all its own style: unchanged
    normalised = (x - x.mean((2, 3), keepdim=True)) / x.std((2, 3), keepdim=True)
    mixed_normalised = (mixed - mixed.mean((2, 3), keepdim=True)) / mixed.std((2, 3), keepdim=True)
    torch.testing.assert_close(mixed_normalised, normalised, rtol=1e-3, atol=1e-3)


def test_the_statistics_pass_no_gradient() -> None:
    x = feature_maps().requires_grad_(True)
    mix_styles(x, torch.full((3,), 0.5, dtype=torch.float64), torch.tensor([1, 2, 0])).sum().backward()
    # with the statistics detached the sum's gradient is the rescale alone, per map
    assert x.grad is not None and torch.isfinite(x.grad).all()
    assert torch.allclose(x.grad, x.grad[:, :, :1, :1].expand_as(x.grad))


class ListStage(nn.Module):
    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [x, nn.functional.avg_pool2d(x, 2)]


def test_hooks_mix_only_inside_active_in_training_and_never_a_single_frame() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), ListStage())
    mixer = MixStyle(model, MixStyleSpec(modules=("0", "1"), p=1.0, alpha=0.1), seed=3)
    x = torch.randn(4, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    plain = model(x)
    with mixer.active():
        mixed = model(x)
    assert mixer.mixed_calls == 2  # the conv's map, and the stage's list
    assert all(not torch.allclose(a, b) for a, b in zip(plain, mixed, strict=True))
    assert all(torch.equal(a, b) for a, b in zip(plain, model(x), strict=True))  # outside: untouched
    model.eval()
    with mixer.active():
        assert all(torch.equal(a, b) for a, b in zip(plain, model(x), strict=True))
    model.train()
    with mixer.active():
        single = model(x[:1])
    assert all(torch.allclose(a, b[:1], atol=1e-6) for a, b in zip(single, plain, strict=True))
    mixer.remove()
    with mixer.active():
        assert all(torch.equal(a, b) for a, b in zip(plain, model(x), strict=True))


def test_p_sets_how_often_a_batch_is_mixed_and_the_draws_repeat_with_the_seed() -> None:
    def mixed_outputs(p: float, seed: int) -> list[torch.Tensor]:
        model = nn.Sequential(nn.Identity())
        mixer = MixStyle(model, MixStyleSpec(modules=("0",), p=p), seed=seed)
        x = feature_maps()
        with mixer.active():
            return [model(x) for _ in range(40)]

    never = mixed_outputs(0.0, 0)
    assert all(torch.equal(out, feature_maps()) for out in never)
    half = mixed_outputs(0.5, 0)
    changed = sum(not torch.equal(out, feature_maps()) for out in half)
    assert 10 <= changed <= 30
    again = mixed_outputs(0.5, 0)
    assert all(torch.equal(a, b) for a, b in zip(half, again, strict=True))


def test_an_hrnet_stage_is_mixed_branch_by_branch() -> None:
    model = build_model("hrnetv2_w18_small_v1", 3, marking_points=True)
    model.train()
    mixer = MixStyle(model, MixStyleSpec(modules=("layer1", "stage2"), p=1.0), seed=0)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with mixer.active():
        outputs, points = model(x)
    assert mixer.mixed_calls == 2
    assert outputs[0].shape[-2:] == (64, 64) and points.shape[0] == 2


def test_unknown_modules_are_named() -> None:
    with pytest.raises(RecipeError, match="no module 'stage9'"):
        MixStyle(nn.Sequential(nn.Identity()), MixStyleSpec(modules=("stage9",)), seed=0)


def test_mix_style_block_parses_and_is_checked() -> None:
    base = {"scenario": "highway", "model": "m", "input_size": [8, 8]}
    recipe = parse_recipe({**base, "mix_style": {"modules": ["layer1", "stage2"], "alpha": 0.2}})
    assert recipe.mix_style == MixStyleSpec(modules=("layer1", "stage2"), p=0.5, alpha=0.2)
    assert parse_recipe(base).mix_style is None
    for block, message in [
        ({"modules": []}, "mix_style.modules"),
        ({"modules": "layer1"}, "mix_style.modules"),
        ({"modules": ["layer1"], "p": 1.5}, "mix_style.p"),
        ({"modules": ["layer1"], "alpha": 0}, "mix_style.alpha must be positive"),
        ({"modules": ["layer1"], "alpha": "x"}, "mix_style.alpha must be a number"),
        ({"modules": ["layer1"], "beta": 1}, "unknown mix_style fields"),
        (["layer1"], "mix_style must be a mapping"),
    ]:
        with pytest.raises(RecipeError, match=message):
            parse_recipe({**base, "mix_style": block})


def test_a_short_run_mixes_its_training_batches_only_and_records_it(tmp_path: Path) -> None:
    recipe = tiny_recipe(steps=4, val_every=2, mix_style=MixStyleSpec(modules=("body.0",), p=1.0))
    trainer = make_trainer(recipe, tmp_path)
    assert trainer.mix_style is not None
    trainer.fit()
    assert trainer.mix_style.mixed_calls == 4  # one a step; validation (twice) runs unmixed
    saved = read_checkpoint(tmp_path / "last.pt")
    assert saved["metadata"]["extra"]["mix_style"] == {"modules": ["body.0"], "p": 1.0, "alpha": 0.1}
