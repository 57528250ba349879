"""Registry and the forward contract of every registered model."""

from __future__ import annotations

import pytest
import torch

from seg_perception.models import ModelOptionError, UnknownModelError, build_model, list_models

# Too slow to run on CPU in the suite: their shapes are checked on the meta device instead.
HEAVY = {"hrnetv2_w18", "hrnetv2_w32", "hrnetv2_w48", "icnet_r50"}
SIZES = [(64, 96), (70, 90)]  # 70x90: not divisible by 32


def test_list_models_has_every_family() -> None:
    names = list_models()
    assert names == sorted(names)
    for expected in (
        "icnet_r50",
        "icnet_r18",
        "icnet_lite",
        "hrnetv2_w18",
        "hrnetv2_w32",
        "hrnetv2_w48",
        "hrnetv2_w18_small_v1",
        "hrnetv2_w18_small_v2",
    ):
        assert expected in names


def test_unknown_name_lists_valid_names() -> None:
    with pytest.raises(UnknownModelError) as info:
        build_model("icnet_huge", 3)
    message = str(info.value)
    assert "icnet_huge" in message
    assert all(name in message for name in list_models())


def test_unknown_option_and_bad_values_are_rejected() -> None:
    with pytest.raises(ModelOptionError, match="csp"):
        build_model("icnet_lite", 3, csp=True)
    with pytest.raises(ModelOptionError, match="activation"):
        build_model("icnet_lite", 3, activation="gelu")
    with pytest.raises(ModelOptionError, match="num_classes"):
        build_model("icnet_lite", 0)
    with pytest.raises(ModelOptionError, match="csp_ratio"):
        build_model("hrnetv2_w18_small_v1", 3, csp=True, csp_ratio=1.5)


def _check_eval(model: torch.nn.Module, size: tuple[int, int], num_classes: int, device: str = "cpu") -> None:
    model.eval()
    with torch.no_grad():
        logits = model(torch.randn(2, 3, *size, device=device))
    assert isinstance(logits, torch.Tensor)
    assert tuple(logits.shape) == (2, num_classes, *size)


def _train_outputs(model: torch.nn.Module, size: tuple[int, int], num_classes: int) -> list[torch.Tensor]:
    model.train()
    outputs = model(torch.randn(2, 3, *size))
    assert isinstance(outputs, list)
    assert len(outputs) == len(model.loss_weights)
    for out in outputs:
        assert out.shape[:2] == (2, num_classes)
    return outputs


def _backward_reaches_every_parameter(model: torch.nn.Module, outputs: list[torch.Tensor]) -> None:
    loss = sum(w * o.square().mean() for w, o in zip(model.loss_weights, outputs, strict=True))
    loss.backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None for g in grads)
    assert sum(float(g.abs().sum()) for g in grads) > 0


@pytest.mark.parametrize("name", sorted(set(list_models()) - HEAVY))
def test_forward_contract_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 3)
    for size in SIZES:
        _check_eval(model, size, 3)
    _backward_reaches_every_parameter(model, _train_outputs(model, SIZES[1], 3))


@pytest.mark.parametrize("name", sorted(HEAVY))
def test_heavy_models_build_and_shape_on_meta_device(name: str) -> None:
    with torch.device("meta"):
        model = build_model(name, 5)
    assert sum(p.numel() for p in model.parameters()) > 5_000_000
    _check_eval(model, SIZES[1], 5, device="meta")


def test_icnet_cascade_resolutions_and_weights() -> None:
    model = build_model("icnet_lite", 2).train()
    main, aux_8, aux_16 = model(torch.randn(1, 3, 128, 256))
    assert model.loss_weights == (1.0, 0.4, 0.4)
    assert main.shape[-2:] == (32, 64)
    assert aux_8.shape[-2:] == (16, 32)
    assert aux_16.shape[-2:] == (8, 16)


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("icnet_lite", {"activation": "mish"}),
        ("hrnetv2_w18_small_v1", {"activation": "mish"}),
        ("hrnetv2_w18_small_v1", {"csp": True}),
        ("hrnetv2_w18_small_v1", {"csp": True, "csp_ratio": 0.25, "activation": "mish"}),
    ],
)
def test_options_keep_the_contract(name: str, options: dict[str, object]) -> None:
    torch.manual_seed(0)
    model = build_model(name, 4, **options)
    _check_eval(model, (38, 50), 4)
    _backward_reaches_every_parameter(model, _train_outputs(model, (38, 50), 4))


@pytest.mark.parametrize("name", ["icnet_lite", "hrnetv2_w18_small_v1"])
def test_marking_point_head_contract_and_gradients(name: str) -> None:
    torch.manual_seed(0)
    model = build_model(name, 3, marking_points=True)
    model.eval()
    with torch.no_grad():
        logits, points = model(torch.randn(2, 3, 64, 96))
    assert tuple(logits.shape) == (2, 3, 64, 96)
    assert tuple(points.shape) == (2, 3, 16, 24)  # heat + unit direction at 1/4
    assert float(points[:, 0].min()) >= 0.0 and float(points[:, 0].max()) <= 1.0
    torch.testing.assert_close(points[:, 1:].square().sum(1), torch.ones(2, 16, 24), atol=1e-4, rtol=0)
    model.train()
    outputs, raw = model(torch.randn(2, 3, 64, 96))
    assert len(outputs) == len(model.loss_weights)
    loss = sum(o.square().mean() for o in outputs) + raw.square().mean()
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("name", ["icnet_lite", "hrnetv2_w18_small_v1"])
def test_offset_head_adds_two_channels_that_start_at_the_cell_centre(name: str) -> None:
    torch.manual_seed(0)
    plain = build_model(name, 3, marking_points=True)
    model = build_model(name, 3, marking_points=True, point_offsets=True)
    assert model.point_offsets and not plain.point_offsets
    # Every key of the plain model is in the grown one, same shape; the new ones are the offset branch.
    grown, base = model.state_dict(), plain.state_dict()
    assert all(grown[key].shape == value.shape for key, value in base.items())
    assert {key.split(".")[1] for key in set(grown) - set(base)} == {"offset"}
    model.load_state_dict(base, strict=False)
    model.eval()
    plain.eval()
    with torch.no_grad():
        image = torch.randn(1, 3, 64, 96)
        _, points = model(image)
        _, plain_points = plain(image)
    assert tuple(points.shape) == (1, 5, 16, 24)
    torch.testing.assert_close(points[:, :3], plain_points)  # heat and direction: the plain head's
    assert float(points[:, 3:].abs().max()) == 0.0  # zero-initialised: at the cell centre
    with pytest.raises(ModelOptionError, match="needs marking_points"):
        build_model(name, 3, point_offsets=True)


def test_models_without_the_head_keep_the_plain_contract() -> None:
    model = build_model("icnet_lite", 3).eval()
    assert model.marking_points is False
    with torch.no_grad():
        assert isinstance(model(torch.randn(1, 3, 64, 64)), torch.Tensor)
