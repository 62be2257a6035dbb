"""msb's typed errors, as Python exceptions.

Every error the ``msb`` command or ``msb serve`` reports carries a stable ``code`` (``MSB_STORE_EXISTS``, ...), a
``retryable`` flag and ``details``; they arrive here as one of the classes below, chosen by the code's family.
"""

from __future__ import annotations

from typing import Any, Mapping


class MsbError(Exception):
    """An error msb reported (or, with an ``MSB_PY_`` code, one this package found before calling msb)."""

    def __init__(
        self, code: str, message: str, retryable: bool = False, details: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retryable = retryable
        self.details: Mapping[str, Any] = dict(details or {})


class StoreError(MsbError):
    """The model store: names, versions, locks, conflicts (``MSB_STORE_*``)."""


class ModelExistsError(StoreError):
    """``MSB_STORE_EXISTS``: the model name is taken (``force=True`` picks ``NAME_0``, ``NAME_1``, ...)."""


class NotFoundError(StoreError):
    """``MSB_STORE_NOT_FOUND``: no such model or version."""


class ConfigError(MsbError):
    """A config Triton would refuse (``MSB_CONFIG_*``, ``MSB_TEXTFORMAT_*``)."""


class InspectError(MsbError):
    """A model file msb cannot read (``MSB_INSPECT_*``, ``MSB_ONNX_*``)."""


class UsageError(MsbError):
    """Bad input to a command (``MSB_CLI_*``) or to this package (``MSB_PY_USAGE``)."""


class JobError(MsbError):
    """Conversion jobs and their queue (``MSB_JOB_*``, ``MSB_REDIS_*``, ``MSB_TENSORRT_*``)."""


class CommandNotFoundError(MsbError):
    """``MSB_PY_NO_COMMAND``: neither ``MSB_COMMAND`` nor ``msb`` on PATH."""


_BY_CODE: dict[str, type[MsbError]] = {
    "MSB_STORE_EXISTS": ModelExistsError,
    "MSB_STORE_NOT_FOUND": NotFoundError,
    "MSB_PY_NO_COMMAND": CommandNotFoundError,
    "MSB_PY_USAGE": UsageError,
}
_BY_FAMILY: dict[str, type[MsbError]] = {
    "STORE": StoreError,
    "CONFIG": ConfigError,
    "TEXTFORMAT": ConfigError,
    "INSPECT": InspectError,
    "ONNX": InspectError,
    "CLI": UsageError,
    "JOB": JobError,
    "REDIS": JobError,
    "TENSORRT": JobError,
}


def error_from(code: str, message: str, retryable: bool = False, details: Mapping[str, Any] | None = None) -> MsbError:
    """The exception for an error msb reported: by exact code, else by the code's family, else MsbError."""
    cls = _BY_CODE.get(code)
    if cls is None:
        parts = code.split("_")
        cls = _BY_FAMILY.get(parts[1], MsbError) if len(parts) > 2 and parts[0] == "MSB" else MsbError
    return cls(code, message, retryable, details)
