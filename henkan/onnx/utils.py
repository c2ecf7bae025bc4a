"""The opsets henkan exports with, and the size of exported weights (whether they need ONNX's external data
format)."""

from __future__ import annotations

import ctypes
import enum

DEFAULT_ONNX_OPSET = 17  # (a fused LayerNormalization)
MIN_ONNX_OPSET = 14  # (scaled_dot_product_attention)
EXTERNAL_DATA_FORMAT_SIZE_LIMIT = 2 * 1024 ** 3  # a protobuf message's limit: larger weights go in a side file


class ParameterFormat(enum.Enum):
    """The storage type of exported weights; `size` is its bytes per weight."""

    Float = ctypes.c_float

    @property
    def size(self) -> int:
        return ctypes.sizeof(self.value)


def compute_serialized_parameters_size(num_parameters: int, dtype: ParameterFormat) -> int:
    """Bytes that `num_parameters` weights of `dtype` take in an exported file."""
    return num_parameters * dtype.size
