"""SentencePiece models (`spiece.model`, `tokenizer.model`, `sentencepiece.bpe.model`, ...) as Rust tokenizers.

A `.model` file is a protobuf (`ModelProto`): the pieces with their scores and types, how text is normalized
(a precompiled character map, whitespace handling, the "dummy prefix" space) and how the model was trained
(Unigram or BPE, byte fallback, special ids). `read_model` parses it with the `sentencepiece` package's protobuf
module, which is imported only here, when a folder ships such a file and no tokenizer.json.

`build_backend` turns it into a `tokenizers.Tokenizer` that segments text as SentencePiece does:

- the normalizer applies the character map, treats "▁" in the input as a space, removes leading, trailing and
  repeated spaces when the model says so, and prepends the dummy-prefix space to every piece of text between
  added tokens (the reference's "legacy" behaviour) - or, with `dummy_prefix="first"`, only to the start of the
  text (its `legacy=False`);
- a Metaspace pre-tokenizer turns spaces into "▁" (and splits before them when no piece spans a "▁");
- the model is a Unigram model with the file's scores, or a BPE model whose merges are read off the pieces
  (SentencePiece stores no merges: a piece is formed by merging two pieces, the higher-scored piece first);
- unknown characters become the unknown piece, or bytes (`<0xE2>`...) when the model was trained with
  byte fallback.

`PieceDecoder` reproduces SentencePiece's own decoding of a list of pieces, which the reference's SentencePiece
tokenizers use to turn tokens back into text (see the families' `convert_tokens_to_string`).
"""

from __future__ import annotations

import os
from typing import Any

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers

SPIECE_UNDERLINE = "▁"
# piece types of a SentencePiece model
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6
UNIGRAM, BPE = 1, 2
INSTALL_HINT = "pip install sentencepiece protobuf"


def _protobuf_module():
    try:
        from sentencepiece import sentencepiece_model_pb2
    except ImportError as e:  # sentencepiece missing, or its protobuf module without the protobuf package
        raise ImportError(
            f"Reading a SentencePiece model (.model file) needs the sentencepiece and protobuf packages "
            f"({INSTALL_HINT}, or pip install 'henkan[sentencepiece]'). Or load a folder that has a "
            f"tokenizer.json. ({e})"
        ) from None
    return sentencepiece_model_pb2


def read_model(path: str | os.PathLike):
    """The `ModelProto` of a SentencePiece model file; a clear error when the file is not one."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        data = f.read()
    where = f"{path} ({len(data)} bytes)"
    if not data:
        raise ValueError(f"{where} is empty; it should be a SentencePiece model. Download the file again.")
    proto_module = _protobuf_module()
    from google.protobuf.message import DecodeError

    try:
        proto = proto_module.ModelProto.FromString(data)
    except (DecodeError, ValueError, RuntimeError) as e:
        raise ValueError(f"{where} is not a SentencePiece model (it does not parse: {e}). A truncated or "
                         "corrupted download, or another file under that name? Download it again.") from None
    if not proto.pieces or not proto.HasField("trainer_spec") or not proto.HasField("normalizer_spec") \
            or any(not p.piece for p in proto.pieces):
        raise ValueError(f"{where} is not a complete SentencePiece model (it lacks its pieces or settings). A "
                         "truncated download, or another file under that name? Download it again.")
    if proto.trainer_spec.model_type not in (UNIGRAM, BPE):
        kind = {3: "WORD", 4: "CHAR"}.get(proto.trainer_spec.model_type, str(proto.trainer_spec.model_type))
        raise ValueError(f"{where} is a SentencePiece {kind} model; henkan converts Unigram and BPE models only.")
    if proto.trainer_spec.treat_whitespace_as_suffix:
        raise ValueError(f"{where} treats whitespace as a suffix, which henkan does not convert.")
    return proto


def model_pieces(proto) -> list[tuple[str, float]]:
    """(piece, score) for each piece, in id order."""
    return [(p.piece, p.score) for p in proto.pieces]


def _splittable(vocab: list[tuple[str, float]]) -> bool:
    """Whether no piece holds a "▁" after its first character: then text can be cut before each "▁" and each part
    segmented alone with the same result (and the Rust tokenizer caches the parts)."""
    return not any(SPIECE_UNDERLINE in piece[1:] for piece, _ in vocab)


def bpe_merges(vocab: list[tuple[str, float]], mergeable: set[str]) -> list[tuple[str, str]]:
    """The merges of a SentencePiece BPE model: every way of forming a piece from two pieces, the pieces with the
    higher scores (SentencePiece merges the best-scored pair first) first."""
    ids = {piece: i for i, (piece, _) in enumerate(vocab)}
    found = []
    for index, (piece, score) in enumerate(vocab):
        if piece not in mergeable or len(piece) < 2:
            continue
        for cut in range(1, len(piece)):
            left, right = piece[:cut], piece[cut:]
            if left in ids and right in ids:
                found.append((-score, index, ids[left], left, right))
    found.sort()
    return [(left, right) for *_, left, right in found]


def whitespace_normalizers(proto, dummy_prefix: str) -> list:
    """SentencePiece's whitespace handling, as normalizers run on each piece of text between added tokens.

    Spaces are squeezed and trailing ones dropped (trailing "▁" too, which SentencePiece treats as an escaped
    space there); a leading space is kept where the dummy-prefix space goes, and becomes it (the Metaspace
    pre-tokenizer adds one only before text that does not start with a space), so the "▁" points at the space the
    text had, as in the reference's fast tokenizers. With `dummy_prefix="first"` or "never" (the reference's
    legacy=False), a "▁" in the text is a space, as that tokenizer makes it.
    """
    spec = proto.normalizer_spec
    steps = [] if dummy_prefix == "always" else [normalizers.Replace(SPIECE_UNDERLINE, " ")]
    if spec.remove_extra_whitespaces:
        steps.append(normalizers.Replace(Regex(" {2,}"), " "))
        if dummy_prefix == "always" and not spec.add_dummy_prefix:
            steps.append(normalizers.Replace(Regex(r"\A +"), ""))
        steps.append(normalizers.Replace(Regex(r"[ \u2581]+\z"), ""))
    elif spec.add_dummy_prefix and dummy_prefix == "always":
        # the prefix goes before leading spaces too (which the Metaspace pre-tokenizer would not prefix)
        steps.append(normalizers.Prepend(SPIECE_UNDERLINE))
    return steps


def prepends_in_normalizer(proto, dummy_prefix: str) -> bool:
    """Whether the dummy prefix is added by the normalizer (then added tokens must match unnormalized text, or the
    prefix would be added to them too)."""
    spec = proto.normalizer_spec
    return spec.add_dummy_prefix and dummy_prefix == "always" and not spec.remove_extra_whitespaces


def build_backend(proto, vocab: list[tuple[str, float]] | None = None, unk_id: int | None = None, *,
                  dummy_prefix: str = "always", extra_normalizers: tuple = (), byte_fallback: bool | None = None,
                  user_defined: bool = True) -> Tokenizer:
    """A Rust tokenizer segmenting text as the SentencePiece model `proto` does.

    `vocab` lists (piece, score) in the ids the tokenizer gives (default: the model's pieces; the fairseq-style
    families put their own special tokens first), `unk_id` is the unknown piece's id there. `dummy_prefix` is
    "always" (a "▁" before each piece of text between added tokens), "first" (only at the start of the text) or
    "never". `extra_normalizers` run before the model's own normalization (e.g. ALBERT's lowercasing).
    """
    vocab = model_pieces(proto) if vocab is None else vocab
    unk_id = proto.trainer_spec.unk_id if unk_id is None else unk_id
    byte_fallback = proto.trainer_spec.byte_fallback if byte_fallback is None else byte_fallback
    if proto.trainer_spec.model_type == UNIGRAM:
        model = models.Unigram(vocab, unk_id=unk_id, byte_fallback=byte_fallback)
    else:
        normal = {p.piece for p in proto.pieces if p.type == NORMAL}
        model = models.BPE({piece: i for i, (piece, _) in enumerate(vocab)}, bpe_merges(vocab, normal),
                           unk_token=vocab[unk_id][0], fuse_unk=True, byte_fallback=byte_fallback, dropout=None)
    backend = Tokenizer(model)
    steps = list(extra_normalizers)
    if proto.normalizer_spec.precompiled_charsmap:
        steps.append(normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap))
    steps += whitespace_normalizers(proto, dummy_prefix)
    backend.normalizer = normalizers.Sequence(steps)
    scheme = "never"
    if proto.normalizer_spec.add_dummy_prefix and not prepends_in_normalizer(proto, dummy_prefix):
        scheme = {"always": "always", "first": "first"}.get(dummy_prefix, "never")
    backend.pre_tokenizer = pre_tokenizers.Metaspace(replacement=SPIECE_UNDERLINE, prepend_scheme=scheme,
                                                     split=_splittable(vocab))
    parts = [decoders.Replace(SPIECE_UNDERLINE, " ")]
    if byte_fallback:
        parts += [decoders.ByteFallback()]
    parts += [decoders.Fuse()]
    if proto.normalizer_spec.add_dummy_prefix and dummy_prefix != "never":
        parts += [decoders.Strip(" ", 1, 0)]
    backend.decoder = decoders.Sequence(parts)
    if user_defined:  # user-defined pieces are matched in the text as they are, as SentencePiece does
        ids = {piece: i for i, (piece, _) in enumerate(vocab)}
        backend.add_tokens([AddedToken(p.piece, normalized=False, special=False) for p in proto.pieces
                            if p.type == USER_DEFINED and p.piece in ids])
    return backend


class PieceDecoder:
    """SentencePiece's decoding of a list of pieces (`SentencePieceProcessor.decode`), in Python.

    Normal and user-defined pieces give their text with "▁" as spaces, byte pieces their bytes (an invalid byte
    becomes U+FFFD), control pieces nothing, the unknown piece " ⁇ ", and a string that is no piece of the model
    itself. At the start, the spaces the encoding added are dropped: all of them when the model removes extra
    whitespace, else the first piece's leading one when it adds a dummy prefix.
    """

    def __init__(self, proto, add_dummy_prefix: bool | None = None):
        self.types = {p.piece: p.type for p in proto.pieces}
        self.unk_surface = proto.trainer_spec.unk_surface or " \u2047 "
        spec = proto.normalizer_spec
        dummy = spec.add_dummy_prefix if add_dummy_prefix is None else add_dummy_prefix
        self.strip = "all" if spec.remove_extra_whitespaces else "one" if dummy else None

    def __call__(self, pieces: list[str]) -> str:
        out: list[str] = []
        pending = bytearray()
        first, at_start = True, True
        for piece in pieces:
            kind = self.types.get(piece)
            if kind == BYTE:
                pending.append(int(piece[3:-1], 16))
                first = at_start = False
                continue
            if pending:
                out.append(_bytes_text(bytes(pending)))
                pending.clear()
            if kind == CONTROL:
                continue
            if kind == UNKNOWN:
                text = self.unk_surface
            elif kind in (NORMAL, USER_DEFINED, UNUSED):
                text = piece.replace(SPIECE_UNDERLINE, " ")
                if self.strip == "all" and at_start:
                    text = text.lstrip(" ")
                elif self.strip == "one" and first and text.startswith(" "):
                    text = text[1:]
            else:
                text = piece
            out.append(text)
            first = False
            at_start = at_start and not text
        if pending:
            out.append(_bytes_text(bytes(pending)))
        return "".join(out)


def _bytes_text(data: bytes) -> str:
    """UTF-8 bytes as text, each byte of an invalid sequence becoming U+FFFD (as SentencePiece does)."""
    out, i = [], 0
    while i < len(data):
        lead = data[i]
        size = 1 if lead < 0x80 else 2 if lead >> 5 == 0b110 else 3 if lead >> 4 == 0b1110 else \
            4 if lead >> 3 == 0b11110 else 0
        try:
            if not size:
                raise UnicodeDecodeError("utf-8", data, i, i + 1, "invalid start byte")
            out.append(data[i:i + size].decode("utf-8"))
            i += size
        except UnicodeDecodeError:
            out.append("\ufffd")
            i += 1
    return "".join(out)


def describe(proto) -> dict[str, Any]:
    """A few facts about a model, for error messages and tests."""
    spec = proto.trainer_spec
    return {"type": {UNIGRAM: "unigram", BPE: "bpe"}.get(spec.model_type), "pieces": len(proto.pieces),
            "byte_fallback": spec.byte_fallback, "unk_id": spec.unk_id}
