#!/usr/bin/env python3
"""Run every command of README.md, weights/README.md and docs/*.md, the way a new user would.

Every shell line of a ```bash block (and the ```python block of the README) is matched by
exactly one rule below:

- **run**: executed in a scratch workspace (copies of ``config/`` and ``weights/``, small
  stand-ins for the user's files such as ``path/to/video.mp4``), in document order, with
  *reductions* that keep the same code path but make it cheap (``train`` for 2 steps at 64x128,
  ``--count 100`` -> 2, ``--seconds 20`` -> 0.5, ...). A non-zero exit fails the check.
- **covered**: not runnable on this machine (a ROS 2 workspace with ``colcon``/``ros2``, a GPU, a
  camera, the user's own recordings); the rule says why and which test covers the code path.

A line no rule matches fails the check, so a new command in the docs must be given a rule.
``test/test_docs_commands.py`` checks that part in ``make test`` (plus every subcommand and
flag the docs name); this script does the running:

    make check-docs                        # or: .venv/bin/python scripts/check_docs.py
    .venv/bin/python scripts/check_docs.py --list            # rule per command, nothing run
    .venv/bin/python scripts/check_docs.py --only predict    # commands containing 'predict'

Run it on a fresh clone after ``make install`` (it uses the installed ``seg-perception``). It
uses a private ROS domain on localhost for the two commands that publish (``play``, ``bench --node``).
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC_FILES = ("README.md", "weights/README.md", "docs/*.md")
SHELL_LANGS = ("bash", "sh", "shell")
REAL_VIDEO = "realdata/front/highway_960x540/solidWhiteRight.mp4"
REAL_FRAMES = "realdata/front/highway_1280x720"
COMMAND_TIMEOUT_S = 900


@dataclass(frozen=True)
class Command:
    """One shell line of a document (continuations joined, trailing comment removed)."""

    path: str
    line: int
    text: str
    lang: str = "bash"

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def _strip_comment(line: str) -> str:
    """Drop a trailing `` # comment`` that is outside quotes."""
    position = line.find(" #")
    while position != -1:
        before = line[:position]
        if before.count("'") % 2 == 0 and before.count('"') % 2 == 0:
            return before.strip()
        position = line.find(" #", position + 1)
    return line.strip()


def _open_quote(text: str) -> bool:
    """True while ``text`` has an unterminated single- or double-quoted string.

    A ``#`` that starts a word outside quotes begins a comment, as in the shell: an
    apostrophe after it ("this checkout's venv") opens nothing.
    """
    quote = ""
    escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\" and quote != "'":
            escaped = True
        elif quote:
            quote = "" if char == quote else quote
        elif char == "#" and (index == 0 or text[index - 1].isspace()):
            break
        elif char in "'\"":
            quote = char
    return bool(quote)


def extract_commands(root: Path = ROOT) -> list[Command]:
    """Every command line of the documentation, in file and line order."""
    files: list[Path] = []
    for pattern in DOC_FILES:
        files.extend(sorted(root.glob(pattern)))
    commands: list[Command] = []
    for path in files:
        relative = str(path.relative_to(root))
        lang: str | None = None
        pending, start = "", 0
        python_lines: list[str] = []
        python_start = 0
        for number, raw in enumerate(path.read_text().splitlines(), 1):
            stripped = raw.strip()
            if stripped.startswith("```"):
                if lang is None:
                    lang = stripped[3:].strip()
                    python_lines, python_start = [], number + 1
                else:
                    if lang == "python" and python_lines:
                        commands.append(Command(relative, python_start, "\n".join(python_lines), "python"))
                    lang = None
                continue
            if lang == "python":
                python_lines.append(raw)
                continue
            if lang not in SHELL_LANGS:
                continue
            if pending and _open_quote(pending):
                text = pending + "\n" + raw  # inside a quoted multi-line argument: keep the line
            else:
                text = (pending + " " + stripped) if pending else stripped
            if not pending:
                start = number
            if text.endswith("\\"):
                pending = text[:-1].strip()
                continue
            if _open_quote(text):
                pending = text
                continue
            pending = ""
            text = _strip_comment(text) if "\n" not in text else text.strip()
            if text and not text.startswith("#"):
                commands.append(Command(relative, start, text))
    return commands


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """What happens to the commands matching ``pattern`` (a regex searched in the command)."""

    pattern: str
    action: str  # "run", "env", "covered", "python"
    reason: str = ""
    reduce: Callable[[str], str] | None = None
    timeout_s: float | None = None
    timeout_ok: bool = False  # a command that runs until Ctrl-C (``--loop``): a timeout is success
    expect_error: str = ""  # run; a non-zero exit with this text in its output is success
    lang: str = "bash"
    in_root: bool = False  # run from the repository root (commands that read test/ or seg_perception/)

    def matches(self, command: Command) -> bool:
        lang = "python" if command.lang == "python" else "bash"
        return lang == self.lang and re.search(self.pattern, command.text) is not None


def _sub(text: str, pattern: str, replacement: str) -> str:
    return re.sub(pattern, replacement, text)


def reduce_seg(text: str) -> str:
    """Cheap but same-path versions of the documented ``seg-perception`` commands."""
    text = re.sub(r"^python -m seg_perception\.cli\b", "seg-perception", text)
    text = _sub(text, r"--count \d+", "--count 2")
    text = _sub(text, r"--seconds \d+(\.\d+)?", "--seconds 0.5")
    text = _sub(text, r"--start \d+(\.\d+)?", "--start 0.2")
    text = _sub(text, r"--generate \d+", "--generate 3")
    text = _sub(text, r"--max-frames \d+", "--max-frames 3")
    text = _sub(text, r"--iterations \d+", "--iterations 3")
    text = _sub(text, r"--max-seconds \d+(\.\d+)?", "--max-seconds 1")
    text = _sub(text, r"--node-seconds \d+(\.\d+)?", "--node-seconds 2")
    text = _sub(text, r"--drives \d+", "--drives 1")
    text = _sub(text, r"--frames \d+", "--frames 3")
    words = text.split()
    if len(words) > 1 and words[1] == "train":
        text += " --steps 2 --val-every 2 --checkpoint-every 2 --pool-size 2 --batch-size 2 --size 64x128"
        text += " --no-progress"
    if len(words) > 1 and words[1] == "predict" and "--max-frames" not in text:
        text += " --max-frames 3"
    if len(words) > 1 and words[1] == "bench" and "--iterations" not in text:
        text += " --iterations 3 --warmup 1"
    # two documents record the same bag: in one workspace the second run replaces the first's
    if len(words) > 1 and words[1] == "make-bag" and "--overwrite" not in text:
        text += " --overwrite"
    return text


ROS_WORKSPACE = (
    "needs a ROS 2 workspace with the ros2 CLI / colcon (not on this machine); launch files, "
    "parameters and executables are tested by test/test_launch_helper.py, test/test_ros_node.py and "
    "test/test_packaging.py"
)
GPU = (
    "needs an NVIDIA GPU; scripts/gpu_session.sh runs it (docs/benchmarks.md), CPU forms in "
    "test/test_inference_*"
)

RULES: tuple[Rule, ...] = (
    Rule(
        r"^make demo\b",
        "covered",
        "test/test_demo_end_to_end.py runs `seg-perception demo` (what `make demo` runs)",
    ),
    Rule(r"^make test\b", "covered", "CI (.ci/run) runs `make test`; this script runs from it"),
    Rule(r"^source \.venv/bin/activate$", "env", "the venv's bin/ is first on PATH here"),
    Rule(r"^export .*\$\(ros2 ", "covered", ROS_WORKSPACE),
    Rule(
        r"^export .*<share>",
        "covered",
        "placeholder for the install's share folder; the $VIRTUAL_ENV form is run",
    ),
    Rule(r"^export ", "env", "applied to the following commands; *_FILE paths must exist"),
    Rule(r"^\w+=\S*$", "env", "a shell variable for the following commands"),
    Rule(
        r"^(\w+=\S+\s+)*python3? -c ",
        "run",
        "a measurement snippet, run from the repository root",
        in_root=True,
    ),
    Rule(r"^(cd ~/ros2_ws|pip install -r|colcon |rosdep |ros2 )", "covered", ROS_WORKSPACE),
    Rule(
        r"^python scripts/reframe_lane_labels\.py ",
        "run",
        "writes the labelled real stills (../shared) reframed five ways into the workspace",
    ),
    Rule(
        r"^python scripts/camera_stress\.py ",
        "run",
        "scores the labelled real stills (../shared) as other cameras would show them, in a temporary folder",
    ),
    Rule(
        r"^python scripts/lane_stability\.py ",
        "run",
        "reads the predictions a documented predict or process run wrote into the workspace",
    ),
    Rule(r"^scripts/gpu_session\.sh", "covered", GPU),
    Rule(r"^(SEG_ROS_WHEELS=\S+ )?scripts/gpu_node_drive\.sh", "covered", GPU),
    Rule(r"(cuda|tensorrt)", "covered", GPU),
    Rule(
        r"^seg-perception predict 0\b",
        "run",
        "camera index 0: without a camera the command must say so",
        reduce=reduce_seg,
        expect_error="cannot open camera 0",
    ),
    Rule(
        r"seg-perception (process|eval-bag) (recorded\.mcap|runs/car/bag)",
        "covered",
        "placeholder for the user's own recording (other topic names); the same code runs on "
        "bags/parking above, --topics and --gt-bag in test/test_bags_process.py, test/test_bags_eval.py",
    ),
    Rule(
        r"seg-perception play bags/car\b",
        "covered",
        "placeholder for the user's own recording; --remap is tested by test/test_bags_play.py",
    ),
    Rule(
        r"seg-perception play .*--loop",
        "run",
        "loops until Ctrl-C",
        reduce=reduce_seg,
        timeout_s=8,
        timeout_ok=True,
    ),
    Rule(
        r"^seg-perception (average |export runs/ft_average)",
        "covered",
        "the reduced fine-tune above trains at another input size, which average refuses (one model "
        "only); test/test_average_checkpoints.py runs the command, export is run above",
    ),
    Rule(r"^(seg-perception|python -m seg_perception\.cli) ", "run", "reduced", reduce=reduce_seg),
    Rule(
        r"^from seg_perception import",
        "python",
        "run with image_bgr = a real (or synthetic) frame",
        lang="python",
    ),
    Rule(
        r"^import rclpy\nfrom seg_perception\.msg import",
        "covered",
        "a subscriber that spins until Ctrl-C; test/test_ros_typed_pubsub.py runs it against a publisher",
        lang="python",
    ),
    Rule(
        r".",
        "compile",
        "a snippet for a running ROS graph or your own code: compiled (syntax) here",
        lang="python",
    ),
)


def rule_for(command: Command) -> Rule | None:
    for rule in RULES:
        if rule.matches(command):
            return rule
    return None


# --------------------------------------------------------------------------- workspace


def shared_dir() -> Path | None:
    for candidate in (ROOT.parent / "shared", ROOT.parent.parent / "shared", Path("/work/shared")):
        if (candidate / REAL_VIDEO).is_file():
            return candidate
    return None


def run_seg(workspace: Path, env: dict[str, str], *args: str) -> None:
    subprocess.run(["seg-perception", *args], cwd=workspace, env=env, check=True, capture_output=True)


def prepare_workspace(workspace: Path, env: dict[str, str]) -> None:
    """Copies of config/ and weights/, and stand-ins for the files the docs call yours."""
    import cv2
    import numpy as np
    import onnx

    shutil.copytree(ROOT / "config", workspace / "config")
    shutil.copytree(ROOT / "weights", workspace / "weights")
    shutil.copytree(ROOT / "labels", workspace / "labels")  # the real stills' lane labels
    shutil.copytree(ROOT / "scripts", workspace / "scripts")  # tools the docs run on those labels
    shared = shared_dir()
    video = workspace / "path" / "to" / "video.mp4"
    images = workspace / "path" / "to" / "images"
    images.mkdir(parents=True)
    if shared is not None:
        video.symlink_to(shared / REAL_VIDEO)
        for frame in sorted((shared / REAL_FRAMES).glob("*.jpg"))[:2]:
            shutil.copy(frame, images / frame.name)
    else:
        writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (320, 180))
        for index in range(5):
            writer.write(np.full((180, 320, 3), 40 + 10 * index, np.uint8))
        writer.release()
        for index in range(2):
            cv2.imwrite(str(images / f"frame{index}.png"), np.full((180, 320, 3), 60, np.uint8))
    first = sorted(images.iterdir())[0]
    cv2.imwrite(str(workspace / "image.jpg"), cv2.imread(str(first)))
    # A clip dumped to files (1.jpg, 2.jpg, ...): the video's first frames
    clip = workspace / "path" / "to" / "clip"
    clip.mkdir()
    capture = cv2.VideoCapture(str(video))
    for number in range(1, 6):
        ok, frame = capture.read()
        if ok:
            cv2.imwrite(str(clip / f"{number}.jpg"), frame)
    capture.release()
    # A model "trained elsewhere": the highway model without its metadata, input renamed.
    model = onnx.load(str(ROOT / "weights" / "highway.onnx"))
    del model.metadata_props[:]
    for node in model.graph.node:
        node.input[:] = ["input.1" if name == "image" else name for name in node.input]
    model.graph.input[0].name = "input.1"
    onnx.save(model, str(workspace / "their_model.onnx"))
    # Your dataset in the documented layout, and a recipe pointing at it.
    for split, seed in (("train", 0), ("val", 100)):
        generate_scenes(workspace, env, "parking", 4, "96x96", f"my_dataset/{split}", seed=seed)
    generate_scenes(workspace, env, "road", 3, "96x160", "data/val")
    recipe = (ROOT / "config" / "training" / "parking.yaml").read_text()
    recipe = re.sub(r"(?m)^data:.*\n(  .*\n)*", "data: {source: folder, path: my_dataset}\n", recipe)
    # as README says: a mask folder has no slot points, so the marking-point head goes
    recipe = re.sub(r"(?m)^  options: \{marking_points: true\}.*\n", "", recipe)
    recipe = re.sub(r"(?m)^marking_points:.*\n(  .*\n)*", "", recipe)
    (workspace / "my_recipe.yaml").write_text(recipe)
    # Your fine-tuned parking model (with its marking-point head) and labelled scenes to tune it on.
    (workspace / "runs" / "my_parking").mkdir(parents=True)
    shutil.copy(ROOT / "weights" / "parking.onnx", workspace / "runs" / "my_parking" / "my_parking.onnx")
    for folder, seed in (("out/tuning_a", 7000), ("out/tuning_b", 7100)):
        generate_scenes(workspace, env, "parking", 2, "160x160", folder, seed=seed)
    # Your bird's-eye views of another size and scale than the parking camera's (ps2.0's 600x600)
    generate_scenes(workspace, env, "parking", 2, "600x600", "path/to/avm_scenes", seed=7200)
    shutil.copytree(workspace / "path" / "to" / "avm_scenes" / "images", workspace / "path" / "to" / "avm")


def generate_scenes(
    workspace: Path, env: dict[str, str], scenario: str, count: int, size: str, out: str, *, seed: int = 0
) -> None:
    """``seg-perception generate`` into ``workspace/out`` (no preview pictures)."""
    run_seg(
        workspace,
        env,
        *("generate", "--scenario", scenario, "--count", str(count), "--seed", str(seed)),
        *("--size", size, "--no-preview", "--out", out),
    )


# --------------------------------------------------------------------------- running


@dataclass
class Outcome:
    command: Command
    rule: Rule | None
    status: str  # passed, failed, covered, unmatched
    seconds: float = 0.0
    detail: str = ""
    ran: str = ""
    notes: list[str] = field(default_factory=list)


def apply_env(text: str, env: dict[str, str]) -> str:
    """Apply ``export A=B C=D``; return a problem or an empty string."""
    if text.startswith("source "):
        return (
            ""
            if (ROOT / ".venv" / "bin" / "activate").is_file() or os.environ.get("CI")
            else ("no .venv/bin/activate in the checkout")
        )
    words = shlex.split(text)
    for word in words[1:] if words[0] == "export" else words:
        name, _, value = word.partition("=")
        value = os.path.expandvars(value) if "$" not in value else _expand(value, env)
        env[name] = value
        if name.endswith("_FILE") and not Path(value).is_file():
            return f"{name}={value} does not exist"
    return ""


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$(\w+)|\$\{(\w+)\}", lambda m: env.get(m.group(1) or m.group(2), ""), value)


PYTHON_PRELUDE = """
import cv2, numpy as np
image_bgr = cv2.imread("image.jpg")
"""
PYTHON_EPILOGUE = """
assert result.mask.shape == image_bgr.shape[:2], result.mask.shape
cv2.imwrite("python_api.png", pipeline.draw(image_bgr, result))
print(len(result.polygons), "polygons")
"""


def run_command(command: Command, rule: Rule, workspace: Path, env: dict[str, str]) -> Outcome:
    if rule.action == "covered":
        return Outcome(command, rule, "covered", detail=rule.reason)
    if rule.action == "compile":
        try:
            compile(command.text, command.where, "exec")
        except SyntaxError as err:
            return Outcome(command, rule, "failed", detail=f"does not compile: {err}")
        return Outcome(command, rule, "passed", detail=rule.reason)
    if rule.action == "env":
        problem = apply_env(command.text, env)
        return Outcome(command, rule, "failed" if problem else "passed", detail=problem)
    started = time.monotonic()
    if rule.action == "python":
        argv = [sys.executable, "-c", PYTHON_PRELUDE + command.text + PYTHON_EPILOGUE]
        shown = "python: README snippet"
    else:
        shown = rule.reduce(command.text) if rule.reduce else command.text
        argv = ["bash", "-c", shown]
    try:
        done = subprocess.run(
            argv,
            cwd=ROOT if rule.in_root else workspace,
            env=env,
            capture_output=True,
            text=True,
            timeout=rule.timeout_s or COMMAND_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as err:
        seconds = time.monotonic() - started
        status = "passed" if rule.timeout_ok else "failed"
        return Outcome(command, rule, status, seconds, f"timed out after {err.timeout:.0f} s", shown)
    seconds = time.monotonic() - started
    output = (done.stdout or "") + (done.stderr or "")
    if rule.expect_error:
        ok = done.returncode != 0 and rule.expect_error in output
        if not ok and done.returncode == 0:  # a camera was there after all
            ok = True
        return Outcome(command, rule, "passed" if ok else "failed", seconds, output[-800:], shown)
    status = "passed" if done.returncode == 0 else "failed"
    return Outcome(command, rule, status, seconds, "" if status == "passed" else output[-1500:], shown)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--list", action="store_true", help="print the rule of every command; run nothing")
    parser.add_argument(
        "--only", help="run only commands whose text or FILE:LINE contains this (env lines always apply)"
    )
    parser.add_argument("--keep", type=Path, help="use this folder as the workspace and keep it")
    args = parser.parse_args(argv)
    commands = extract_commands()
    if args.list:
        unmatched = 0
        for command in commands:
            rule = rule_for(command)
            unmatched += rule is None
            label = "UNMATCHED" if rule is None else rule.action
            print(f"{command.where:28s} {label:8s} {command.text.splitlines()[0][:100]}")
        return 1 if unmatched else 0
    if args.keep:
        workspace = args.keep
        workspace.mkdir(parents=True, exist_ok=True)
    else:
        # <tmp>/ws with <tmp>/shared beside it, as a checkout has ../shared in CI
        workspace = Path(tempfile.mkdtemp(prefix="check_docs_")) / "ws"
        workspace.mkdir()
        shared = shared_dir()
        if shared is not None:
            (workspace.parent / "shared").symlink_to(shared)
    env = dict(os.environ)
    env.update(
        NO_ALBUMENTATIONS_UPDATE="1",
        PYTHONUNBUFFERED="1",
        VIRTUAL_ENV=env.get("VIRTUAL_ENV", sys.prefix),
        PATH=f"{Path(sys.prefix) / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        AMENT_PREFIX_PATH=env.get("AMENT_PREFIX_PATH", sys.prefix),
        ROS_DOMAIN_ID=str(225 + os.getpid() % 7),  # above the test suite's domains
        ROS_AUTOMATIC_DISCOVERY_RANGE="LOCALHOST",
        ROS_LOG_DIR=str(workspace / "ros_log"),
    )
    env["PWD"] = str(ROOT)  # "$PWD/.venv" in the docs means the checkout's venv
    print(f"workspace: {workspace}", flush=True)
    prepare_workspace(workspace, env)
    outcomes: list[Outcome] = []
    for command in commands:
        rule = rule_for(command)
        if rule is None:
            outcome = Outcome(command, None, "unmatched", detail="no rule: add one to scripts/check_docs.py")
        elif args.only and rule.action != "env" and args.only not in command.text + " " + command.where:
            continue
        else:
            outcome = run_command(command, rule, workspace, env)
        outcomes.append(outcome)
        first = command.text.splitlines()[0][:90]
        print(f"{outcome.status:9s} {outcome.seconds:6.1f} s  {command.where:24s} {first}", flush=True)
        if outcome.status in ("failed", "unmatched"):
            if outcome.ran and outcome.ran != command.text:
                print(f"          ran: {outcome.ran}")
            print("          " + outcome.detail.replace("\n", "\n          "))
    counts = {
        status: sum(o.status == status for o in outcomes)
        for status in ("passed", "covered", "failed", "unmatched")
    }
    print(
        f"\n{counts['passed']} ran and passed, {counts['covered']} covered elsewhere (reasons: --list), "
        f"{counts['failed']} failed, {counts['unmatched']} without a rule; workspace {workspace}"
    )
    if not args.keep and not counts["failed"]:
        shutil.rmtree(workspace.parent, ignore_errors=True)
    return 0 if not counts["failed"] and not counts["unmatched"] else 1


if __name__ == "__main__":
    sys.exit(main())
