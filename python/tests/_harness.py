"""Starting the TypeScript test harnesses (test/python/*.ts) from pytest: one implementation of each server set-up,
shared with the TypeScript suites. Each prints one JSON line when ready and stops everything when its stdin closes.
"""

from __future__ import annotations

import json
import shlex
import subprocess
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]


@contextmanager
def harness(msb_command: str, script: str, *args: str) -> Iterator[dict[str, Any]]:
    parts = shlex.split(msb_command)
    if len(parts) < 3 or parts[1] != "--import":
        pytest.skip("MSB_COMMAND is not this checkout's source through tsx: the harness needs it")
    proc = subprocess.Popen(
        [parts[0], "--import", parts[2], str(REPO / "test" / "python" / script), *args],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        assert line, f"{script} did not start (its stderr is above)"
        yield json.loads(line)
    finally:
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
