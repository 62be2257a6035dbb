"""A model published from Python answers an inference on the real Triton server (tritonserver 2.51 from
nvidia-pytriton, the Python backend; test/helpers/triton.ts through test/python/triton-harness.ts). Skips with one
line without it, unless MSB_REQUIRE_TRITON=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from _harness import harness

import msb
from msb import ModelRepository, PlatformName

ADD_ONE = '''
import numpy as np
import triton_python_backend_utils as pb_utils

class TritonPythonModel:
    def execute(self, requests):
        out = []
        for r in requests:
            x = pb_utils.get_input_tensor_by_name(r, "INPUT0").as_numpy()
            out.append(pb_utils.InferenceResponse([pb_utils.Tensor("OUTPUT0", (x + 1).astype(np.float32))]))
        return out
'''


def test_a_python_backend_model_published_from_python_answers_an_inference(
    store: Path, tmp_path: Path, msb_command: str
) -> None:
    repo = ModelRepository(store)
    config = msb.ModelConfig(max_batch_size=0)
    config.input.add(name="INPUT0", data_type=msb.DataType.TYPE_FP32, dims=[4])
    config.output.add(name="OUTPUT0", data_type=msb.DataType.TYPE_FP32, dims=[4])
    with repo.create_model("add_one", platform=PlatformName.PYTHON, config=config) as model:
        model.add_instance_group("cpu", count=1)
    source = tmp_path / "model.py"
    source.write_text(ADD_ONE)
    published = model.export_version(source)
    assert Path(published) == store / "add_one" / "1" / "model.py"
    assert repo.validate() == []

    with harness(msb_command, "triton-harness.ts", str(store)) as triton:
        if "skip" in triton:
            assert os.environ.get("MSB_REQUIRE_TRITON") != "1", triton["skip"]
            pytest.skip(triton["skip"])
        url = triton["url"]
        assert requests.get(f"{url}/v2/models/add_one/ready", timeout=10).status_code == 200
        body = {"inputs": [{"name": "INPUT0", "shape": [4], "datatype": "FP32", "data": [1, 2, 3, 4.5]}]}
        r = requests.post(f"{url}/v2/models/add_one/infer", json=body, timeout=60)
        assert r.status_code == 200, r.text
        (out,) = r.json()["outputs"]
        assert out["name"] == "OUTPUT0" and out["data"] == [2, 3, 4, 5.5]
