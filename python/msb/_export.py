"""Turning what a training script holds into a model file msb can publish: torch modules, ONNX protos, files.

torch and onnx are imported only when such an object is exported; a script exporting files needs neither.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping, Sequence

from .errors import UsageError


def export_to_file(
    obj: Any,
    tmp: Path,
    *,
    platform: str,
    input_shapes: Mapping[str, Sequence[int | None]] | None,
    output_names: Sequence[str] | None,
    opset: int | None,
) -> Path:
    """``obj`` as a file (or directory) under ``tmp``, in the format of ``platform``."""
    if isinstance(obj, (str, os.PathLike)):
        path = Path(obj)
        if not path.exists():
            raise UsageError("MSB_PY_USAGE", f"{path} does not exist")
        return path  # a model file or SavedModel directory: msb inspects and publishes it as it is
    if _is_torch_module(obj):
        return _export_torch(obj, tmp, platform, input_shapes, output_names, opset)
    if type(obj).__name__ == "ModelProto" and type(obj).__module__.startswith("onnx"):
        import onnx

        target = tmp / "model.onnx"
        onnx.save(obj, str(target))
        return target
    raise UsageError(
        "MSB_PY_USAGE",
        f"cannot export a {type(obj).__module__}.{type(obj).__name__}: expected a torch.nn.Module, an ONNX "
        "ModelProto, a model file or SavedModel directory, or a Model",
    )


def _is_torch_module(obj: Any) -> bool:
    return any(c.__module__.startswith("torch") and c.__name__ == "Module" for c in type(obj).__mro__)


def _export_torch(
    module: Any,
    tmp: Path,
    platform: str,
    input_shapes: Mapping[str, Sequence[int | None]] | None,
    output_names: Sequence[str] | None,
    opset: int | None,
) -> Path:
    import torch

    if not input_shapes:
        raise UsageError("MSB_PY_USAGE", "exporting a torch module needs input_shapes={'name': (None, 256), ...}")
    # A dynamic (None) dimension is traced at 2, not 1: the exporter may fold a size-1 dimension into a constant.
    examples = tuple(torch.randn(*[2 if d is None else int(d) for d in shape]) for shape in input_shapes.values())
    was_training = module.training
    module.eval()
    try:
        if platform in ("pytorch_libtorch", "pytorch"):
            target = tmp / "model.pt"
            with torch.no_grad():
                torch.jit.trace(module, examples).save(str(target))
            return target
        names = list(output_names) if output_names else None
        if names is None:
            with torch.no_grad():
                out = module(*examples)
            count = len(out) if isinstance(out, (tuple, list)) else 1
            names = ["output"] if count == 1 else [f"output_{i}" for i in range(count)]
        dynamic = {
            name: {i: f"{name}_dim{i}" for i, d in enumerate(shape) if d is None} for name, shape in input_shapes.items()
        }
        # Outputs: their first dimension follows the inputs' when that is dynamic (the batch dimension).
        if any(0 in axes for axes in dynamic.values()):
            for name in names:
                dynamic[name] = {0: "batch"}
            for name, axes in dynamic.items():
                if 0 in axes and name in input_shapes:
                    axes[0] = "batch"
        target = tmp / "model.onnx"
        kwargs: dict[str, Any] = {}
        if opset is not None:
            kwargs["opset_version"] = opset
        torch.onnx.export(
            module,
            examples,
            str(target),
            input_names=list(input_shapes),
            output_names=names,
            dynamic_axes={k: v for k, v in dynamic.items() if v},
            **kwargs,
        )
        return target
    finally:
        module.train(was_training)
