"""Test-session defaults that `make test` also sets, so a bare `pytest` behaves the same."""

import os
import sys

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("AMENT_PREFIX_PATH", sys.prefix)
os.environ.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
os.environ.setdefault("MPLBACKEND", "Agg")


# --------------------------------------------------------------------------- shared factories
# Plain helpers live in tiny_onnx.py (pytest puts this folder on sys.path for conftest.py);
# the fixtures below build each artefact once per session and hand out its path. Treat the
# files as read-only: copy them before corrupting or truncating.

import pytest


@pytest.fixture(scope="session")
def tiny_onnx_model(tmp_path_factory):
    """Factory ``tiny_onnx_model(scenario, *, kind="threshold", input_size=(48, 64), classes=None) -> Path``.

    A 1x1-convolution ONNX model with seg_perception metadata (kinds: see ``tiny_onnx.py``), saved
    as ``<scenario>.onnx`` in a folder of its own, so ``path.parent`` serves as a ``--model-dir``.
    """
    from tiny_onnx import DEFAULT_INPUT_SIZE, write_tiny_model

    built = {}

    def make(scenario, *, kind="threshold", input_size=DEFAULT_INPUT_SIZE, classes=None):
        key = (scenario, kind, tuple(input_size), tuple(classes) if classes else None)
        if key not in built:
            folder = tmp_path_factory.mktemp(f"tiny_{kind}_{scenario}")
            path = folder / f"{scenario}.onnx"
            built[key] = write_tiny_model(path, scenario, kind=kind, input_size=input_size, classes=classes)
        return built[key]

    return make


@pytest.fixture(scope="session")
def synthetic_bag(tmp_path_factory):
    """Factory ``synthetic_bag(scenario="parking", *, seconds=0.2, size="48x64", seed=0, options=())``.

    Returns the path of a ``seg-perception make-bag`` drive (``options``: more make-bag
    arguments, e.g. ``("--compressed",)``), recorded once per session per arguments.
    """
    from seg_perception.cli import main

    built = {}

    def make(scenario="parking", *, seconds=0.2, size="48x64", seed=0, options=()):
        key = (scenario, float(seconds), size, int(seed), tuple(options))
        if key not in built:
            bag = tmp_path_factory.mktemp(f"bag_{scenario}") / "drive"
            argv = [
                "make-bag",
                "--scenario",
                scenario,
                "--seconds",
                str(seconds),
                "--size",
                size,
                "--seed",
                str(seed),
                "--out",
                str(bag),
                *options,
            ]
            assert main(argv) == 0, argv
            built[key] = bag
        return built[key]

    return make


@pytest.fixture(scope="module")
def ros_context(request):
    """An rclpy context on the test module's ``DOMAIN_ID`` (a DDS domain of its own), shut down after it."""
    rclpy = pytest.importorskip("rclpy")
    from rclpy.context import Context

    context = Context()
    rclpy.init(context=context, domain_id=request.module.DOMAIN_ID)
    yield context
    rclpy.try_shutdown(context=context)
