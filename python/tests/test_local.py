"""The package against a local store, through the real msb command: export, publish, config edits, errors."""

from __future__ import annotations

import multiprocessing
import os
import subprocess
from pathlib import Path

import pytest

import msb
from msb import ModelRepository, PlatformName

if os.environ.get("MSB_REQUIRE_PYTHON") == "1":  # CI: a missing library is a failure, not a skip
    import onnx
    import onnxruntime as ort
    import torch
else:
    torch = pytest.importorskip("torch", reason="torch is not installed (Debian python3-torch; see docs/python.md)")
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")


def small_net() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(256, 64), torch.nn.ReLU(), torch.nn.Linear(64, 10))


def test_the_issue_script_publishes_an_onnx_model_that_matches_torch(store: Path) -> None:
    nn = small_net()
    repo = ModelRepository(store)
    model = repo.create_model("my_nn", platform=PlatformName.ONNX)
    model.config.max_batch_size = 64
    model.add_instance_group("gpu", count=4)
    export_path = model.export_version(nn, input_shapes={"input": (None, 256)})

    assert export_path.version == 1
    assert Path(export_path) == store / "my_nn" / "1" / "model.onnx"
    stored = onnx.load(str(export_path))
    onnx.checker.check_model(stored)
    dims = [d.dim_param or d.dim_value for d in stored.graph.input[0].type.tensor_type.shape.dim]
    assert dims[0] == "batch" and dims[1] == 256  # the None dimension is dynamic

    x = torch.randn(5, 256)  # a batch size the export never saw
    with torch.no_grad():
        expected = nn(x).numpy()
    (got,) = ort.InferenceSession(str(export_path), providers=["CPUExecutionProvider"]).run(None, {"input": x.numpy()})
    assert got.shape == (5, 10)
    assert abs(got - expected).max() <= 1e-5

    # The config msb stored: the edits, and the tensors completed from the file (batch dimension left out).
    reread = repo.model("my_nn").config
    assert reread.max_batch_size == 64
    assert [(g.count, g.kind) for g in reread.instance_group] == [(4, msb.ModelInstanceGroup.KIND_GPU)]
    assert [(i.name, list(i.dims)) for i in reread.input] == [("input", [256])]
    assert [(o.name, list(o.dims)) for o in reread.output] == [("output", [10])]
    assert repo.validate() == []
    assert repo.models() == ["my_nn"] and repo.versions("my_nn") == [1]


def test_torchscript_for_the_pytorch_platform(store: Path) -> None:
    nn = small_net()
    model = ModelRepository(store).create_model("ts", platform=PlatformName.PYTORCH)
    model.config.max_batch_size = 8
    model.config.input.add(name="INPUT__0", data_type=msb.DataType.TYPE_FP32, dims=[256])
    model.config.output.add(name="OUTPUT__0", data_type=msb.DataType.TYPE_FP32, dims=[10])
    published = model.export_version(nn, input_shapes={"INPUT__0": (None, 256)})
    assert Path(published) == store / "ts" / "1" / "model.pt"
    x = torch.randn(3, 256)
    with torch.no_grad():
        assert torch.allclose(torch.jit.load(str(published))(x), nn(x), atol=1e-6)


def test_an_existing_name_raises_and_force_picks_the_next_free_one(store: Path) -> None:
    repo = ModelRepository(store)
    repo.create_model("my_nn", platform=PlatformName.ONNX)
    with pytest.raises(msb.ModelExistsError) as caught:
        repo.create_model("my_nn", platform=PlatformName.ONNX)
    assert caught.value.code == "MSB_STORE_EXISTS"
    assert caught.value.retryable is False
    assert caught.value.details == {"model": "my_nn"}
    assert isinstance(caught.value, msb.StoreError) and isinstance(caught.value, msb.MsbError)
    assert repo.create_model("my_nn", platform=PlatformName.ONNX, force=True).name == "my_nn_0"
    assert repo.create_model("my_nn", platform=PlatformName.ONNX, force=True).name == "my_nn_1"
    assert sorted(repo.models()) == ["my_nn", "my_nn_0", "my_nn_1"]


def _export_one(store: str, onnx_file: str, queue: multiprocessing.Queue) -> None:  # type: ignore[type-arg]
    try:
        queue.put(ModelRepository(store).model("shared").export_version(onnx_file).version)
    except Exception as err:  # reported to the parent, which fails the test with it
        queue.put(repr(err))


def test_four_processes_exporting_at_once_get_four_distinct_versions(store: Path, tmp_path: Path) -> None:
    onnx_file = tmp_path / "model.onnx"
    torch.onnx.export(small_net(), (torch.randn(2, 256),), str(onnx_file), input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    repo = ModelRepository(store)
    model = repo.create_model("shared", platform=PlatformName.ONNX)
    model.config.max_batch_size = 16
    assert model.export_version(onnx_file).version == 1  # the first completes the config; the rest only add
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_export_one, args=(str(store), str(onnx_file), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    got = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
    assert sorted(got) == [2, 3, 4, 5], got
    assert repo.versions("shared") == [1, 2, 3, 4, 5]
    assert repo.validate() == []


def test_save_is_a_read_modify_write_that_keeps_other_writers_fields(store: Path, msb_command: str) -> None:
    repo = ModelRepository(store)
    model = repo.create_model("m", platform=PlatformName.ONNX)
    with model:
        model.config.max_batch_size = 8
        # Someone else changes another field meanwhile, through msb.
        subprocess.run([*__import__("shlex").split(msb_command), "config", "set", str(store), "m", "--set",
                        "default_model_filename=net.onnx"], check=True)
    reread = repo.model("m").config
    assert reread.max_batch_size == 8
    assert reread.default_model_filename == "net.onnx"


def test_a_config_triton_would_refuse_is_not_saved(store: Path) -> None:
    repo = ModelRepository(store)
    model = repo.create_model("m", platform=PlatformName.ONNX)
    model.config.max_batch_size = -3
    with pytest.raises(msb.MsbError) as caught:
        model.save()
    assert caught.value.code.startswith("MSB_")
    assert repo.model("m").config.max_batch_size == 0


def test_errors_carry_msb_code_and_details(store: Path) -> None:
    repo = ModelRepository(store)
    with pytest.raises(msb.NotFoundError) as caught:
        repo.model("nope")
    assert caught.value.code == "MSB_STORE_NOT_FOUND"
    assert caught.value.details == {"model": "nope"}
    repo.create_model("m", platform=PlatformName.ONNX)
    repo.remove_model("m")
    assert repo.models() == []


def test_a_contract_msb_does_not_speak_is_refused(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msb import _cli

    monkeypatch.setattr(_cli, "CONTRACT", "999")
    with pytest.raises(msb.UsageError) as caught:
        ModelRepository(store)
    assert caught.value.code == "MSB_CLI_CONTRACT"
    assert caught.value.details["supported"] == [1]


def test_no_msb_command_is_one_clear_error(store: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MSB_COMMAND")
    monkeypatch.setenv("PATH", str(store))
    with pytest.raises(msb.CommandNotFoundError, match="MSB_COMMAND"):
        ModelRepository(store)
    assert not os.path.exists(store)


def test_export_version_of_another_model_copies_its_config_and_latest_version(store: Path) -> None:
    repo = ModelRepository(store)
    first = repo.create_model("first", platform=PlatformName.ONNX)
    first.config.max_batch_size = 32
    first.add_instance_group("cpu", count=3)
    first.export_version(small_net(), input_shapes={"input": (None, 256)})
    second = repo.create_model("second", platform=PlatformName.ONNX)
    published = second.export_version(first)
    assert Path(published) == store / "second" / "1" / "model.onnx"
    assert (store / "second" / "1" / "model.onnx").read_bytes() == (store / "first" / "1" / "model.onnx").read_bytes()
    copied = repo.model("second").config
    assert copied.name == "second" and copied.max_batch_size == 32
    assert [g.count for g in copied.instance_group] == [3]
    assert repo.validate() == []


def test_a_local_tensorrt_model_points_to_the_conversion_service(store: Path) -> None:
    trt = ModelRepository(store).create_model("my_trt_nn", platform=PlatformName.TRT)
    with pytest.raises(msb.UsageError, match="ModelRepository.remote"):
        trt.export_version(small_net(), input_shapes={"input": (None, 256)})
    assert trt.versions() == []
