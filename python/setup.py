"""Build step: generate msb/_proto/model_config_pb2.py from the project's proto/model_config.proto with protoc.

The message is the one msb itself parses configs against, so every field Triton knows is there. protoc comes from
Debian's protobuf-compiler (.ci/system-deps); MSB_PROTOC names another.
"""

import os
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
PROTO_DIR = HERE.parent / "proto"


class BuildWithProto(build_py):
    def run(self) -> None:
        super().run()
        protoc = os.environ.get("MSB_PROTOC") or shutil.which("protoc")
        if not protoc:
            raise SystemExit("msb: protoc is needed to build the package (apt install protobuf-compiler)")
        out = Path(self.build_lib) / "msb" / "_proto"
        out.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [protoc, f"--proto_path={PROTO_DIR}", f"--python_out={out}", str(PROTO_DIR / "model_config.proto")],
            check=True,
        )


setup(cmdclass={"build_py": BuildWithProto})
