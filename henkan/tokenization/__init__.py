"""Tokenizers: the reference's tokenizer API over the Rust `tokenizers` library.

The modules depend on each other one way, each only on those listed before it:

- `batch_encoding`: what a call returns (`BatchEncoding`) and the padding/truncation enums;
- `chat`: chat templates (rendering, reading and writing them);
- `files`: reading and writing tokenizer folders (`from_pretrained` / `save_pretrained`);
- `base`: special tokens, encoding with padding and truncation, decoding, `pad` (`PreTrainedTokenizerFast`);
- `sentencepiece`: SentencePiece `.model` files as Rust tokenizers, and the pure-Python tokenizers' decoding;
- `families`: the model tokenizers (BERT, RoBERTa, T5, Llama, mBART, Marian, ...);
- `auto`: `AutoTokenizer` and the model type -> class table.
"""

from tokenizers import AddedToken

from .auto import TOKENIZER_MAPPING, AutoTokenizer, tokenizer_class_from_name
from .base import PreTrainedTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast
from .batch_encoding import BatchEncoding, CharSpan, PaddingStrategy, TensorType, TokenSpan, TruncationStrategy
from .families import *  # noqa: F401,F403 (the model classes; families.__all__ lists them)
from .families import __all__ as _FAMILY_CLASSES

__all__ = ["AddedToken", "AutoTokenizer", "BatchEncoding", "CharSpan", "PaddingStrategy", "PreTrainedTokenizer",
           "PreTrainedTokenizerBase", "PreTrainedTokenizerFast", "TOKENIZER_MAPPING", "TensorType", "TokenSpan",
           "TruncationStrategy", "tokenizer_class_from_name", *_FAMILY_CLASSES]
