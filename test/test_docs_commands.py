"""The documentation's commands exist as written; scripts/check_docs.py runs them (make check-docs).

Cheap checks of every command in README.md, weights/README.md and docs/*.md: each shell line has
a rule in the check script (run, or covered elsewhere with a reason); each ``seg-perception``
subcommand and ``--flag`` the docs name (in blocks and inline) exists; the model tables agree with
the shipped files; every repository path the docs name exists.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import re
import sys
from pathlib import Path

import onnx
import pytest

from seg_perception.cli import COMMANDS
from seg_perception.inference.metadata import ModelMetadata

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", ROOT / "weights" / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def load_check_docs():
    spec = importlib.util.spec_from_file_location("check_docs", ROOT / "scripts" / "check_docs.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def test_every_documented_command_has_a_rule_in_the_check_script():
    check_docs = load_check_docs()
    commands = check_docs.extract_commands(ROOT)
    assert len(commands) > 50  # the extractor sees the blocks (README, weights, docs)
    unmatched = [f"{c.where}: {c.text}" for c in commands if check_docs.rule_for(c) is None]
    assert not unmatched, "give these a rule in scripts/check_docs.py:\n" + "\n".join(unmatched)
    actions = [check_docs.rule_for(c).action for c in commands]
    ran = [a for a in actions if a in ("run", "python")]
    commands_proper = [a for a in actions if a != "env"]  # env lines set variables for the others
    assert (
        len(ran) >= len(commands_proper) / 2
    )  # most really run; 'covered' is for ROS workspaces, GPUs, cameras


def test_the_extractor_joins_continuations_and_drops_comments(tmp_path):
    check_docs = load_check_docs()
    (tmp_path / "README.md").write_text(
        "text `inline`\n```bash\n# a comment\nseg-perception eval a.onnx \\\n  --count 3   # why\n"
        "echo '# kept'\nR=../shared\npython -c \"\nimport os\nprint(1)\"\n```\n```text\nnot a command\n```\n"
        "```python\nimport rclpy\n```\n"
    )
    commands = check_docs.extract_commands(tmp_path)
    texts = [c.text for c in commands]
    assert texts == [
        "seg-perception eval a.onnx --count 3",
        "echo '# kept'",
        "R=../shared",
        'python -c "\nimport os\nprint(1)"',
        "import rclpy",
    ]
    assert commands[0].line == 4
    actions = [check_docs.rule_for(c).action if check_docs.rule_for(c) else None for c in commands]
    assert actions == ["run", None, "env", "run", "compile"]  # echo has no rule: the test would say so


def test_an_apostrophe_in_a_comment_opens_no_quote(tmp_path):
    check_docs = load_check_docs()
    (tmp_path / "README.md").write_text(
        "```bash\nexport A=1   # only in this checkout's venv\nseg-perception models\n```\n"
    )
    assert [c.text for c in check_docs.extract_commands(tmp_path)] == ["export A=1", "seg-perception models"]


def documented_invocations():
    """(where, subcommand, flags) of every `seg-perception X ...` in the docs, blocks and inline."""
    found = []
    pattern = re.compile(r"(?:seg-perception|python -m seg_perception\.cli) ([a-z][a-z-]*)([^`\n|]*)")
    for path in DOCS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for match in pattern.finditer(line):
                args = match.group(2).split(" #")[0]
                flags = re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", args)
                found.append((f"{path.relative_to(ROOT)}:{number}", match.group(1), flags))
    return found


def parser_flags(command: str) -> set[str]:
    module = importlib.import_module(COMMANDS[command][0])
    parser = argparse.ArgumentParser()
    module.register(parser)
    return {option for action in parser._actions for option in action.option_strings}


def test_documented_subcommands_and_flags_exist():
    invocations = documented_invocations()
    assert len(invocations) > 60
    flags_of = {}
    problems = []
    for where, command, flags in invocations:
        if command not in COMMANDS:
            problems.append(f"{where}: no subcommand {command!r}")
            continue
        known = flags_of.setdefault(command, parser_flags(command))
        problems += [
            f"{where}: seg-perception {command} has no {flag}" for flag in flags if flag not in known
        ]
    assert not problems, "\n".join(problems)


def test_every_subcommand_is_documented():
    documented = {command for _, command, _ in documented_invocations()}
    assert set(COMMANDS) - documented == set()


def shipped_metadata(name: str) -> ModelMetadata:
    proto = onnx.load(str(ROOT / "weights" / name), load_external_data=False)
    return ModelMetadata.from_props({p.key: p.value for p in proto.metadata_props}, source=name)


@pytest.mark.parametrize("path", [ROOT / "README.md", ROOT / "weights" / "README.md"])
def test_model_tables_state_the_shipped_input_sizes(path):
    rows = 0
    for line in path.read_text().splitlines():
        match = re.match(r"\|\s*`(?:weights/)?([\w.]+\.onnx)`.*?(\d+)×(\d+)", line)
        if match is None:
            match = re.search(r"`weights/([\w.]+\.onnx)` \([^,]+, (\d+)×(\d+)\)", line)
        if match is None:
            continue
        rows += 1
        name, height, width = match.group(1), int(match.group(2)), int(match.group(3))
        assert shipped_metadata(name).input_size == (height, width), f"{path.name}: {line}"
    assert rows >= 4


# ROS interface names (seg_perception/msg, seg_perception/msg/ParkingSlotArray,
# seg_perception/LaneBoundaryArray) look like paths but name the package's generated messages.
INTERFACE_NAME = re.compile(r"seg_perception/(msg|(msg/)?[A-Z]\w*)")


def test_repository_paths_named_in_the_docs_exist():
    pattern = re.compile(r"`((?:config|weights|docs|scripts|launch|test|seg_perception)/[\w./-]+)`")
    missing = []
    for path in DOCS:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for name in pattern.findall(line):
                name = name.split("::")[0].rstrip(".")
                if "<" in name or "*" in name or INTERFACE_NAME.fullmatch(name):
                    continue
                if not (ROOT / name).exists():
                    missing.append(f"{path.relative_to(ROOT)}:{number}: {name}")
    assert not missing, "\n".join(missing)
