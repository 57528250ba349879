"""HRNetV2: official parameter counts, official key names, official checkpoint loading, CSP."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from seg_perception.models import (
    StateDictMismatchError,
    build_model,
    load_official_hrnet_state_dict,
)
from seg_perception.models.complexity import count_parameters

# HRNet-Semantic-Segmentation README, Cityscapes (19 classes): #Params.
OFFICIAL_PARAMS_M = {"hrnetv2_w48": 65.8, "hrnetv2_w18_small_v1": 1.5, "hrnetv2_w18_small_v2": 3.9}


@pytest.mark.parametrize(("name", "official_m"), sorted(OFFICIAL_PARAMS_M.items()))
def test_parameter_counts_match_official(name: str, official_m: float) -> None:
    with torch.device("meta"):
        model = build_model(name, 19)
    assert count_parameters(model) / 1e6 == pytest.approx(official_m, rel=0.03)


def test_official_key_names() -> None:
    with torch.device("meta"):
        keys = set(build_model("hrnetv2_w48", 19).state_dict())
    expected = [
        "conv1.weight",
        "bn1.running_mean",
        "conv2.weight",
        "bn2.weight",
        "layer1.0.conv3.weight",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.weight",
        "layer1.3.bn3.running_var",
        "transition1.0.0.weight",
        "transition1.0.1.weight",
        "transition1.1.0.0.weight",
        "transition2.2.0.0.weight",
        "transition3.3.0.1.running_mean",
        "stage2.0.branches.0.0.conv1.weight",
        "stage2.0.branches.1.3.bn2.bias",
        "stage2.0.fuse_layers.0.1.0.weight",
        "stage2.0.fuse_layers.1.0.0.0.weight",
        "stage3.3.fuse_layers.0.2.1.running_var",
        "stage3.3.fuse_layers.2.0.1.0.weight",
        "stage4.2.fuse_layers.3.0.0.0.weight",
        "stage4.2.fuse_layers.3.0.2.0.weight",
        "stage4.2.fuse_layers.3.0.2.1.weight",
        "stage4.2.fuse_layers.0.3.1.bias",
        "last_layer.0.weight",
        "last_layer.0.bias",
        "last_layer.1.running_var",
        "last_layer.3.weight",
        "last_layer.3.bias",
    ]
    assert [key for key in expected if key not in keys] == []
    # Places where the official code has None (same width / same branch) hold no weights.
    absent = [
        "transition2.0.0.weight",
        "transition2.1.0.weight",
        "stage2.0.fuse_layers.0.0.0.weight",
        "stage4.3.branches.0.0.conv1.weight",
        "stage5.0.branches.0.0.conv1.weight",
    ]
    assert [key for key in absent if key in keys] == []
    assert max(int(k.split(".")[1]) for k in keys if k.startswith("stage3.")) == 3
    assert keys.isdisjoint({k for k in keys if k.startswith("stage4.") and ".branches.4." in k})


def _official_style_checkpoint(num_classes: int) -> dict[str, torch.Tensor]:
    torch.manual_seed(1)
    source = build_model("hrnetv2_w18_small_v1", num_classes)
    for parameter in source.parameters():
        torch.nn.init.normal_(parameter)
    # The official checkpoints are saved from the FullModel wrapper: "model." plus the loss weights.
    state = {f"model.{key}": value for key, value in source.state_dict().items()}
    state["loss.criterion.weight"] = torch.ones(num_classes)
    return state


def _assert_loaded(
    model: torch.nn.Module, state: dict[str, torch.Tensor], *, skip: tuple[str, ...] = ()
) -> None:
    for key, value in model.state_dict().items():
        if key not in skip:
            torch.testing.assert_close(value, state[f"model.{key}"])


def test_load_official_checkpoint_strict_with_prefix(tmp_path: Path) -> None:
    state = _official_style_checkpoint(19)
    path = tmp_path / "hrnet_cs.pth"
    torch.save(state, path)
    model = build_model("hrnetv2_w18_small_v1", 19)
    report = load_official_hrnet_state_dict(model, path, strict=True)
    assert report.stripped_prefix == "model."
    assert report.wrapper_keys == ["loss.criterion.weight"]
    assert report.problems == [] and not report.head_reinitialised
    _assert_loaded(model, state)
    # Without the prefix, through the model method.
    plain = {key[len("model.") :]: v for key, v in state.items() if key.startswith("model.")}
    other = build_model("hrnetv2_w18_small_v1", 19)
    assert other.load_official_state_dict(plain).stripped_prefix is None
    _assert_loaded(other, state)


def test_class_count_mismatch_reinitialises_the_head(caplog: pytest.LogCaptureFixture) -> None:
    state = _official_style_checkpoint(19)
    model = build_model("hrnetv2_w18_small_v1", 3)
    report = load_official_hrnet_state_dict(model, state, strict=True)
    assert report.head_reinitialised
    assert "last_layer.3.weight" not in report.loaded
    assert "re-initialised" in caplog.text
    assert model.last_layer[3].weight.shape[0] == 3
    _assert_loaded(model, state, skip=("last_layer.3.weight", "last_layer.3.bias"))


def test_missing_and_unexpected_keys_are_reported_by_name() -> None:
    state = _official_style_checkpoint(19)
    del state["model.stage3.0.branches.2.1.bn2.running_var"]
    state["model.incre_modules.0.0.conv1.weight"] = torch.zeros(1)
    model = build_model("hrnetv2_w18_small_v1", 19)
    with pytest.raises(StateDictMismatchError) as info:
        load_official_hrnet_state_dict(model, state, strict=True)
    assert "stage3.0.branches.2.1.bn2.running_var" in str(info.value)
    assert "incre_modules.0.0.conv1.weight" in str(info.value)
    report = load_official_hrnet_state_dict(model, state, strict=False)
    assert report.missing == ["stage3.0.branches.2.1.bn2.running_var"]
    assert report.unexpected == ["incre_modules.0.0.conv1.weight"]
    assert "stage3.0.branches.2.1.bn2.running_mean" in report.loaded


def test_mis_shaped_key_is_an_error_when_strict() -> None:
    state = _official_style_checkpoint(19)
    state["model.conv2.weight"] = torch.zeros(64, 64, 1, 1)
    model = build_model("hrnetv2_w18_small_v1", 19)
    with pytest.raises(StateDictMismatchError, match=r"conv2\.weight"):
        load_official_hrnet_state_dict(model, state, strict=True)
    report = load_official_hrnet_state_dict(model, state, strict=False)
    assert [line.split(":")[0] for line in report.mismatched] == ["conv2.weight"]


def test_csp_shrinks_the_stages() -> None:
    with torch.device("meta"):
        plain = build_model("hrnetv2_w18_small_v2", 3)
        csp = build_model("hrnetv2_w18_small_v2", 3, csp=True)
        csp_light = build_model("hrnetv2_w18_small_v2", 3, csp=True, csp_ratio=0.25)
    assert count_parameters(csp) < count_parameters(csp_light) < count_parameters(plain)
    assert csp.stage3.bypass == (9, 18, 36)  # half of (18, 36, 72) skips stage 3
