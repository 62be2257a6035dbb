"""The one way this package runs the ``msb`` command: its ``--json`` contract (docs/cli-json.md)."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from typing import Any, Sequence

from .errors import MsbError, error_from

#: The --json contract version this package reads; msb refuses (MSB_CLI_CONTRACT) a version it does not speak.
CONTRACT = "1"


def command() -> list[str]:
    """How msb is run: ``MSB_COMMAND`` (a command line, split as a shell would), else ``msb`` on PATH."""
    configured = os.environ.get("MSB_COMMAND")
    if configured:
        return shlex.split(configured)
    found = shutil.which("msb")
    if found:
        return [found]
    raise error_from(
        "MSB_PY_NO_COMMAND",
        "cannot find the msb command: put msb on PATH (npm install -g msb) or set MSB_COMMAND to its command line",
    )


def run(args: Sequence[str], *, input: str | None = None, problems_ok: bool = False, text: bool = False) -> Any:
    """Runs ``msb ARGS``; returns its stdout parsed as JSON (None when empty), or as a string when ``text``.

    An error msb reports (exit 2, one JSON line on stderr under the contract) is raised as its MsbError subclass.
    Exit 1 means "ran and found problems" (validate): returned when ``problems_ok``, else raised.
    """
    argv = [*command(), *args]
    env = {**os.environ, "MSB_CLI_JSON_CONTRACT": CONTRACT, "NO_COLOR": "1"}
    try:
        proc = subprocess.run(argv, input=input, capture_output=True, text=True, env=env)
    except OSError as err:
        raise error_from("MSB_PY_NO_COMMAND", f"cannot run {argv[0]}: {err}") from err
    if proc.returncode == 0 or (proc.returncode == 1 and problems_ok):
        if text:
            return proc.stdout
        return json.loads(proc.stdout) if proc.stdout.strip() else None
    raise _error(proc, argv)


def _error(proc: subprocess.CompletedProcess[str], argv: Sequence[str]) -> MsbError:
    for line in reversed(proc.stderr.strip().splitlines()):
        try:
            report = json.loads(line)
        except ValueError:
            continue
        if isinstance(report, dict) and isinstance(report.get("error"), dict):
            e = report["error"]
            return error_from(e["code"], e["message"], bool(e.get("retryable")), e.get("details"))
    # Not an msb error line: commander's own usage errors, or a crash before msb started.
    text = proc.stderr.strip() or proc.stdout.strip() or f"exit status {proc.returncode}"
    return MsbError("MSB_PY_COMMAND_FAILED", f"{shlex.join(argv)}: {text}", details={"exit": proc.returncode})
