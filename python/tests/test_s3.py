"""An object store: the same API on s3:// (a real S3 server, s3rver, with Redis leases; test/python/s3-harness.ts).
Nothing in the package knows about S3: the URI goes to msb as it is.
"""

from __future__ import annotations

import os
import shutil
from typing import Any, Iterator

import pytest
from _harness import harness

import msb
from msb import ModelRepository, PlatformName

if os.environ.get("MSB_REQUIRE_PYTHON") == "1":
    import onnx
    import torch
else:
    torch = pytest.importorskip("torch", reason="torch is not installed (Debian python3-torch; see docs/python.md)")
    onnx = pytest.importorskip("onnx")
if shutil.which("redis-server") is None:
    pytest.skip("redis-server is not installed (.ci/system-deps)", allow_module_level=True)


@pytest.fixture
def s3(msb_command: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, Any]]:
    with harness(msb_command, "s3-harness.ts") as described:
        for k, v in described["env"].items():
            monkeypatch.setenv(k, v)
        yield described


def test_export_to_an_s3_repository(s3: dict[str, Any]) -> None:
    repo = ModelRepository(s3["uri"])
    assert repo.root == s3["uri"]
    model = repo.create_model("my_nn", platform=PlatformName.ONNX)
    model.config.max_batch_size = 8
    published = model.export_version(torch.nn.Sequential(torch.nn.Linear(8, 2)), input_shapes={"x": (None, 8)})
    assert published.path == f"{s3['uri']}/my_nn/1/model.onnx"
    assert repo.versions("my_nn") == [1]
    assert repo.model("my_nn").config.input[0].name == "x"
    with pytest.raises(msb.ModelExistsError):
        repo.create_model("my_nn", platform=PlatformName.ONNX)
    assert repo.create_model("my_nn", platform=PlatformName.ONNX, force=True).name == "my_nn_0"
    # A model with no version yet is what Triton refuses, and validate says so; removed, the repository is clean.
    assert [(p.path, p.rule) for p in repo.validate()] == [("my_nn_0", "no-versions")]
    repo.remove_model("my_nn_0")
    assert repo.validate() == []
    repo.remove_version("my_nn", 1)
    assert repo.versions("my_nn") == []
