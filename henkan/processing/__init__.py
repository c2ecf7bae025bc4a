"""Preprocessing: image processors, feature extractors (audio), the processors that pair them with a tokenizer,
and their Auto classes. Public names are reached through `henkan` (resolved lazily)."""
