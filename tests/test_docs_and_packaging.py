"""The README stays true to the code, and packaging covers every module."""
import re
import tomllib

from scaling_laws.config import FIELD_NAMES
from conftest import ROOT
from scaling_laws.results_layout import CSV_COLUMNS

README = (ROOT / "README.md").read_text()


def quick_start_commands():
    section = README.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\n(.*?)```", section, re.S).group(1)
    return [line for line in block.splitlines() if line.strip()]


def test_quick_start_is_two_commands_and_ci_runs_the_test_one():
    commands = quick_start_commands()
    assert len(commands) == 2
    ci_lines = [line.strip() for line in (ROOT / ".ci/run").read_text().splitlines()]
    assert commands[1] in ci_lines
    for command in commands:
        assert (ROOT / command.split()[1]).exists()


def test_readme_documents_every_config_field_and_csv_column():
    for name in FIELD_NAMES:
        assert f"| `{name}` |" in README, f"config field {name} is missing from the README reference"
    for column in CSV_COLUMNS:
        assert f"| `{column}` |" in README, f"CSV column {column} is missing from the README reference"


def test_every_top_level_module_is_packaged():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packaged = set(config["tool"]["setuptools"]["py-modules"])
    modules = {path.stem for path in ROOT.glob("*.py")}
    assert modules == packaged, f"pyproject py-modules differ from the root modules: {modules ^ packaged}"
