"""Triton's ModelConfig protobuf messages, generated at build time from proto/model_config.proto (see setup.py)."""
