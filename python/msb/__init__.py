"""msb from Python: export models from a training script straight into a Triton model repository.

Every store operation is the ``msb`` command's (through its ``--json`` contract, docs/cli-json.md); this package
adds the Python side: Triton's ModelConfig message, and turning torch modules and ONNX protos into model files.
"""

from ._proto.model_config_pb2 import DataType, ModelConfig, ModelInput, ModelInstanceGroup, ModelOutput
from .errors import (
    CommandNotFoundError,
    ConfigError,
    InspectError,
    JobError,
    ModelExistsError,
    MsbError,
    NotFoundError,
    StoreError,
    UsageError,
)
from .repository import ExportedVersion, Model, ModelRepository, PlatformName, Problem

__all__ = [
    "CommandNotFoundError",
    "ConfigError",
    "DataType",
    "ExportedVersion",
    "InspectError",
    "JobError",
    "Model",
    "ModelConfig",
    "ModelExistsError",
    "ModelInput",
    "ModelInstanceGroup",
    "ModelOutput",
    "ModelRepository",
    "MsbError",
    "NotFoundError",
    "PlatformName",
    "Problem",
    "StoreError",
    "UsageError",
]
