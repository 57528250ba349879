"""Knowledge distillation: the loss term by hand, the recipe block, the teacher's checks, a short run."""

from __future__ import annotations

import copy
import dataclasses
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from test_training_trainer import SIZE, make_trainer, tiny_recipe

from seg_perception.errors import ModelFileError
from seg_perception.inference.checkpoint import read_checkpoint, save_checkpoint
from seg_perception.inference.metadata import ModelMetadata
from seg_perception.inference.preprocess import Normalization, preprocess
from seg_perception.models import build_model
from seg_perception.training.anchor_frames import AnchorSet, load_anchor_frames
from seg_perception.training.errors import RecipeError
from seg_perception.training.losses import DistillationLoss
from seg_perception.training.recipe import DistillSpec, Recipe, load_recipe, parse_recipe
from seg_perception.training.trainer import Trainer

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
    assert recipe.to_dict()["distill"] == {
        "teacher": "t.pt",
        "weight": 0.5,
        "temperature": 2.0,
        "anchor_frames": None,
        "anchor_weight": 1.0,
        "anchor_batch": 4,
        "anchor_every": 1,
    }
    assert parse_recipe(base).distill is None
    anchored = {
        "teacher": "t.pt",
        "weight": 0,
        "anchor_frames": "v.mp4",
        "anchor_batch": 2,
        "anchor_every": 3,
    }
    assert parse_recipe({**base, "distill": anchored}).distill == DistillSpec(
        teacher="t.pt", weight=0.0, anchor_frames="v.mp4", anchor_batch=2, anchor_every=3
    )
    for block, message in (
        ({"weight": 1.0}, "distill.teacher"),
        ({"teacher": "t.pt", "weight": 0.0}, "needs distill.anchor_frames"),
        ({"teacher": "t.pt", "weight": -1.0}, "not negative"),
        ({"teacher": "t.pt", "temperature": -1}, "positive"),
        ({"teacher": "t.pt", "weight": "heavy"}, "numbers"),
        ({"teacher": "t.pt", "anchor_frames": "v.mp4", "anchor_weight": 0}, "positive"),
        ({"teacher": "t.pt", "anchor_frames": "v.mp4", "anchor_batch": 0}, "at least 1"),
        ({"teacher": "t.pt", "anchor_frames": 7}, "image folder or a video"),
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


# -- anchor frames: unlabelled real frames that hold the student to its teacher -------------------


def write_frames(folder: Path, count: int) -> list[np.ndarray]:
    """``count`` distinct, left-right asymmetric BGR frames as PNGs in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    frames = []
    for index in range(count):
        frame = np.zeros((48, 80, 3), np.uint8)
        frame[:, : 10 + 5 * index] = (40 * index % 256, 200, 30)
        cv2.imwrite(str(folder / f"{index:03d}.png"), frame)
        frames.append(frame)
    return frames


def test_anchor_frames_come_from_a_folder_or_a_video_as_the_engines_preprocess_them(tmp_path: Path) -> None:
    frames = write_frames(tmp_path / "folder", 5)
    mean, std = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
    loaded = load_anchor_frames(tmp_path / "folder", SIZE, mean, std, every=2)
    assert loaded.shape == (3, 3, *SIZE) and loaded.dtype == torch.float32
    norm = Normalization.from_mean_std(mean, std)
    for row, index in enumerate((0, 2, 4)):
        np.testing.assert_array_equal(loaded[row].numpy(), preprocess(frames[index], SIZE, norm)[0])
    video = tmp_path / "drive.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (80, 48))
    for frame in frames:
        writer.write(frame)
    writer.release()
    assert load_anchor_frames(video, SIZE, mean, std).shape == (5, 3, *SIZE)
    for path, message in (
        (tmp_path / "missing", "does not exist"),
        (tmp_path / "folder" / "000.png", "neither a folder of images nor a video"),
    ):
        with pytest.raises(RecipeError, match=message):
            load_anchor_frames(path, SIZE, mean, std)
    (tmp_path / "empty").mkdir()
    with pytest.raises(RecipeError, match="holds no frame"):
        load_anchor_frames(tmp_path / "empty", SIZE, mean, std)


def test_an_anchor_batchs_targets_are_the_teachers_answers_on_the_frames_as_drawn_mirrored_or_not() -> None:
    torch.manual_seed(0)
    teacher = torch.nn.Conv2d(3, 2, 3, padding=1)  # not mirror-symmetric: its answer on a mirror differs
    images = torch.randn(6, 3, 8, 12)
    anchors = AnchorSet.from_teacher(images, teacher)
    picked, logits = anchors.batch(6, torch.Generator().manual_seed(1))
    assert picked.shape == images.shape
    with torch.no_grad():
        np.testing.assert_allclose(teacher(picked).numpy(), logits.numpy(), atol=1e-5)
    flipped = sum(not any(torch.equal(p, i) for i in images) for p in picked)
    assert 0 < flipped < 6  # some mirrored, some not (this seed)
    again, _ = anchors.batch(6, torch.Generator().manual_seed(1))
    assert torch.equal(again, picked)  # the step's seed decides the batch
    assert anchors.batch(10, torch.Generator().manual_seed(2))[0].shape[0] == 6  # no more than there are


def anchored_recipe(teacher: Path, frames: Path, **changes: object) -> Recipe:
    spec = DistillSpec(teacher=str(teacher), weight=0.0, anchor_frames=str(frames), anchor_batch=2)
    return dataclasses.replace(tiny_recipe(**changes), distill=spec)


def anchored_trainer(tmp_path: Path) -> Trainer:
    """A tiny trainer held to a saved teacher on four written frames (``tmp_path / "frames"``)."""
    teacher_path = save_teacher(tmp_path / "teacher.pt")
    write_frames(tmp_path / "frames", 4)
    return make_trainer(anchored_recipe(teacher_path, tmp_path / "frames"), tmp_path / "run")


def test_the_anchor_term_is_zero_at_the_teacher_grows_as_the_student_leaves_it_and_is_added(
    tmp_path: Path,
) -> None:
    trainer = anchored_trainer(tmp_path)
    assert trainer.distill_criterion is None and trainer.anchors is not None and len(trainer.anchors) == 4
    student_as_teacher = copy.deepcopy(trainer.model).eval()  # as if the student started as its teacher
    trainer.anchors = AnchorSet.from_teacher(trainer.anchors.images, student_as_teacher)
    trainer.model.train()
    assert trainer._anchor_loss().item() == pytest.approx(0.0, abs=1e-6)
    with torch.no_grad():
        for parameter in trainer.model.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    assert trainer._anchor_loss().item() > 0.0
    images, masks = next(trainer._batches())
    with torch.no_grad():
        hard = trainer.criterion(trainer.model(images), masks).item()
    anchor = trainer._anchor_loss().item()
    assert trainer._train_step(images, masks) == pytest.approx(hard + anchor, rel=1e-4)
    saved_metadata = trainer.metadata().extra["distilled_from"]
    assert saved_metadata["anchor_frames"] == "frames" and saved_metadata["anchor_batch"] == 2


def test_the_anchor_frames_run_through_batch_norm_as_on_a_camera_and_leave_its_statistics_alone(
    tmp_path: Path,
) -> None:
    trainer = anchored_trainer(tmp_path)
    torch.manual_seed(0)
    trainer.model = torch.nn.Sequential(  # a student with batch norm (the tiny stand-in has none)
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.Conv2d(4, 2, 1)
    )
    norm = trainer.model[1]
    norm.running_mean.fill_(0.3)  # statistics of the generated scenes, far from these frames'
    trainer.anchors = AnchorSet.from_teacher(trainer.anchors.images, copy.deepcopy(trainer.model).eval())
    trainer.model.train()
    assert trainer._anchor_loss().item() == pytest.approx(0.0, abs=1e-6)  # as the camera runs it: eval mode
    assert torch.equal(norm.running_mean, torch.full((4,), 0.3))  # untouched by the anchors' forward
    assert int(norm.num_batches_tracked) == 0
    assert norm.training  # and back in train mode for the generated batches
