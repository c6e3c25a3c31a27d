"""Helpers of the course "Transformers from scratch in PyTorch".

The notebooks import everything from here: ``from utils import build_dataset, Vocabulary, ...``.
"""
from .data import (CORPUS_ENV, SETTINGS, CorpusNotFoundError, DatasetSplits, build_dataset, find_corpus,
                   normalize, read_pairs, split_pairs, tokenize)
from .vocab import EOS, PAD, SOS, UNK, Vocabulary
from .batching import CollateBatch, NMTDataset, make_loader
from .runtime import get_device, set_seed, smoke_mode

__all__ = [
    "CORPUS_ENV", "SETTINGS", "CorpusNotFoundError", "DatasetSplits", "build_dataset", "find_corpus",
    "normalize", "read_pairs", "split_pairs", "tokenize",
    "EOS", "PAD", "SOS", "UNK", "Vocabulary",
    "CollateBatch", "NMTDataset", "make_loader",
    "get_device", "set_seed", "smoke_mode",
]
