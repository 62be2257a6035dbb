"""ModelRepository and Model: exportlib's API over msb's store (local directories, s3://, gs://).

Nothing here reads or writes the store itself: every read, check and write is one ``msb`` command (``_cli.run``), so
names, locks, validation and publishing are msb's, exactly as for the CLI and the HTTP API.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, Sequence

from google.protobuf import json_format, text_format

from . import _cli
from ._export import export_to_file
from ._proto import model_config_pb2
from .errors import UsageError

ModelConfig = model_config_pb2.ModelConfig


class PlatformName(str, Enum):
    """What serves a model: Triton platforms, and the Python backend (``PYTHON``, set as ``backend``)."""

    ONNX = "onnxruntime_onnx"
    TRT = "tensorrt_plan"
    PYTORCH = "pytorch_libtorch"
    TF = "tensorflow_savedmodel"
    ENSEMBLE = "ensemble"
    PYTHON = "python"


_BACKENDS = {"python", "onnxruntime", "tensorrt", "pytorch", "openvino"}
_KINDS = {"gpu": "KIND_GPU", "cpu": "KIND_CPU", "auto": "KIND_AUTO", "model": "KIND_MODEL"}


@dataclass(frozen=True)
class Problem:
    """One thing Triton would fail on (or warn about) loading the repository, as ``msb validate`` reports it."""

    severity: str
    path: str
    rule: str
    message: str


@dataclass(frozen=True)
class ExportedVersion:
    """A published version: its number and where its model file is (a path, or a URI for object stores)."""

    model: str
    version: int
    path: str

    def __fspath__(self) -> str:
        return self.path

    def __str__(self) -> str:
        return self.path


class ModelRepository:
    """A Triton model repository msb manages: a directory, ``s3://bucket/prefix`` or ``gs://bucket/prefix``.

    It is created when it does not exist yet (``msb init``).
    """

    def __init__(self, location: str | os.PathLike[str]) -> None:
        self.root: str = _cli.run(["init", os.fspath(location), "--json"])["store"]

    def __repr__(self) -> str:
        return f"ModelRepository({self.root!r})"

    @staticmethod
    def remote(url: str, token: str | None = None) -> Any:
        """The store behind an ``msb serve`` (its HTTP API v1): builds TensorRT models there (msb.remote)."""
        from .remote import RemoteRepository

        return RemoteRepository(url, token)

    def create_model(
        self,
        name: str,
        platform: PlatformName | str | None = None,
        *,
        force: bool = False,
        config: Any | None = None,
    ) -> Model:
        """Creates a model (config only, no version yet). A taken name raises ModelExistsError; ``force=True``
        takes the first free ``NAME_0``, ``NAME_1``, ... instead. ``config`` (a ModelConfig) is the starting config.
        """
        args = ["create", self.root, name, "--json"]
        if platform is not None:
            value = platform.value if isinstance(platform, PlatformName) else str(platform)
            args += ["--backend" if value in _BACKENDS else "--platform", value]
        if force:
            args.append("--force")
        stdin = None
        if config is not None:
            args.append("-")
            stdin = text_format.MessageToString(config)
        created = _cli.run(args, input=stdin)
        return self.model(created["model"])

    def model(self, name: str) -> Model:
        """The stored model ``name`` (NotFoundError when there is none)."""
        return Model(self, name)

    def models(self) -> list[str]:
        """The names of the repository's models."""
        return [row["model"] for row in _cli.run(["ls", self.root, "--json"])]

    def remove_model(self, name: str) -> None:
        _cli.run(["rm", self.root, name])

    def versions(self, name: str) -> list[int]:
        return [v["version"] for v in _cli.run(["version", "ls", self.root, name, "--json"])]

    def remove_version(self, name: str, version: int) -> None:
        _cli.run(["version", "rm", self.root, name, str(int(version))])

    def validate(self) -> list[Problem]:
        """Every problem Triton would have loading the repository (empty when it would load it all)."""
        rows = _cli.run(["validate", self.root, "--json"], problems_ok=True) or []
        return [Problem(r["severity"], r["path"], r["rule"], r["message"]) for r in rows]


class Model:
    """A stored model. ``config`` is Triton's ModelConfig message: edit it, then ``save()`` (or use the model as a
    context manager, which saves once on leaving). ``export_version`` also saves pending edits first.
    """

    def __init__(self, repository: ModelRepository, name: str) -> None:
        self.repository = repository
        self.name = name
        self._load()

    def __repr__(self) -> str:
        return f"Model({self.repository.root!r}, {self.name!r})"

    def _load(self) -> None:
        data = _cli.run(["config", "get", self.repository.root, self.name, "--json"])
        self.config: Any = json_format.ParseDict(data, ModelConfig())
        self._saved: Any = ModelConfig()
        self._saved.CopyFrom(self.config)

    def __enter__(self) -> Model:
        return self

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self.save()

    def add_instance_group(self, kind: str, count: int, gpus: Sequence[int] | None = None) -> None:
        """Adds an instance group: ``kind`` gpu/cpu/auto/model (or KIND_*), ``count`` instances (per GPU)."""
        key = kind.lower().removeprefix("kind_")
        if key not in _KINDS:
            raise UsageError("MSB_PY_USAGE", f"instance group kind {kind!r}: expected one of {', '.join(_KINDS)}")
        if count < 1:
            raise UsageError("MSB_PY_USAGE", f"instance group count {count}: at least 1")
        group = self.config.instance_group.add()
        group.kind = model_config_pb2.ModelInstanceGroup.Kind.Value(_KINDS[key])
        group.count = count
        if gpus is not None:
            group.gpus.extend(gpus)

    def save(self) -> None:
        """Writes the edits made to ``config`` since it was read, through msb's read-modify-write under the model's
        lock: each changed top-level field is one ``--set`` applied to the config as it is on disk then, so edits
        others saved meanwhile to other fields are kept. A field cleared here replaces the whole config instead.
        msb validates the result before writing; nothing is written when it would not load.
        """
        changed, cleared = _diff(self._saved, self.config)
        if cleared:
            _cli.run(["config", "set", self.repository.root, self.name, "-"], input=_text(self.config))
        elif changed:
            sets: list[str] = []
            for field in changed:
                sets += ["--set", f"{field.name}={_render(self.config, field)}"]
            _cli.run(["config", "set", self.repository.root, self.name, *sets])
        else:
            return
        self._load()

    def versions(self) -> list[int]:
        return self.repository.versions(self.name)

    def remove_version(self, version: int) -> None:
        self.repository.remove_version(self.name, version)

    def export_version(
        self,
        obj: Any,
        input_shapes: Mapping[str, Sequence[int | None]] | None = None,
        version: int | None = None,
        *,
        output_names: Sequence[str] | None = None,
        opset: int | None = None,
        publish_key: str | None = None,
    ) -> ExportedVersion:
        """Publishes ``obj`` as a new version (or as ``version``) and returns it.

        ``obj``: a ``torch.nn.Module`` (exported to ONNX, ``None`` dims of ``input_shapes`` dynamic; TorchScript for
        the PyTorch platform), an ONNX file or ``onnx.ModelProto``, a TensorFlow SavedModel directory, a model file
        of the model's platform, or another Model (its config is copied over and its latest version published).
        The first version of a model whose config names no tensors completes the config from the file as Triton's
        auto-complete would (``msb config generate``), keeping what the config already says.
        """
        is_plan_file = isinstance(obj, (str, os.PathLike)) and not os.fspath(obj).endswith(".onnx")
        if (self.config.platform == PlatformName.TRT.value or self.config.backend == "tensorrt") and not is_plan_file:
            raise UsageError(
                "MSB_PY_USAGE",
                "a TensorRT plan is built by msb's conversion service on the GPU that serves it: export to "
                "ModelRepository.remote(url, token) (its workers publish into their store), or give a built plan file",
            )
        if isinstance(obj, Model):
            return self._copy_from(obj, version, publish_key)
        with tempfile.TemporaryDirectory(prefix="msb-export-") as tmp:
            source = export_to_file(
                obj,
                Path(tmp),
                platform=self.config.platform or self.config.backend,
                input_shapes=input_shapes,
                output_names=output_names,
                opset=opset,
            )
            return self._publish(source, version, publish_key)

    def _copy_from(self, other: Model, version: int | None, publish_key: str | None) -> ExportedVersion:
        copied = ModelConfig()
        copied.CopyFrom(other.config)
        copied.name = self.name
        self.config = copied
        return self._publish(other.latest_file(), version, publish_key)

    def latest_file(self) -> Path:
        """The model file (or directory) of the highest version; only for local repositories."""
        rows = _cli.run(["version", "ls", self.repository.root, self.name, "--json"])
        if not rows:
            raise UsageError("MSB_PY_USAGE", f"model {self.name} has no version to export")
        local = Path(self.repository.root)
        if not local.is_dir():
            raise UsageError("MSB_PY_USAGE", f"reading a version of {self.repository.root}: only local repositories")
        latest = max(rows, key=lambda r: r["version"])
        # The model file, or the top of a directory model (model.savedmodel/...), as msb lists the version.
        tops = sorted({f["path"].split("/")[0] for f in latest["files"]})
        if len(tops) != 1:
            raise UsageError("MSB_PY_USAGE", f"model {self.name} version {latest['version']} has files {tops}")
        return local / self.name / str(latest["version"]) / tops[0]

    def _publish(self, source: Path, version: int | None, publish_key: str | None) -> ExportedVersion:
        if not self.config.input and not self.config.output:
            self._complete_from(source)
        self.save()
        args = ["version", "add", self.repository.root, self.name, str(source), "--json"]
        if version is not None:
            args += ["--version", str(int(version))]
        if publish_key is not None:
            args += ["--publish-key", publish_key]
        published = _cli.run(args)["version"]
        rows = _cli.run(["version", "ls", self.repository.root, self.name, "--json"])
        files = next((r["files"] for r in rows if r["version"] == published), [])
        where = f"{self.repository.root.rstrip('/')}/{self.name}/{published}"
        if files:
            where = f"{where}/{files[0]['path']}"
        return ExportedVersion(self.name, published, where)

    def _complete_from(self, source: Path) -> None:
        with tempfile.NamedTemporaryFile("w", suffix=".pbtxt", delete=False) as partial:
            partial.write(_text(self.config))
        try:
            generated = _cli.run(
                ["config", "generate", str(source), "--partial", partial.name, "--name", self.name], text=True
            )
        finally:
            os.unlink(partial.name)
        completed = text_format.Parse(generated, ModelConfig())
        # The generated config replaces the saved one as a whole: the model had no tensors, only what we hold.
        _cli.run(["config", "set", self.repository.root, self.name, "-"], input=_text(completed))
        self._load()


def _text(config: Any) -> str:
    return str(text_format.MessageToString(config))


def _diff(before: Any, after: Any) -> tuple[list[Any], bool]:
    """The top-level fields whose value differs, and whether any field set before is now unset."""
    changed = []
    cleared = False
    for field in ModelConfig.DESCRIPTOR.fields:
        a, b = getattr(before, field.name), getattr(after, field.name)
        if field.label == field.LABEL_REPEATED:
            same = list(a) == list(b) if not _is_map(field) else dict(a) == dict(b)
            if not same:
                changed.append(field)
                cleared = cleared or len(b) == 0
        elif field.message_type is not None:
            if after.HasField(field.name) != before.HasField(field.name) or a != b:
                changed.append(field)
                cleared = cleared or not after.HasField(field.name)
        elif a != b:
            changed.append(field)
    return changed, cleared


def _is_map(field: Any) -> bool:
    return field.message_type is not None and field.message_type.GetOptions().map_entry


def _render(config: Any, field: Any) -> str:
    """A field's value as msb's ``--set field=value`` reads it (protobuf text format)."""
    value = getattr(config, field.name)
    if _is_map(field):
        entries = []
        for k in value:
            entry = field.message_type._concrete_class(key=k)
            v = value[k]
            if field.message_type.fields_by_name["value"].message_type is not None:
                entry.value.CopyFrom(v)
            else:
                entry.value = v
            entries.append("{" + text_format.MessageToString(entry, as_one_line=True) + "}")
        return "[" + ", ".join(entries) + "]"
    if field.label == field.LABEL_REPEATED:
        if field.message_type is not None:
            return "[" + ", ".join("{" + text_format.MessageToString(m, as_one_line=True) + "}" for m in value) + "]"
        return "[" + ", ".join(_scalar(field, v) for v in value) + "]"
    if field.message_type is not None:
        return "{" + text_format.MessageToString(value, as_one_line=True) + "}"
    return _scalar(field, value)


def _scalar(field: Any, value: Any) -> str:
    if field.enum_type is not None:
        return str(field.enum_type.values_by_number[value].name)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a double-quoted string with C escapes, as text format reads it
    return repr(value)
