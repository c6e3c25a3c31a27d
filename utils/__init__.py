"""Helpers of the course "Transformers from scratch in PyTorch".

The notebooks import everything from here: ``from utils import build_dataset, Vocabulary, ...``.
"""
from .data import (CORPUS_ENV, SETTINGS, CorpusNotFoundError, DatasetSplits, build_dataset, find_corpus,
                   normalize, read_pairs, split_pairs, tokenize)
from .vocab import EOS, PAD, SOS, UNK, Vocabulary
from .batching import CollateBatch, NMTDataset, make_loader
from .runtime import get_device, set_seed, smoke_mode
from .models import (MODELS, AttentionLSTMSeq2Seq, EncoderOutput, LSTMSeq2Seq, PositionalEncoding, Seq2Seq,
                     TransformerSeq2Seq, build_model, causal_mask, load_model, save_model)
from .training import History, TrainConfig, evaluate_loss, sequence_loss, shift_targets, train
from .decoding import beam_search, detokenize, greedy_decode, translate
from .evaluation import (attention_weights, evaluate_model, group_references, plot_attention, plot_loss_curves,
                         results_table, score_translations)

__all__ = [
    "CORPUS_ENV", "SETTINGS", "CorpusNotFoundError", "DatasetSplits", "build_dataset", "find_corpus",
    "normalize", "read_pairs", "split_pairs", "tokenize",
    "EOS", "PAD", "SOS", "UNK", "Vocabulary",
    "CollateBatch", "NMTDataset", "make_loader",
    "get_device", "set_seed", "smoke_mode",
    "MODELS", "AttentionLSTMSeq2Seq", "EncoderOutput", "LSTMSeq2Seq", "PositionalEncoding", "Seq2Seq",
    "TransformerSeq2Seq", "build_model", "causal_mask", "load_model", "save_model",
    "History", "TrainConfig", "evaluate_loss", "sequence_loss", "shift_targets", "train",
    "beam_search", "detokenize", "greedy_decode", "translate",
    "attention_weights", "evaluate_model", "group_references", "plot_attention", "plot_loss_curves",
    "results_table", "score_translations",
]

from .recipes import recipes  # noqa: E402  (the course's tested training settings)

__all__ += ["recipes"]
