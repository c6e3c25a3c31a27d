"""From sentence pairs to padded batches: ``NMTDataset``, ``CollateBatch``, ``make_loader``."""
from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset

from .data import PathLike, read_pairs
from .vocab import EOS, PAD_INDEX, SOS, Vocabulary


def _tokens(sentence: Union[str, Sequence[str]]) -> List[str]:
    """A normalised sentence split on spaces, or a list of tokens (subword pieces) as it is."""
    return sentence.split() if isinstance(sentence, str) else list(sentence)


class NMTDataset(Dataset):
    """Sentence pairs as token lists: ``source = x1 .. xn <end>``, ``target = <start> y1 .. ym <end>``.

    Parameters
    ----------
    pairs : path or list of `(source, target)` strings, required
        A split written by ``build_dataset`` (``source<TAB>target`` lines) or the pairs themselves;
        a side may also be a list of tokens (``SubwordVocabulary.tokenize_pairs``).
    """

    def __init__(self, pairs: Union[PathLike, Sequence[Tuple[str, str]]]) -> None:
        if not isinstance(pairs, (list, tuple)):
            pairs = read_pairs(pairs)
        self.pairs = list(pairs)
        self._samples = [{"source": _tokens(source) + [EOS], "target": [SOS] + _tokens(target) + [EOS]}
                         for source, target in self.pairs]
        self._vocab: Optional[Vocabulary] = None

    def index_with(self, vocab: Vocabulary) -> "NMTDataset":
        """From now on, items are lists of indices of ``vocab`` (unknown words -> ``<unk>``)."""
        self._vocab = vocab
        return self

    def __getitem__(self, idx: int) -> Dict[str, List]:
        sample = self._samples[idx]
        if self._vocab is None:
            return dict(sample)
        return {field: self._vocab.encode(tokens, field) for field, tokens in sample.items()}

    def __len__(self) -> int:
        return len(self._samples)


class CollateBatch:
    """``collate_fn`` for a DataLoader: pads a list of indexed samples into one batch.

    Attributes
    ----------
    source_tokens : `torch.LongTensor` ~ (batch size, source length)
    target_tokens : `torch.LongTensor` ~ (batch size, target length), ``<start> y1 .. ym <end>``
    source_mask, target_mask : `torch.BoolTensor`, same shapes, True = real token, False = padding
    """

    def __init__(self, instances: List[Dict[str, List[int]]]) -> None:
        batch = self._form_batch(instances)
        self.source_tokens = pad_sequence([torch.tensor(x, dtype=torch.long) for x in batch["source"]],
                                          batch_first=True, padding_value=PAD_INDEX)
        self.target_tokens = pad_sequence([torch.tensor(x, dtype=torch.long) for x in batch["target"]],
                                          batch_first=True, padding_value=PAD_INDEX)
        self.source_mask = self.source_tokens.ne(PAD_INDEX)
        self.target_mask = self.target_tokens.ne(PAD_INDEX)

    def pin_memory(self) -> "CollateBatch":
        """Pin memory for fast host-to-GPU copies (called by DataLoader(pin_memory=True))."""
        for name, tensor in vars(self).items():
            setattr(self, name, tensor.pin_memory())
        return self

    def to_device(self, device: Union[str, torch.device], **extra_params) -> Dict[str, torch.Tensor]:
        """Send the batch to ``device`` and return it as a dict of tensors."""
        return {name: tensor.to(device=device, **extra_params) for name, tensor in vars(self).items()}

    def __len__(self) -> int:
        return self.source_tokens.size(0)

    @staticmethod
    def _form_batch(instances: List[Dict[str, List[int]]]) -> Dict[str, List[List[int]]]:
        """List of dicts -> dict of lists."""
        fields = defaultdict(list)
        for instance in instances:
            for field, indices in instance.items():
                fields[field].append(indices)
        return fields


def make_loader(dataset: NMTDataset, batch_size: int = 64, shuffle: bool = False,
                seed: Optional[int] = None) -> DataLoader:
    """A DataLoader of ``CollateBatch`` es (memory pinned when CUDA is available)."""
    generator = torch.Generator().manual_seed(seed) if seed is not None else None
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, collate_fn=CollateBatch,
                      pin_memory=torch.cuda.is_available(), generator=generator)
