"""Label encoding of tokens: ``Vocabulary`` maps words to indices and back, per field.

``Vocabulary`` holds the course's normalised words (notebook 04); ``SubwordVocabulary`` the pieces of
two trained SentencePiece models (notebook 05), reading and writing plain text.
"""
from __future__ import annotations

import base64
from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple, Union

from .data import normalize

PAD = "<pad>"
SOS = "<start>"
EOS = "<end>"
UNK = "<unk>"
SPECIAL_TOKENS = (PAD, SOS, EOS, UNK)  # indices 0, 1, 2, 3 in every field
PAD_INDEX, SOS_INDEX, EOS_INDEX, UNK_INDEX = range(4)
FIELDS = ("source", "target")


class Vocabulary:
    """Token <-> index tables for the ``source`` (French) and ``target`` (English) fields.

    Build it from the **training** pairs only: words that appear only in validation or test data
    must be unknown to the model (``<unk>``), exactly as they would be for a new sentence.

    Parameters
    ----------
    pairs : iterable of `(source, target)` token lists or strings, required
        Training pairs. Strings are split on spaces.
    min_freq : `int`, optional (default = `1`)
        Words seen fewer times than this in training become ``<unk>``.
    """

    #: What :meth:`target_text` gives: normalised tokens joined by spaces (False) or plain text (True).
    writes_plain_text = False

    def __init__(self, pairs: Iterable[Tuple], min_freq: int = 1) -> None:
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counts = {field: Counter() for field in FIELDS}
        for pair in pairs:
            for field, sentence in zip(FIELDS, pair):
                counts[field].update(sentence.split() if isinstance(sentence, str) else sentence)
        self.min_freq = min_freq
        self._word2index: Dict[str, Dict[str, int]] = {}
        self._index2word: Dict[str, Dict[int, str]] = {}
        for field in FIELDS:
            # Most frequent first, ties alphabetically: the same corpus always gives the same indices.
            words = sorted((w for w, c in counts[field].items() if c >= min_freq and w not in SPECIAL_TOKENS),
                           key=lambda w: (-counts[field][w], w))
            self._set_words(field, list(SPECIAL_TOKENS) + words)

    def _set_words(self, field: str, words: Sequence[str]) -> None:
        self._word2index[field] = {word: index for index, word in enumerate(words)}
        self._index2word[field] = dict(enumerate(words))

    @property
    def word2index(self) -> Dict[str, Dict[str, int]]:
        return self._word2index

    @property
    def index2word(self) -> Dict[str, Dict[int, str]]:
        return self._index2word

    def get_size(self, field: str) -> int:
        """Number of tokens in ``field`` (``"source"`` or ``"target"``), special tokens included."""
        return len(self._word2index[field])

    def encode(self, tokens: Iterable[str], field: str) -> List[int]:
        """Indices of ``tokens``; unknown words map to ``<unk>``."""
        table = self._word2index[field]
        return [table.get(token, UNK_INDEX) for token in tokens]

    def decode(self, indices: Iterable[int], field: str) -> List[str]:
        """Tokens of ``indices`` (ints or a 1-d tensor)."""
        table = self._index2word[field]
        return [table[int(index)] for index in indices]

    def source_tokens(self, sentence: str) -> List[str]:
        """The source tokens of a French sentence as typed: its normalised words."""
        return normalize(sentence).split()

    def target_text(self, tokens: Sequence[str]) -> str:
        """The text of generated target tokens: normalised words joined by spaces."""
        return " ".join(tokens)

    def to_dict(self) -> dict:
        """A plain, JSON-able description (saved next to a trained model)."""
        return {"min_freq": self.min_freq,
                "words": {field: [self._index2word[field][i] for i in range(self.get_size(field))]
                          for field in FIELDS}}

    @classmethod
    def from_dict(cls, state: dict) -> "Vocabulary":
        if "sentencepiece" in state:
            return SubwordVocabulary.from_dict(state)
        vocab = cls([], min_freq=state.get("min_freq", 1))
        for field in FIELDS:
            words = state["words"][field]
            if tuple(words[:len(SPECIAL_TOKENS)]) != SPECIAL_TOKENS:
                raise ValueError(f"saved vocabulary does not start with {SPECIAL_TOKENS}")
            vocab._set_words(field, words)
        return vocab

    def __repr__(self) -> str:
        return (f"Vocabulary(source={self.get_size('source'):,} tokens, "
                f"target={self.get_size('target'):,} tokens, min_freq={self.min_freq})")


class SubwordVocabulary(Vocabulary):
    """The pieces of two SentencePiece models as the vocabulary of a translator.

    A French sentence as typed is cut into pieces by the ``source`` model (``"J'ai 19 ans."`` ->
    ``["▁J", "'", "ai", "▁19", "▁ans", "."]``: no normalisation, nothing lost), and generated English
    pieces are put back together by the ``target`` model into plain text. Indices: the course's
    special tokens first (``<pad> <start> <end> <unk>``), then every other piece in the model's order,
    so the vocabulary knows every piece the model can produce, used in training or not.

    Parameters
    ----------
    source, target : `sentencepiece.SentencePieceProcessor` or its serialized model (`bytes`)
        Trained with ``unk_piece="<unk>"`` and without ``<s>``/``</s>`` (``bos_id=-1, eos_id=-1``):
        the translator adds ``<start>``/``<end>`` itself.
    """

    writes_plain_text = True

    def __init__(self, source, target) -> None:
        import sentencepiece as spm

        self.min_freq = 1
        self.processors = {}
        self._word2index, self._index2word = {}, {}
        for field, model in zip(FIELDS, (source, target)):
            if isinstance(model, (bytes, bytearray)):
                model = spm.SentencePieceProcessor(model_proto=bytes(model))
            controls = [model.id_to_piece(i) for i in range(model.get_piece_size()) if model.is_control(i)]
            if controls:
                raise ValueError(f"the {field} SentencePiece model has control pieces {controls}: train it with "
                                 f"bos_id=-1, eos_id=-1 (the translator adds {SOS} and {EOS} itself)")
            pieces = [model.id_to_piece(i) for i in range(model.get_piece_size()) if not model.is_unknown(i)]
            clash = sorted(set(pieces) & set(SPECIAL_TOKENS))
            if clash:
                raise ValueError(f"the {field} SentencePiece model has pieces {clash} that are special tokens here")
            self.processors[field] = model
            self._set_words(field, list(SPECIAL_TOKENS) + pieces)

    @classmethod
    def train(cls, pairs: Sequence[Tuple[str, str]], model_type: str = "unigram", vocab_size: int = 2000,
              **options) -> "SubwordVocabulary":
        """One SentencePiece model per language, trained on ``(french, english)`` training pairs as typed.

        The course's settings: ``normalization_rule_name="identity"`` (the default NFKC would turn the
        U+202F of French typography into a space: decoding could not give the sentence back),
        ``byte_fallback=True`` (a character never seen is written as its UTF-8 bytes: nothing is
        unknown), ``character_coverage=1.0``, no ``<s>``/``</s>``, ``hard_vocab_limit=False`` (a small
        corpus may end with fewer pieces than ``vocab_size``). ``options`` override any of them.
        """
        import io

        import sentencepiece as spm

        settings = dict(model_type=model_type, vocab_size=vocab_size, normalization_rule_name="identity",
                        character_coverage=1.0, byte_fallback=True, bos_id=-1, eos_id=-1, unk_piece=UNK,
                        hard_vocab_limit=False, num_threads=1, minloglevel=2, **options)
        models = []
        for column in range(2):
            model = io.BytesIO()
            spm.SentencePieceTrainer.train(sentence_iterator=iter([pair[column] for pair in pairs]),
                                           model_writer=model, **settings)
            models.append(model.getvalue())
        return cls(*models)

    def tokens(self, text: str, field: str) -> List[str]:
        """The pieces of ``text`` in ``field`` (``"source"`` or ``"target"``)."""
        return self.processors[field].encode(text, out_type=str)

    def source_tokens(self, sentence: str) -> List[str]:
        return self.tokens(sentence, "source")

    def target_text(self, tokens: Sequence[str]) -> str:
        return self.processors["target"].decode([t for t in tokens if t not in (PAD, SOS, EOS)])

    def tokenize_pairs(self, pairs: Iterable[Tuple[str, str]]) -> List[Tuple[List[str], List[str]]]:
        """Plain ``(french, english)`` pairs -> pairs of piece lists, for ``NMTDataset`` and ``train``.

        Lists, not space-joined strings: a piece may hold a non-breaking space (French typography puts
        U+202F before ``?``), which ``str.split()`` would cut.
        """
        return [(self.tokens(source, "source"), self.tokens(target, "target")) for source, target in pairs]

    def to_dict(self) -> dict:
        return {**super().to_dict(), "sentencepiece": {
            field: base64.b64encode(self.processors[field].serialized_model_proto()).decode("ascii")
            for field in FIELDS}}

    @classmethod
    def from_dict(cls, state: dict) -> "SubwordVocabulary":
        models = state["sentencepiece"]
        vocab = cls(*(base64.b64decode(models[field]) for field in FIELDS))
        for field in FIELDS:
            if state["words"][field] != [vocab.index2word[field][i] for i in range(vocab.get_size(field))]:
                raise ValueError(f"saved {field} words do not match the saved SentencePiece model")
        return vocab

    def __repr__(self) -> str:
        return (f"SubwordVocabulary(source={self.get_size('source'):,} pieces, "
                f"target={self.get_size('target'):,} pieces)")
