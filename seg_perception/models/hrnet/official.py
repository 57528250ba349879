"""Load checkpoints of the official HRNet-Semantic-Segmentation code (``seg_hrnet.py`` key names)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor, nn

from seg_perception.errors import ModelFileError
from seg_perception.models.errors import StateDictMismatchError

_LOG = logging.getLogger(__name__)

#: The classifier whose shape depends on the dataset's class count.
HEAD_KEYS = ("last_layer.3.weight", "last_layer.3.bias")
#: Prefixes of training wrappers: the official ``FullModel`` (``model.``) and DataParallel (``module.``).
WRAPPER_PREFIXES = ("model.", "module.")
#: BatchNorm buffer that PyTorch < 0.4.1 did not save; only momentum=None BatchNorm reads it.
BATCHES_TRACKED = "num_batches_tracked"


@dataclass
class LoadReport:
    """What happened to every key; nothing is skipped without being listed here.

    Attributes:
        loaded: Keys copied into the model.
        missing: Model keys absent from the checkpoint (kept at their initial values).
        unexpected: Checkpoint keys with no place in the model (not loaded).
        mismatched: Keys whose shapes differ, as ``key: checkpoint shape -> model shape`` (not loaded).
        head_reinitialised: The class-count dependent classifier ``last_layer.3`` was re-initialised.
        stripped_prefix: Wrapper prefix removed from the checkpoint keys, if any.
        wrapper_keys: Keys outside the wrapped model (e.g. the official ``loss.criterion.weight``),
            ignored on purpose.
        filled: ``num_batches_tracked`` buffers absent from the checkpoint (saved by PyTorch
            < 0.4.1) whose BatchNorm is otherwise complete: set to 0, not counted as missing.
    """

    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    mismatched: list[str] = field(default_factory=list)
    head_reinitialised: bool = False
    stripped_prefix: str | None = None
    wrapper_keys: list[str] = field(default_factory=list)
    filled: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """One line per missing, unexpected or mis-shaped key."""
        return (
            [f"missing: {k}" for k in self.missing]
            + [f"unexpected: {k}" for k in self.unexpected]
            + [f"shape mismatch: {k}" for k in self.mismatched]
        )


def _read(state_dict_or_path: Mapping[str, Tensor] | str | Path) -> Mapping[str, Tensor]:
    if isinstance(state_dict_or_path, Mapping):
        state = state_dict_or_path
    else:
        path = Path(state_dict_or_path)
        if not path.is_file():
            raise ModelFileError(f"HRNet checkpoint {path} not found; pass the path of a .pth file")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # torch raises several types for corrupt files
            raise ModelFileError(f"cannot read HRNet checkpoint {path}: {err}") from err
    # Training checkpoints of the official code wrap the weights: {"state_dict": ..., "epoch": ...}.
    if "state_dict" in state and isinstance(state["state_dict"], Mapping):
        state = state["state_dict"]
    return state


def _strip_wrapper(state: Mapping[str, Tensor], report: LoadReport) -> dict[str, Tensor]:
    for prefix in WRAPPER_PREFIXES:
        if any(key.startswith(prefix) for key in state):
            report.stripped_prefix = prefix
            report.wrapper_keys = sorted(key for key in state if not key.startswith(prefix))
            return {key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)}
    return dict(state)


def _fill_batches_tracked(state: dict[str, Tensor], own: Mapping[str, Tensor], report: LoadReport) -> None:
    """Add the ``num_batches_tracked`` buffers an old checkpoint lacks (zeros), listed in ``report.filled``.

    Only for BatchNorm layers whose running statistics the checkpoint has: a layer that is
    missing altogether stays missing.
    """
    for key, value in own.items():
        if not key.endswith(BATCHES_TRACKED) or key in state:
            continue
        layer = key[: -len(BATCHES_TRACKED)]
        if f"{layer}running_mean" in state and f"{layer}running_var" in state:
            state[key] = torch.zeros_like(value, device="cpu")
            report.filled.append(key)
    report.filled.sort()
    if report.filled:
        _LOG.warning(
            "HRNet checkpoint lacks %d %s buffers (saved by PyTorch < 0.4.1): filled with 0",
            len(report.filled),
            BATCHES_TRACKED,
        )


def _reinitialise_head(model: nn.Module) -> None:
    classifier = model.get_submodule("last_layer.3")
    if isinstance(classifier, nn.Conv2d):
        classifier.reset_parameters()


def load_official_hrnet_state_dict(
    model: nn.Module, state_dict_or_path: Mapping[str, Tensor] | str | Path, *, strict: bool = True
) -> LoadReport:
    """Copy official HRNetV2 weights into ``model`` and report every key by name.

    A ``model.``/``module.`` prefix is stripped (keys outside it, such as the official
    ``loss.criterion.weight``, are listed in ``wrapper_keys`` and logged). A class-count mismatch in
    ``last_layer.3`` re-initialises that classifier, logs a warning and sets
    ``head_reinitialised``; it is never an error, so fine-tuning on other classes just works.
    Checkpoints saved by PyTorch < 0.4.1 lack the BatchNorm ``num_batches_tracked`` buffers:
    they are filled with 0, listed in ``filled`` and logged (a warning with their count).

    Args:
        model: An HRNetV2 built with the official layout (``csp=False``).
        state_dict_or_path: A state dict or the path of a ``.pth`` file.
        strict: Raise when any key is missing, unexpected or mis-shaped (besides the head).

    Returns:
        The :class:`LoadReport`.

    Raises:
        StateDictMismatchError: ``strict`` and a key did not fit; the message names every key.
        ModelFileError: the path does not exist or cannot be read.
    """
    report = LoadReport()
    state = _strip_wrapper(_read(state_dict_or_path), report)
    if report.wrapper_keys:
        _LOG.warning(
            "ignoring %d keys outside %r: %s",
            len(report.wrapper_keys),
            report.stripped_prefix,
            ", ".join(report.wrapper_keys),
        )
    own = model.state_dict()
    _fill_batches_tracked(state, own, report)
    report.missing = sorted(key for key in own if key not in state)
    report.unexpected = sorted(key for key in state if key not in own)
    to_load: dict[str, Tensor] = {}
    for key, value in state.items():
        if key not in own:
            continue
        if tuple(value.shape) == tuple(own[key].shape):
            to_load[key] = value
        elif key in HEAD_KEYS:
            report.head_reinitialised = True
        else:
            report.mismatched.append(f"{key}: {tuple(value.shape)} -> {tuple(own[key].shape)}")
    if strict and report.problems:
        raise StateDictMismatchError(
            f"checkpoint does not fit {type(model).__name__} ({len(report.problems)} problems): "
            + "; ".join(report.problems)
        )
    if report.head_reinitialised:
        for key in HEAD_KEYS:
            to_load.pop(key, None)
        _reinitialise_head(model)
        _LOG.warning(
            "class count differs from the checkpoint: last_layer.3 re-initialised "
            "(%d classes in the checkpoint, %d here)",
            state["last_layer.3.weight"].shape[0],
            own["last_layer.3.weight"].shape[0],
        )
    for line in report.problems:
        _LOG.warning("HRNet checkpoint: %s", line)
    model.load_state_dict(to_load, strict=False)
    report.loaded = sorted(to_load)
    return report
