"""Fixtures: the real msb command (MSB_COMMAND, else this checkout's src/cli/main.ts through tsx) and a store."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _msb_command() -> str:
    if os.environ.get("MSB_COMMAND"):
        return os.environ["MSB_COMMAND"]
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not on PATH: the msb command cannot run", allow_module_level=True)
    # tsx as this checkout resolves it (node_modules may be a link), the CLI from source as test/helpers/cli.ts runs it.
    loader = subprocess.run(
        [node, "--input-type=module", "-e", "console.log(import.meta.resolve('tsx'))"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return shlex.join([node, "--import", loader, str(REPO / "src" / "cli" / "main.ts")])


@pytest.fixture(scope="session", autouse=True)
def msb_command() -> str:
    command = _msb_command()
    os.environ["MSB_COMMAND"] = command
    return command


@pytest.fixture
def store(tmp_path: Path) -> Path:
    return tmp_path / "repo"
