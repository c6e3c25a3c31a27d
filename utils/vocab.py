"""Label encoding of tokens: ``Vocabulary`` maps words to indices and back, per field."""
from __future__ import annotations

from collections import Counter
from typing import Dict, Iterable, List, Sequence, Tuple

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

    def to_dict(self) -> dict:
        """A plain, JSON-able description (saved next to a trained model)."""
        return {"min_freq": self.min_freq,
                "words": {field: [self._index2word[field][i] for i in range(self.get_size(field))]
                          for field in FIELDS}}

    @classmethod
    def from_dict(cls, state: dict) -> "Vocabulary":
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
