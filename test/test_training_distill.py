"""Knowledge distillation: the loss term by hand, the recipe block, the teacher's checks, a short run."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
from test_training_trainer import SIZE, make_trainer, tiny_recipe

from seg_perception.errors import ModelFileError
from seg_perception.inference.checkpoint import read_checkpoint, save_checkpoint
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.models import build_model
from seg_perception.training.errors import RecipeError
from seg_perception.training.losses import DistillationLoss
from seg_perception.training.recipe import DistillSpec, Recipe, load_recipe, parse_recipe

IGNORE = 255


def random_logits(seed: int, shape: tuple[int, ...] = (2, 2, 4, 6)) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def test_distill_term_is_zero_for_equal_logits_and_positive_otherwise() -> None:
    target = torch.zeros(2, 4, 6, dtype=torch.int64)
    student, teacher = random_logits(0), random_logits(1)
    loss = DistillationLoss(weight=0.5, temperature=2.0)
    assert loss(student, student.clone(), target).item() == pytest.approx(0.0, abs=1e-7)
    assert loss(student, teacher, target).item() > 0.0


def test_distill_term_matches_hand_value_with_weight_and_temperature() -> None:
    # One pixel, two classes: student logits (0, 0) -> q = (1/2, 1/2); teacher (0, 2 log 3) at
    # T = 2 -> p = (1/4, 3/4). KL(p || q) = 1/4 log(1/2) + 3/4 log(3/2); times w T^2 = 0.5 * 4.
    student = torch.tensor([[[[0.0]], [[0.0]]]])
    teacher = torch.tensor([[[[0.0]], [[2 * math.log(3.0)]]]])
    target = torch.zeros(1, 1, 1, dtype=torch.int64)
    expected = 2.0 * (0.25 * math.log(0.5) + 0.75 * math.log(1.5))
    value = DistillationLoss(weight=0.5, temperature=2.0)(student, teacher, target).item()
    assert value == pytest.approx(expected, rel=1e-6)


def test_ignored_pixels_count_for_nothing() -> None:
    student, teacher = random_logits(0, (1, 2, 1, 2)), random_logits(1, (1, 2, 1, 2))
    loss = DistillationLoss()
    only_first = loss(student[..., :1], teacher[..., :1], torch.zeros(1, 1, 1, dtype=torch.int64))
    masked = loss(student, teacher, torch.tensor([[[0, IGNORE]]]))
    assert masked.item() == pytest.approx(only_first.item(), rel=1e-6)
    everything_ignored = loss(student, teacher, torch.full((1, 1, 2), IGNORE))
    assert everything_ignored.item() == 0.0


def test_low_resolution_logits_are_upsampled_to_the_target_and_gradients_reach_only_the_student() -> None:
    student = random_logits(0, (1, 2, 2, 3)).requires_grad_(True)
    teacher = random_logits(1, (1, 2, 8, 12)).requires_grad_(True)
    value = DistillationLoss()(student, teacher, torch.zeros(1, 8, 12, dtype=torch.int64))
    value.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None
    with pytest.raises(ValueError, match="have 3"):
        DistillationLoss()(
            random_logits(0, (1, 2, 2, 2)), random_logits(1, (1, 3, 2, 2)), torch.zeros(1, 2, 2)
        )


def test_distill_block_parses_and_is_checked() -> None:
    base = {"scenario": "highway", "model": "m", "input_size": [8, 8]}
    recipe = parse_recipe({**base, "distill": {"teacher": "t.pt", "weight": 0.5, "temperature": 2}})
    assert recipe.distill == DistillSpec(teacher="t.pt", weight=0.5, temperature=2.0)
    assert recipe.to_dict()["distill"] == {"teacher": "t.pt", "weight": 0.5, "temperature": 2.0}
    assert parse_recipe(base).distill is None
    for block, message in (
        ({"weight": 1.0}, "distill.teacher"),
        ({"teacher": "t.pt", "weight": 0.0}, "positive"),
        ({"teacher": "t.pt", "temperature": -1}, "positive"),
        ({"teacher": "t.pt", "weight": "heavy"}, "numbers"),
        ({"teacher": "t.pt", "alpha": 1}, "unknown distill fields"),
        ("t.pt", "mapping"),
    ):
        with pytest.raises(RecipeError, match=message):
            parse_recipe({**base, "distill": block})


def test_shipped_distill_recipe_parses() -> None:
    recipe = load_recipe("highway_distill")
    assert recipe.distill is not None and recipe.distill.teacher.endswith(".pt")
    assert recipe.model == "icnet_lite"


def save_teacher(
    path: Path, *, classes: tuple[str, ...] = ("background", "lane_marking"), **changes: object
) -> Path:
    """A tiny real teacher: an untrained icnet_lite checkpoint with the highway class map."""
    torch.manual_seed(0)
    model = build_model("icnet_lite", len(classes))
    metadata = ModelMetadata(
        model="icnet_lite",
        scenario="highway",
        classes=classes,
        colors=tuple("#000000" for _ in classes),
        input_size=SIZE,
    )
    return save_checkpoint(path, model, dataclasses.replace(metadata, **changes), model_name="icnet_lite")


def distill_recipe(teacher: Path, **changes: object) -> Recipe:
    spec = DistillSpec(teacher=str(teacher), weight=1.0, temperature=2.0)
    return dataclasses.replace(tiny_recipe(**changes), distill=spec)


def test_missing_teacher_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(RecipeError, match=r"distill.teacher .*nope.pt does not exist.*recover"):
        make_trainer(distill_recipe(tmp_path / "nope.pt"), tmp_path / "run")


def test_teacher_of_another_class_map_or_normalisation_is_refused(tmp_path: Path) -> None:
    wrong = save_teacher(tmp_path / "wrong.pt", classes=("background", "lane_marking", "curb"))
    with pytest.raises(RecipeError, match="class map"):
        make_trainer(distill_recipe(wrong), tmp_path / "a")
    other_scenario = save_teacher(tmp_path / "road.pt", scenario="road")
    with pytest.raises(RecipeError, match="scenario 'road'"):
        make_trainer(distill_recipe(other_scenario), tmp_path / "b")
    other_mean = save_teacher(tmp_path / "mean.pt", mean=(0.5, 0.5, 0.5))
    with pytest.raises(RecipeError, match="normalised"):
        make_trainer(distill_recipe(other_mean), tmp_path / "c")


def test_teacher_weights_load_strictly(tmp_path: Path) -> None:
    path = save_teacher(tmp_path / "teacher.pt")
    raw = read_checkpoint(path)
    first = next(iter(raw["state_dict"]))
    del raw["state_dict"][first]
    torch.save(raw, path)
    with pytest.raises(ModelFileError, match="do not fit"):
        make_trainer(distill_recipe(path), tmp_path / "run")


def test_short_distilled_run_trains_the_student_and_leaves_the_teacher_alone(tmp_path: Path) -> None:
    teacher_path = save_teacher(tmp_path / "teacher.pt")
    trainer = make_trainer(distill_recipe(teacher_path, steps=6), tmp_path / "run")
    assert trainer.teacher is not None and not trainer.teacher.training
    assert not any(p.requires_grad for p in trainer.teacher.parameters())
    before = {k: v.clone() for k, v in trainer.teacher.state_dict().items()}
    result = trainer.fit()
    assert result.steps == 6
    assert not trainer.teacher.training
    for name, value in trainer.teacher.state_dict().items():
        assert torch.equal(value, before[name]), name  # batch norm statistics included
    saved = read_checkpoint(tmp_path / "run" / "last.pt")
    assert saved["metadata"]["extra"]["distilled_from"] == {
        "teacher": "teacher.pt",
        "weight": 1.0,
        "temperature": 2.0,
    }
    assert saved["recipe"]["distill"]["teacher"] == str(teacher_path)


def test_distill_term_adds_to_the_hard_loss(tmp_path: Path) -> None:
    teacher_path = save_teacher(tmp_path / "teacher.pt")
    plain = make_trainer(tiny_recipe(), tmp_path / "plain")
    distilled = make_trainer(distill_recipe(teacher_path), tmp_path / "kd")
    distilled.model.load_state_dict(plain.model.state_dict())
    images, masks = next(plain._batches())
    plain.model.train()
    distilled.model.train()
    with torch.no_grad():
        outputs = plain.model(images)
        hard = plain.criterion(outputs, masks).item()
        assert distilled.distill_criterion is not None
        soft = distilled.distill_criterion(outputs[0], distilled._teacher_logits(images), masks).item()
    assert soft > 0.0
    assert distilled._train_step(images, masks) == pytest.approx(hard + soft, rel=1e-5)
