"""The ``models`` command: parameters and GFLOPs in the official convention."""

from __future__ import annotations

import pytest
import torch

from seg_perception.cli import main
from seg_perception.models import build_model
from seg_perception.models.complexity import count_gflops, count_macs


def test_macs_of_a_single_conv() -> None:
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3, padding=1, bias=False))
    assert count_macs(model, (10, 12)) == 8 * 3 * 9 * 10 * 12


def test_gflops_match_the_official_hrnet_table() -> None:
    with torch.device("meta"):
        w48 = build_model("hrnetv2_w48", 19)
        small_v1 = build_model("hrnetv2_w18_small_v1", 19)
    assert count_gflops(w48, (1024, 2048)) == pytest.approx(696.2, rel=0.01)
    assert count_gflops(small_v1, (1024, 2048)) == pytest.approx(31.1, rel=0.01)


def test_models_command_prints_every_requested_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--size", "512x1024", "--models", "icnet_lite", "hrnetv2_w48", "--markdown"]) == 0
    out = capsys.readouterr().out
    rows = {line.split("|")[1].strip(): line for line in out.splitlines() if line.startswith("| ")}
    assert "icnet_lite" in rows and "hrnetv2_w48" in rows
    assert "65.86" in rows["hrnetv2_w48"]


def test_models_command_unknown_name_fails_cleanly(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["models", "--models", "nope"]) == 1
    assert "valid names" in capsys.readouterr().err
