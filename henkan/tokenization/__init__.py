"""Tokenizers: the reference's tokenizer API over the Rust `tokenizers` library.

The modules depend on each other one way, each only on those listed before it:

- `batch_encoding`: what a call returns (`BatchEncoding`) and the padding/truncation enums;
- `chat`: chat templates (rendering, reading and writing them);
- `files`: reading and writing tokenizer folders (`from_pretrained` / `save_pretrained`);
- `base`: special tokens, encoding with padding and truncation, decoding, `pad` (`PreTrainedTokenizerFast`);
- `sentencepiece`: SentencePiece `.model` files as Rust tokenizers, and SentencePiece's decoding of pieces;
- `families`: the model tokenizers that are not SentencePiece-based (BERT, RoBERTa, BART, GPT-2, ByT5, ...);
- `sentencepiece_families`: those that are (T5, Llama, XLM-R, ALBERT, mBART, Marian, Pegasus, ...);
- `segmenters`: those whose words come from Python code (BERT-Japanese's MeCab, BERTweet's tweet normalizer,
  BioGPT's Moses tokenizer, CTRL's word BPE);
- `multimodal`: those of the image-text and speech families (CLIP, Wav2Vec2's CTC tokenizer, Whisper);
- `auto`: `AutoTokenizer` and the model type -> class table;
- `wordpiece`: BERT's two steps in plain Python (`BasicTokenizer`, `WordpieceTokenizer`), for code that uses them.
"""

from tokenizers import AddedToken

from .auto import TOKENIZER_MAPPING, AutoTokenizer, tokenizer_class_from_name
from .base import PreTrainedTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast
from .batch_encoding import BatchEncoding, CharSpan, PaddingStrategy, TensorType, TokenSpan, TruncationStrategy
from .families import *  # noqa: F401,F403 (the model classes; the modules' __all__ list them)
from .families import __all__ as _FAMILY_CLASSES
from .multimodal import *  # noqa: F401,F403
from .multimodal import __all__ as _MULTIMODAL_CLASSES
from .sentencepiece_families import *  # noqa: F401,F403
from .sentencepiece_families import __all__ as _SENTENCEPIECE_CLASSES
from .segmenters import *  # noqa: F401,F403
from .segmenters import __all__ as _SEGMENTER_CLASSES
from .wordpiece import BasicTokenizer, WordpieceTokenizer

__all__ = ["AddedToken", "AutoTokenizer", "BasicTokenizer", "BatchEncoding", "CharSpan", "PaddingStrategy",
           "PreTrainedTokenizer", "PreTrainedTokenizerBase", "PreTrainedTokenizerFast", "TOKENIZER_MAPPING",
           "TensorType", "TokenSpan", "TruncationStrategy", "WordpieceTokenizer", "tokenizer_class_from_name",
           *_FAMILY_CLASSES, *_SENTENCEPIECE_CLASSES, *_SEGMENTER_CLASSES, *_MULTIMODAL_CLASSES]
