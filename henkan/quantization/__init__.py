"""Quantized loading: configs users pass, the low-bit layers, and the loader that quantizes as weights stream in."""

from .config import (AwqConfig, BitsAndBytesConfig, GPTQConfig, HenkanQuantConfig, QuantizationConfigMixin, Scheme,
                     TorchAoConfig, resolve)
from .layers import QuantEmbedding, QuantLinear
from .loader import Quantizer

__all__ = ["AwqConfig", "BitsAndBytesConfig", "GPTQConfig", "HenkanQuantConfig", "QuantEmbedding", "QuantLinear",
           "QuantizationConfigMixin", "Quantizer", "Scheme", "TorchAoConfig", "resolve"]
