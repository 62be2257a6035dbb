"""Remote repositories: the store behind ``msb serve``, through its HTTP API v1 (its OpenAPI document at
``/v1/openapi.json`` is the contract). TensorRT models are built there: the ONNX is uploaded as an artifact, a build
job enqueued for a target, its progress followed (Server-Sent Events), and the version the worker published returned.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import requests
from google.protobuf import json_format

from ._export import export_to_file
from ._proto import model_config_pb2
from .errors import JobError, MsbError, UsageError, error_from
from .repository import ExportedVersion, Model, PlatformName

ModelConfig = model_config_pb2.ModelConfig
Shape = Sequence[Any]


class RemoteRepository:
    """The model store of an ``msb serve`` at ``url`` (a token with the read and enqueue scopes)."""

    def __init__(self, url: str, token: str | None = None, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        if token:
            self.session.headers["authorization"] = f"Bearer {token}"

    def __repr__(self) -> str:
        return f"RemoteRepository({self.url!r})"

    def _call(self, method: str, route: str, **kwargs: Any) -> Any:
        try:
            r = self.session.request(method, f"{self.url}{route}", timeout=kwargs.pop("timeout", self.timeout), **kwargs)
        except requests.RequestException as err:
            raise MsbError("MSB_PY_UNREACHABLE", f"{self.url}: {err}", retryable=True) from err
        if r.status_code >= 400:
            raise _problem(r)
        return r.json() if r.content else None

    def models(self) -> list[str]:
        return [m["name"] for m in self._call("GET", "/v1/models")["models"]]

    def versions(self, name: str) -> list[int]:
        return [v["version"] for v in self._call("GET", f"/v1/models/{name}")["versions"]]

    def model(self, name: str) -> RemoteModel:
        info = self._call("GET", f"/v1/models/{name}")
        return RemoteModel(self, name, json_format.ParseDict(info["config"], ModelConfig(), ignore_unknown_fields=True))

    def create_model(self, name: str, platform: PlatformName | str = PlatformName.TRT, *, force: bool = False) -> RemoteModel:
        """A TensorRT model to build: the worker creates it in the store when it publishes its first version. A
        taken name raises ModelExistsError; ``force=True`` takes the first free ``NAME_<n>``.
        """
        value = platform.value if isinstance(platform, PlatformName) else str(platform)
        if value != PlatformName.TRT.value:
            raise UsageError("MSB_PY_USAGE", "a remote repository builds TensorRT models; publish others locally")
        taken = set(self.models())
        candidate, n = name, 0
        while candidate in taken:
            if not force:
                raise error_from("MSB_STORE_EXISTS", f"model {name} already exists in {self.url}", details={"model": name})
            candidate, n = f"{name}_{n}", n + 1
        config = ModelConfig(name=candidate, platform=value)
        return RemoteModel(self, candidate, config)

    def targets(self) -> list[dict[str, str]]:
        """The build targets live workers serve (TensorRT major.minor and GPU compute capability)."""
        seen: dict[tuple[str, str], dict[str, str]] = {}
        for w in self._call("GET", "/v1/workers")["workers"]:
            ident = w.get("identity") or {}
            if ident.get("tensorrt") and ident.get("computeCapability"):
                t = {"tensorrt": ident["tensorrt"], "gpu": ident["computeCapability"]}
                seen[(t["tensorrt"], t["gpu"])] = t
        return list(seen.values())

    def job(self, job_id: str) -> BuildJob:
        return BuildJob(self, job_id, "")


class RemoteModel:
    """A model of a remote repository. ``config.max_batch_size`` and the instance groups' count go with builds."""

    def __init__(self, repository: RemoteRepository, name: str, config: Any) -> None:
        self.repository = repository
        self.name = name
        self.config = config

    def add_instance_group(self, kind: str, count: int, gpus: Sequence[int] | None = None) -> None:
        group = self.config.instance_group.add()
        group.kind = model_config_pb2.ModelInstanceGroup.Kind.Value(f"KIND_{kind.upper().removeprefix('KIND_')}")
        group.count = count
        if gpus is not None:
            group.gpus.extend(gpus)

    def versions(self) -> list[int]:
        return self.repository.versions(self.name)

    def export_version(
        self,
        obj: Any,
        input_shapes: Mapping[str, Shape] | None = None,
        version: int | None = None,
        *,
        target: Mapping[str, str] | None = None,
        precision: Sequence[str] | None = None,
        output_names: Sequence[str] | None = None,
        opset: int | None = None,
        wait: bool = True,
        progress: bool | None = None,
        on_event: Callable[[str, Any], None] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Builds ``obj`` (a torch module, ONNX proto or ONNX file) into a TensorRT plan on a worker and publishes
        it. ``input_shapes``: per input, each dimension a size, ``None`` (dynamic: 1 to max_batch_size for the first,
        else an error) or a ``(min, opt, max)`` triple; they become the optimisation profile. ``target``:
        ``{"tensorrt": "10.8", "gpu": "8.6"}``, default the one target the live workers serve. ``precision``:
        e.g. ``["fp16"]``. Returns the ExportedVersion (or, with ``wait=False``, the BuildJob).
        """
        if isinstance(obj, Model):
            # exportlib's export_version(model): its batch size and instance groups, and its ONNX, go to the build.
            if not self.config.max_batch_size:
                self.config.max_batch_size = obj.config.max_batch_size
            if not self.config.instance_group:
                self.config.instance_group.extend(obj.config.instance_group)
            obj = obj.latest_file()
        if target is None:
            targets = self.repository.targets()
            if len(targets) != 1:
                raise UsageError(
                    "MSB_PY_USAGE",
                    f"name the build target: live workers serve {targets or 'none'}",
                    details={"targets": targets},
                )
            target = targets[0]
        trace_shapes = {k: tuple(_trace_dim(d) for d in shape) for k, shape in (input_shapes or {}).items()}
        with tempfile.TemporaryDirectory(prefix="msb-export-") as tmp:
            source = export_to_file(
                obj,
                Path(tmp),
                platform="onnxruntime_onnx",
                input_shapes=trace_shapes or None,
                output_names=output_names,
                opset=opset,
            )
            with open(source, "rb") as body:  # streamed: the server stores it content-addressed
                artifact = self.repository._call(
                    "PUT", "/v1/artifacts", data=body, headers={"content-type": "application/octet-stream"}
                )
        output: dict[str, Any] = {"model": self.name}
        if version is not None:
            output["version"] = int(version)
        if self.config.max_batch_size:
            output["maxBatchSize"] = self.config.max_batch_size
        if self.config.instance_group:
            output["concurrency"] = self.config.instance_group[0].count
        build: dict[str, Any] = {}
        if input_shapes:
            build["profiles"] = [_profile(input_shapes, self.config.max_batch_size)]
        if precision:
            build["precision"] = list(precision)
        spec = {"kind": "build", "source": artifact["id"], "output": output, "target": dict(target), "build": build}
        job = self.repository._call("POST", "/v1/jobs", json=spec)
        handle = BuildJob(self.repository, job["id"], self.name)
        return handle.wait(progress=progress, on_event=on_event, timeout=timeout) if wait else handle


class BuildJob:
    """A build job on the server: follow it (``events``, ``wait``) or ``cancel`` it."""

    def __init__(self, repository: RemoteRepository, job_id: str, model: str) -> None:
        self.repository = repository
        self.id = job_id
        self.model = model

    def __repr__(self) -> str:
        return f"BuildJob({self.id!r})"

    def cancel(self) -> None:
        self.repository._call("POST", f"/v1/jobs/{self.id}/cancel")

    def events(self, timeout: float | None = None) -> Iterator[tuple[str, Any]]:
        """The job's events (``state``, ``progress``, ``log``, ``end``) until it ends. Server-Sent Events parsed
        here: the format is a few lines per event, and the stream needs no reconnect logic for one wait.
        """
        try:
            r = self.repository.session.get(
                f"{self.repository.url}/v1/jobs/{self.id}/events", stream=True, timeout=(self.repository.timeout, timeout)
            )
        except requests.RequestException as err:
            raise MsbError("MSB_PY_UNREACHABLE", f"{self.repository.url}: {err}", retryable=True) from err
        if r.status_code >= 400:
            raise _problem(r)
        with r:
            event, data = "message", []
            for raw in r.iter_lines(decode_unicode=True):
                line = raw if isinstance(raw, str) else raw.decode()
                if line == "":
                    if data:
                        yield event, json.loads("\n".join(data))
                        if event == "end":
                            return
                    event, data = "message", []
                elif line.startswith("event:"):
                    event = line[6:].strip()
                elif line.startswith("data:"):
                    data.append(line[5:].lstrip())

    def wait(
        self,
        *,
        progress: bool | None = None,
        on_event: Callable[[str, Any], None] | None = None,
        timeout: float | None = None,
    ) -> ExportedVersion:
        """Waits for the job; the published version, or JobError (failed or cancelled). ``progress``: a tqdm bar
        (default: when stderr is a terminal and tqdm is installed)."""
        bar = _bar(progress, self.id)
        state: Any = None
        try:
            for event, data in self.events(timeout):
                if on_event is not None:
                    on_event(event, data)
                if event == "progress" and bar is not None and isinstance(data, dict) and "percent" in data:
                    bar.n = float(data["percent"])
                    bar.set_postfix_str(str(data.get("phase", "")))
                    bar.refresh()
                if event in ("state", "end"):
                    state = data
        finally:
            if bar is not None:
                bar.close()
        final = (state or {}).get("state")
        if final == "completed":
            result = state.get("result") or {}
            v = int(result["version"])
            model = result.get("model", self.model)
            return ExportedVersion(model, v, f"{model}/{v}")
        reason = (state or {}).get("failedReason") or final or "no state"
        code = "MSB_JOB_CANCELLED" if final == "removed" or "cancel" in str(reason).lower() else "MSB_JOB_FAILED"
        raise JobError(code, f"job {self.id} {final}: {reason}", details={"job": self.id, "state": final})


def _trace_dim(d: Any) -> Any:
    return None if d is None or isinstance(d, (tuple, list)) else d


def _profile(shapes: Mapping[str, Shape], max_batch: int) -> dict[str, dict[str, list[int]]]:
    out = {}
    for name, shape in shapes.items():
        mins, opts, maxs = [], [], []
        for i, d in enumerate(shape):
            if isinstance(d, (tuple, list)):
                lo, mid, hi = (int(x) for x in d)
            elif d is None:
                if i != 0 or max_batch < 1:
                    raise UsageError(
                        "MSB_PY_USAGE",
                        f"input {name} dimension {i} is dynamic: give it as (min, opt, max) for the TensorRT profile",
                    )
                lo, mid, hi = 1, max(1, max_batch // 2), max_batch
            else:
                lo = mid = hi = int(d)
            mins.append(lo)
            opts.append(mid)
            maxs.append(hi)
        out[name] = {"min": mins, "opt": opts, "max": maxs}
    return out


def _bar(progress: bool | None, job_id: str) -> Any:
    if progress is False or (progress is None and not sys.stderr.isatty()):
        return None
    try:
        from tqdm import tqdm
    except ImportError:
        return None
    return tqdm(total=100, desc=f"build {job_id}", unit="%")


def _problem(r: requests.Response) -> MsbError:
    try:
        body = r.json()
    except ValueError:
        body = {}
    code = body.get("code") or f"MSB_PY_HTTP_{r.status_code}"
    details = {"status": r.status_code, **({"errors": body["errors"]} if "errors" in body else {})}
    retryable = r.status_code in (429, 502, 503, 504)
    return error_from(code, body.get("detail") or r.text or r.reason, retryable, details)
