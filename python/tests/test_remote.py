"""Remote mode against a real msb serve + real Redis + a real worker, whose TensorRT builder is the test double
(test/jobs/fake-builder.ts: no TensorRT or GPU on these machines; the worker's job control, publishing and the API are
the real ones). The harness is the TypeScript API tests' own (test/python/remote-harness.ts).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterator

import pytest
from _harness import harness

import msb
from msb import ModelRepository, PlatformName

if os.environ.get("MSB_REQUIRE_PYTHON") == "1":
    import torch
else:
    torch = pytest.importorskip("torch", reason="torch is not installed (Debian python3-torch; see docs/python.md)")
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (.ci/system-deps)", allow_module_level=True)


@pytest.fixture(scope="module")
def server(msb_command: str) -> Iterator[dict[str, Any]]:
    # 40 progress steps of 50 ms: a build lasts about 2 s, long enough to see progress and to cancel one.
    with harness(msb_command, "remote-harness.ts", "40") as described:
        yield described


def small_net() -> Any:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(16, 4))


def test_a_tensorrt_model_is_built_by_the_service_with_progress(server: dict[str, Any]) -> None:
    repo = ModelRepository.remote(server["url"], server["tokens"]["readEnqueue"])
    model = repo.create_model("my_trt_nn", platform=PlatformName.TRT)
    model.config.max_batch_size = 8
    events: list[tuple[str, Any]] = []
    published = model.export_version(
        small_net(), input_shapes={"input": (None, 16)}, on_event=lambda e, d: events.append((e, d))
    )
    assert published.model == "my_trt_nn" and published.version == 1
    progress = [d for e, d in events if e == "progress" and isinstance(d, dict)]
    assert len(progress) >= 2, events
    assert events[-1][0] == "end" and events[-1][1]["state"] == "completed"
    # The worker published it into the real store: a plan and a config with the batch size asked for.
    assert repo.versions("my_trt_nn") == [1]
    assert repo.model("my_trt_nn").config.max_batch_size == 8
    assert (Path(server["store"]) / "my_trt_nn" / "1" / "model.plan").is_file()
    # A second model of that name is refused unless force picks the next free one.
    with pytest.raises(msb.ModelExistsError):
        repo.create_model("my_trt_nn", platform=PlatformName.TRT)
    assert repo.create_model("my_trt_nn", platform=PlatformName.TRT, force=True).name == "my_trt_nn_0"


def test_export_version_of_a_local_model_builds_its_onnx_with_its_config(server: dict[str, Any], store: Path) -> None:
    local = ModelRepository(store).create_model("my_nn", platform=PlatformName.ONNX)
    local.config.max_batch_size = 16
    local.add_instance_group("gpu", count=2)
    local.export_version(torch.nn.Sequential(torch.nn.Linear(16, 5)), input_shapes={"input": (None, 16)})
    repo = ModelRepository.remote(server["url"], server["tokens"]["readEnqueue"])
    trt = repo.create_model("from_local", platform=PlatformName.TRT)
    published = trt.export_version(local, input_shapes={"input": (None, 16)})
    assert (published.model, published.version) == ("from_local", 1)
    built = repo.model("from_local").config
    assert built.platform == "tensorrt_plan"
    assert built.max_batch_size == 16
    assert [g.count for g in built.instance_group] == [2]


def test_a_cancelled_build_raises_and_publishes_nothing(server: dict[str, Any]) -> None:
    repo = ModelRepository.remote(server["url"], server["tokens"]["readEnqueue"])
    model = repo.create_model("cancelled", platform=PlatformName.TRT)
    model.config.max_batch_size = 4
    net = torch.nn.Sequential(torch.nn.Linear(16, 3))  # other bytes than the first test's: no plan-cache hit
    job = model.export_version(net, input_shapes={"input": (None, 16)}, wait=False)
    seen: list[str] = []

    def on_event(event: str, data: Any) -> None:
        seen.append(event)
        if event == "progress" and seen.count("progress") == 1:
            job.cancel()

    with pytest.raises(msb.JobError) as caught:
        job.wait(on_event=on_event)
    assert caught.value.code == "MSB_JOB_CANCELLED", caught.value
    assert "progress" in seen
    assert "cancelled" not in repo.models()


def test_api_errors_are_typed(server: dict[str, Any]) -> None:
    repo = ModelRepository.remote(server["url"], server["tokens"]["read"])
    with pytest.raises(msb.MsbError) as caught:
        repo.model("nope")
    assert caught.value.code == "MSB_STORE_NOT_FOUND"
    unauthorised = ModelRepository.remote(server["url"], None)
    with pytest.raises(msb.MsbError) as caught:
        unauthorised.models()
    assert caught.value.code.startswith("MSB_API_")
    assert caught.value.details["status"] in (401, 403)
