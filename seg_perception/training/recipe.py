"""Training recipes: ``config/training/<name>.yaml`` parsed into a typed :class:`Recipe`.

A recipe names the model, scenario, input size, data source, loss, augmentations,
optimiser and schedule. Command-line overrides are applied with :meth:`Recipe.with_overrides`.

Synthetic seed ranges (documented convention, disjoint so no scene is seen twice):
train ``[0, 100000)``, validation ``[100000, 101000)``, eval ``[200000, ...)``.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from seg_perception.config import ScenarioConfig, share_dir
from seg_perception.training.errors import RecipeError

# Synthetic seed space: recipes train below EVAL_SEED_START outside VAL_SEEDS (TRAIN_SEEDS is the
# default range; large GPU pools use 101_000..199_999); validation uses VAL_SEEDS; evaluation and the
# judged sets start at EVAL_SEED_START.
TRAIN_SEEDS = (0, 100_000)
VAL_SEEDS = (100_000, 101_000)
EVAL_SEED_START = 200_000
DATA_SOURCES = ("synthetic", "folder", "cityscapes", "coco", "tusimple", "culane", "avm")


@dataclass(frozen=True)
class DataSpec:
    """Where training and validation samples come from.

    Attributes:
        source: ``synthetic`` (procedural scenes), ``folder`` (image/mask folders),
            ``cityscapes``, ``coco``, ``tusimple`` or ``culane`` (lane masks rasterised from the
            lane polylines), or ``avm``: real bird's-eye images with marking-point labels (ps2.0's
            DMPR-PS JSON, any folder ``eval --avm`` reads; ``options.index``: its CSV list,
            ``options.metres_per_pixel``: the label frames' scale), which train the marking-point
            head alone and validate on synthetic scenes of ``val_seeds``
            (:mod:`seg_perception.training.avm_dataset`).
        train_seeds: ``[start, stop)`` seeds of synthetic training scenes.
        val_seeds: ``[start, stop)`` seeds of synthetic validation scenes (disjoint).
        pool_size: Synthetic scenes pre-generated once into memory and augmented from;
            0 generates every sample on the fly (slow on few CPU cores).
        path: Dataset root for the non-synthetic sources.
        options: Extra keyword options of the dataset reader (e.g. ``class_mapping``).
        metres_per_pixel: Synthetic AVM scenes: ground resolution, a value or a ``[low, high]``
            range drawn per scene (scale augmentation); None: the scenario camera's.
        botts_dots_p: Synthetic highway training scenes: probability that a road's lane lines are
            Botts' dots (more of a rare look); None: the generator's. Validation keeps the generator's.
        barrier_p: Synthetic highway training scenes: probability of a barrier on each side of the
            road; None: the generator's. Validation keeps the generator's.
        dark_p: Synthetic front-camera training scenes: probability of dusk or night; None: the
            generator's. Validation keeps the generator's.
        highway_p: Synthetic urban training scenes: probability that a scene is a highway instead
            (the scenario's classes), so an urban model keeps seeing highway roadsides; None: never.
            Validation keeps urban scenes.
    """

    source: str = "synthetic"
    train_seeds: tuple[int, int] = TRAIN_SEEDS
    val_seeds: tuple[int, int] = (VAL_SEEDS[0], VAL_SEEDS[0] + 64)
    pool_size: int = 1024
    path: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    metres_per_pixel: float | tuple[float, float] | None = None
    botts_dots_p: float | None = None
    barrier_p: float | None = None
    dark_p: float | None = None
    highway_p: float | None = None

    def nominal_metres_per_pixel(self) -> float | None:
        """The value, or the geometric mean of the range (the scale the model is centred on)."""
        value = self.metres_per_pixel
        if value is None:
            return None
        if isinstance(value, (tuple, list)):
            return float((float(value[0]) * float(value[1])) ** 0.5)
        return float(value)


@dataclass(frozen=True)
class DistillSpec:
    """Knowledge distillation from a trained teacher (the recipe's ``distill`` block).

    The loss gains ``weight * temperature**2 * KL(softmax(teacher / T) || softmax(student / T))``
    per pixel, averaged over the pixels the hard loss does not ignore.

    Attributes:
        teacher: Training checkpoint of the teacher (``seg-perception train`` or ``recover``);
            a relative path is taken from the working directory, like ``--init``.
        weight: Weight of the distillation term on the generated batches beside the hard-label loss
            (>= 0).
        temperature: Softmax temperature ``T`` (> 0); the term is scaled by ``T**2`` so its
            gradients keep their size as ``T`` changes (Hinton et al., 2015).
        anchor_frames: Unlabelled real frames (an image folder or a video file; a relative path is
            taken from the working directory) on which the student is held to the teacher's logits
            at every step (:mod:`seg_perception.training.anchor_frames`); None: no anchor.
        anchor_weight: Weight of the anchor term (> 0).
        anchor_batch: Anchor frames per step.
        anchor_every: Every how many frames of ``anchor_frames`` one is used (a video's neighbouring
            frames are near copies).

    The teacher runs on the student's batch as it is (same crops, same pixel scale, same
    normalisation), whatever input size it was trained at: a fully convolutional teacher.
    ``weight`` 0 leaves the generated batches to the hard labels alone (then ``anchor_frames``
    is needed: a teacher must be followed somewhere).
    """

    teacher: str
    weight: float = 1.0
    temperature: float = 1.0
    anchor_frames: str | None = None
    anchor_weight: float = 1.0
    anchor_batch: int = 4
    anchor_every: int = 1


@dataclass(frozen=True)
class MixStyleSpec:
    """The recipe's ``mix_style`` block.

    Attributes:
        modules: Names of the model's submodules (``model.get_submodule``) whose outputs are mixed;
            a module that returns a list (an HRNet stage) has each of its maps mixed.
        p: Probability that a batch is mixed at each module.
        alpha: Beta distribution parameter of the mixing weight (small: mostly one frame's style).
    """

    modules: tuple[str, ...]
    p: float = 0.5
    alpha: float = 0.1


@dataclass(frozen=True)
class Recipe:
    """A complete training recipe (see ``config/training/highway.yaml`` for a commented example)."""

    name: str
    scenario: str
    model: str
    model_options: dict[str, Any]
    input_size: tuple[int, int]
    data: DataSpec = field(default_factory=DataSpec)
    augment: dict[str, Any] = field(default_factory=dict)
    loss: dict[str, Any] = field(default_factory=lambda: {"terms": {"ce": 1.0}})
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    t0: int = 1000
    t_mult: int = 2
    eta_min: float = 1e-6
    batch_size: int = 8
    steps: int = 2000
    val_every: int = 250
    checkpoint_every: int = 500
    num_workers: int = 0
    threads: int = 2
    seed: int = 0
    amp: bool = True
    grad_clip: float | None = None
    #: Marking-point head training (``sigma_px``, ``heat_weight``, ``direction_weight``,
    #: ``offset_weight``); empty: off.
    marking_points: dict[str, Any] = field(default_factory=dict)
    #: Modules (state-dict prefixes, e.g. ``point_head.offset``) that train; the rest of the
    #: model is frozen (no gradient, batch norm statistics kept). Empty: the whole model trains.
    trainable: tuple[str, ...] = ()
    #: Knowledge distillation from a teacher checkpoint; None: off.
    distill: DistillSpec | None = None
    #: Feature statistics mixed between the frames of a batch (MixStyle); None: off.
    mix_style: MixStyleSpec | None = None

    @property
    def trains_segmentation(self) -> bool:
        """Whether the data carries class masks to train on (``avm`` labels hold marking points only)."""
        return self.data.source != "avm"

    def point_target(self) -> tuple[int, float, bool] | None:
        """``(stride, sigma_px, offsets)`` of the marking-point target, or None when the head is
        not trained (``offsets``: the model regresses sub-cell offsets, option ``point_offsets``)."""
        if not self.marking_points:
            return None
        from seg_perception.models.base import MARKING_POINT_STRIDE

        return (
            MARKING_POINT_STRIDE,
            float(self.marking_points.get("sigma_px", 4.0)),
            bool(self.model_options.get("point_offsets", False)),
        )

    def with_overrides(self, **overrides: Any) -> Recipe:
        """Copy with the non-``None`` overrides applied (``data_*`` keys go to :class:`DataSpec`)."""
        data_changes = {k[5:]: v for k, v in overrides.items() if k.startswith("data_") and v is not None}
        changes = {k: v for k, v in overrides.items() if not k.startswith("data_") and v is not None}
        recipe = dataclasses.replace(self, **changes)
        if data_changes:
            recipe = dataclasses.replace(recipe, data=dataclasses.replace(recipe.data, **data_changes))
        return recipe

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def recipe_path(name_or_path: str | os.PathLike[str]) -> Path:
    """Resolve ``highway`` to ``<share>/config/training/highway.yaml``; paths pass through."""
    text = os.fspath(name_or_path)
    if text.endswith((".yaml", ".yml")) or os.sep in text:
        return Path(text)
    return share_dir() / "config" / "training" / f"{text}.yaml"


def _pair(value: Any, what: str) -> tuple[int, int]:
    if isinstance(value, str) and "x" in value:
        value = value.lower().split("x")
    if not (isinstance(value, (list, tuple)) and len(value) == 2):
        raise RecipeError(f"{what} must be [a, b], got {value!r}")
    try:
        return int(value[0]), int(value[1])
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{what} must be two integers, got {value!r}") from err


def training_metres_per_pixel(scenario: ScenarioConfig, input_size: tuple[int, int]) -> float | None:
    """Ground resolution of the training images: the bird's-eye camera's ``metres_per_pixel``
    at its ``image_size``, scaled to the recipe's input width (the synthetic scenes cover the
    same ground at any size); None for cameras without one (perspective views)."""
    block = scenario.camera(scenario.primary_camera)
    if "metres_per_pixel" not in block:
        return None
    reference_width = scenario.image_size()[1]
    return float(block["metres_per_pixel"]) * reference_width / float(input_size[1])


def _data_block(data_block: dict[str, Any], source: str) -> DataSpec:
    """The recipe's ``data`` block: where scenes come from, seeds (synthetic ones kept apart), options."""
    data_source = str(data_block.pop("source", "synthetic"))
    if data_source not in DATA_SOURCES:
        raise RecipeError(f"{source}: data.source {data_source!r} is not one of {DATA_SOURCES}")
    try:
        data = DataSpec(
            source=data_source,
            train_seeds=_pair(data_block.pop("train_seeds", TRAIN_SEEDS), f"{source}: data.train_seeds"),
            val_seeds=_pair(
                data_block.pop("val_seeds", (VAL_SEEDS[0], VAL_SEEDS[0] + 64)), f"{source}: data.val_seeds"
            ),
            pool_size=int(data_block.pop("pool_size", 1024)),
            path=data_block.pop("path", None),
            options=dict(data_block.pop("options", None) or {}),
            metres_per_pixel=_metres_per_pixel(data_block.pop("metres_per_pixel", None), source),
            botts_dots_p=_probability(data_block.pop("botts_dots_p", None), source, "data.botts_dots_p"),
            barrier_p=_probability(data_block.pop("barrier_p", None), source, "data.barrier_p"),
            dark_p=_probability(data_block.pop("dark_p", None), source, "data.dark_p"),
            highway_p=_probability(data_block.pop("highway_p", None), source, "data.highway_p"),
        )
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{source}: malformed data block ({err})") from err
    if data_block:
        raise RecipeError(f"{source}: unknown data fields {sorted(data_block)}")
    if data.source == "synthetic":
        train_seeds, val_seeds = data.train_seeds, data.val_seeds
        if train_seeds[0] < val_seeds[1] and val_seeds[0] < train_seeds[1]:
            raise RecipeError(f"{source}: train_seeds {train_seeds} and val_seeds {val_seeds} overlap")
        if train_seeds[0] < 0 or train_seeds[1] > EVAL_SEED_START:
            raise RecipeError(
                f"{source}: train_seeds {train_seeds} must lie in [0, {EVAL_SEED_START}): "
                "evaluation scenes start there"
            )
    elif not data.path:
        raise RecipeError(f"{source}: data.source {data.source!r} needs data.path")
    for name in ("botts_dots_p", "barrier_p", "dark_p", "highway_p"):
        if getattr(data, name) is not None and data.source != "synthetic":
            raise RecipeError(
                f"{source}: data.{name} shapes synthetic scenes; data.source is {data.source!r}"
            )
    return data


def parse_recipe(document: dict[str, Any], *, source: str = "recipe") -> Recipe:
    """Validate a recipe mapping (the YAML document) into a :class:`Recipe`.

    Raises:
        RecipeError: a missing or malformed field, naming the field and the file.
    """
    if not isinstance(document, dict):
        raise RecipeError(f"{source}: a recipe is a YAML mapping")
    doc = dict(document)
    try:
        model_block = doc.pop("model")
        scenario = str(doc.pop("scenario"))
        input_size = _pair(doc.pop("input_size"), f"{source}: input_size")
    except KeyError as err:
        raise RecipeError(f"{source}: missing field {err.args[0]!r}") from err
    if isinstance(model_block, str):
        model_name, model_options = model_block, {}
    elif isinstance(model_block, dict) and "name" in model_block:
        model_name, model_options = str(model_block["name"]), dict(model_block.get("options") or {})
    else:
        raise RecipeError(f"{source}: model must be a name or {{name: ..., options: {{...}}}}")
    data = _data_block(dict(doc.pop("data", None) or {}), source)
    optimizer = dict(doc.pop("optimizer", None) or {})
    scheduler = dict(doc.pop("scheduler", None) or {})
    train = dict(doc.pop("train", None) or {})
    known_train = {f.name for f in dataclasses.fields(Recipe)} - {
        "name",
        "scenario",
        "model",
        "model_options",
        "input_size",
        "data",
        "augment",
        "loss",
        "mean",
        "std",
        "lr",
        "weight_decay",
        "t0",
        "t_mult",
        "eta_min",
        "marking_points",
        "distill",
        "mix_style",
    }
    unknown = set(train) - known_train
    if unknown:
        raise RecipeError(f"{source}: unknown train fields {sorted(unknown)}; known: {sorted(known_train)}")
    try:
        recipe = Recipe(
            name=str(doc.pop("name", scenario)),
            scenario=scenario,
            model=model_name,
            model_options=model_options,
            input_size=input_size,
            data=data,
            augment=dict(doc.pop("augment", None) or {}),
            loss=dict(doc.pop("loss", None) or {"terms": {"ce": 1.0}}),
            mean=tuple(float(v) for v in doc.pop("mean", Recipe.mean)),  # type: ignore[arg-type]
            std=tuple(float(v) for v in doc.pop("std", Recipe.std)),  # type: ignore[arg-type]
            lr=float(optimizer.pop("lr", Recipe.lr)),
            weight_decay=float(optimizer.pop("weight_decay", Recipe.weight_decay)),
            t0=int(scheduler.pop("T_0", Recipe.t0)),
            t_mult=int(scheduler.pop("T_mult", Recipe.t_mult)),
            eta_min=float(scheduler.pop("eta_min", Recipe.eta_min)),
            marking_points=_marking_points_block(doc.pop("marking_points", None), model_options, source),
            trainable=_trainable(train.pop("trainable", None), source),
            distill=_distill_block(doc.pop("distill", None), source),
            mix_style=_mix_style_block(doc.pop("mix_style", None), source),
            **train,
        )
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{source}: malformed value ({err})") from err
    leftovers = {
        **{f"optimizer.{k}": v for k, v in optimizer.items()},
        **{f"scheduler.{k}": v for k, v in scheduler.items()},
        **doc,
    }
    if leftovers:
        raise RecipeError(f"{source}: unknown fields {sorted(leftovers)}")
    if not recipe.trains_segmentation and not recipe.marking_points:
        raise RecipeError(
            f"{source}: data.source {data.source!r} has marking-point labels only; it needs a marking_points "
            "block (and model.options.marking_points: true)"
        )
    return recipe


def _trainable(value: Any, source: str) -> tuple[str, ...]:
    """``train.trainable``: a list of module names (state-dict prefixes); absent: everything trains."""
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise RecipeError(f"{source}: train.trainable must be a list of module names, got {value!r}")
    return tuple(value)


def _probability(value: Any, source: str, name: str) -> float | None:
    """None, or a number within [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not 0.0 <= float(value) <= 1.0:
        raise RecipeError(f"{source}: {name} must be a probability within [0, 1], got {value!r}")
    return float(value)


def _metres_per_pixel(value: Any, source: str) -> float | tuple[float, float] | None:
    """``data.metres_per_pixel``: None, a positive number or a ``[low, high]`` range."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        if len(value) != 2 or not 0 < float(value[0]) <= float(value[1]):
            raise RecipeError(
                f"{source}: data.metres_per_pixel range must be [low, high] with 0 < low <= high"
            )
        return float(value[0]), float(value[1])
    if float(value) <= 0:
        raise RecipeError(f"{source}: data.metres_per_pixel must be positive, got {value!r}")
    return float(value)


def _check_block(block: Any, name: str, keys: tuple[str, ...], source: str) -> dict[str, Any]:
    """A recipe block that must be a mapping of ``keys``, returned as one.

    Raises:
        RecipeError: it is not a mapping, or it has other fields.
    """
    if not isinstance(block, dict):
        raise RecipeError(f"{source}: {name} must be a mapping of {keys}")
    unknown = set(block) - set(keys)
    if unknown:
        raise RecipeError(f"{source}: unknown {name} fields {sorted(unknown)}; known: {keys}")
    return block


DISTILL_KEYS = (
    "teacher",
    "weight",
    "temperature",
    "anchor_frames",
    "anchor_weight",
    "anchor_batch",
    "anchor_every",
)


def _distill_block(block: Any, source: str) -> DistillSpec | None:
    """The recipe's ``distill`` block (:class:`DistillSpec`'s fields); absent: None."""
    if block is None:
        return None
    block = _check_block(block, "distill", DISTILL_KEYS, source)
    teacher = block.get("teacher")
    if not isinstance(teacher, str) or not teacher:
        raise RecipeError(f"{source}: distill.teacher must be the path of a training checkpoint")
    anchor = block.get("anchor_frames")
    if anchor is not None and (not isinstance(anchor, str) or not anchor):
        raise RecipeError(f"{source}: distill.anchor_frames must be the path of an image folder or a video")
    try:
        weight = float(block.get("weight", DistillSpec.weight))
        temperature = float(block.get("temperature", DistillSpec.temperature))
        anchor_weight = float(block.get("anchor_weight", DistillSpec.anchor_weight))
        anchor_batch = int(block.get("anchor_batch", DistillSpec.anchor_batch))
        anchor_every = int(block.get("anchor_every", DistillSpec.anchor_every))
    except (TypeError, ValueError) as err:
        raise RecipeError(
            f"{source}: distill's weights, temperature and counts must be numbers ({err})"
        ) from err
    if not (weight >= 0.0 and temperature > 0.0 and anchor_weight > 0.0):
        raise RecipeError(
            f"{source}: distill.temperature and distill.anchor_weight must be positive and distill.weight "
            f"not negative, got {temperature}, {anchor_weight} and {weight}"
        )
    if weight == 0.0 and anchor is None:
        raise RecipeError(
            f"{source}: distill.weight 0 needs distill.anchor_frames (the teacher is followed there)"
        )
    if anchor_batch < 1 or anchor_every < 1:
        raise RecipeError(
            f"{source}: distill.anchor_batch and distill.anchor_every must be at least 1, "
            f"got {anchor_batch} and {anchor_every}"
        )
    return DistillSpec(
        teacher=teacher,
        weight=weight,
        temperature=temperature,
        anchor_frames=anchor,
        anchor_weight=anchor_weight,
        anchor_batch=anchor_batch,
        anchor_every=anchor_every,
    )


MIX_STYLE_KEYS = ("modules", "p", "alpha")


def _mix_style_block(block: Any, source: str) -> MixStyleSpec | None:
    """The recipe's ``mix_style`` block (:class:`MixStyleSpec`'s fields); absent: None."""
    if block is None:
        return None
    block = _check_block(block, "mix_style", MIX_STYLE_KEYS, source)
    modules = block.get("modules")
    if (
        not isinstance(modules, (list, tuple))
        or not modules
        or not all(isinstance(m, str) and m for m in modules)
    ):
        raise RecipeError(f"{source}: mix_style.modules must be a list of module names, got {modules!r}")
    p = _probability(block.get("p"), source, "mix_style.p")
    try:
        alpha = float(block.get("alpha", MixStyleSpec.alpha))
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{source}: mix_style.alpha must be a number ({err})") from err
    if not alpha > 0.0:
        raise RecipeError(f"{source}: mix_style.alpha must be positive, got {alpha}")
    return MixStyleSpec(modules=tuple(modules), p=MixStyleSpec.p if p is None else p, alpha=alpha)


MARKING_POINT_KEYS = ("sigma_px", "heat_weight", "direction_weight", "offset_weight")


def _marking_points_block(block: Any, model_options: dict[str, Any], source: str) -> dict[str, Any]:
    """The recipe's ``marking_points`` block, checked against the model's head option."""
    if not block:
        if model_options.get("marking_points"):
            raise RecipeError(f"{source}: model option marking_points needs a marking_points block")
        return {}
    block = _check_block(block, "marking_points", MARKING_POINT_KEYS, source)
    if not model_options.get("marking_points"):
        raise RecipeError(f"{source}: a marking_points block needs model.options.marking_points: true")
    try:
        values = {key: float(value) for key, value in block.items()}
    except (TypeError, ValueError) as err:
        raise RecipeError(f"{source}: marking_points values must be numbers ({err})") from err
    offsets = bool(model_options.get("point_offsets"))
    if offsets != (values.get("offset_weight", 0.0) > 0.0):
        raise RecipeError(
            f"{source}: model option point_offsets and a positive marking_points.offset_weight "
            "go together (an offset head needs its loss, an offset loss needs the head)"
        )
    return values


def load_recipe(name_or_path: str | os.PathLike[str]) -> Recipe:
    """Read and validate a recipe file (a name such as ``highway`` or a YAML path).

    Raises:
        RecipeError: the file is missing, not YAML, or invalid.
    """
    path = recipe_path(name_or_path)
    try:
        document = yaml.safe_load(path.read_text())
    except FileNotFoundError as err:
        shipped = sorted(p.stem for p in (share_dir() / "config" / "training").glob("*.yaml"))
        raise RecipeError(
            f"training recipe {path} does not exist; shipped recipes: {', '.join(shipped) or 'none found'} "
            f"(in {share_dir() / 'config' / 'training'}), or give a YAML path"
        ) from err
    except yaml.YAMLError as err:
        raise RecipeError(f"training recipe {path} is not valid YAML: {err}") from err
    return parse_recipe(document, source=str(path))
