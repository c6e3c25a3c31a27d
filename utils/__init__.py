"""Helpers of the course "Transformers from scratch in PyTorch".

The notebooks import everything from here: ``from utils import build_dataset, Vocabulary, ...``.
Nothing here is the answer of a TODO: what you write in a notebook (attention, positions, the
Transformer, the shift, the loss, greedy decoding) exists only in your notebook, and the later
notebooks load it from there (``utils.notebooks``).
"""
from .data import (CORPUS_ENV, SETTINGS, CorpusNotFoundError, DatasetSplits, build_dataset, find_corpus,
                   normalize, word_count, read_pairs, split_pairs, tokenize)
from .vocab import EOS, PAD, SOS, UNK, SubwordVocabulary, Vocabulary
from .batching import CollateBatch, NMTDataset, make_loader
from .runtime import get_device, set_seed, smoke_mode
from .models import (MODELS, AttentionLSTMSeq2Seq, EncoderOutput, LSTMSeq2Seq, Seq2Seq, TransformerTranslator,
                     build_model, load_model, register_model, save_model, select_state)
from .training import History, TrainConfig, evaluate_loss, train
from .decoding import beam_search, default_max_len, detokenize, translate
from .evaluation import (attention_weights, compare_systems, evaluate_model, significance_table, group_references, plot_attention, plot_loss_curves,
                         results_table, score_translations)

__all__ = [
    "CORPUS_ENV", "SETTINGS", "CorpusNotFoundError", "DatasetSplits", "build_dataset", "find_corpus",
    "normalize", "word_count", "read_pairs", "split_pairs", "tokenize",
    "EOS", "PAD", "SOS", "UNK", "SubwordVocabulary", "Vocabulary",
    "CollateBatch", "NMTDataset", "make_loader",
    "get_device", "set_seed", "smoke_mode",
    "MODELS", "AttentionLSTMSeq2Seq", "EncoderOutput", "LSTMSeq2Seq", "Seq2Seq", "TransformerTranslator",
    "build_model", "load_model", "register_model", "save_model", "select_state",
    "History", "TrainConfig", "evaluate_loss", "train",
    "beam_search", "default_max_len", "detokenize", "translate",
    "attention_weights", "compare_systems", "evaluate_model", "significance_table", "group_references", "plot_attention", "plot_loss_curves",
    "results_table", "score_translations",
]

from .recipes import recipes  # noqa: E402  (the course's tested training settings)

__all__ += ["recipes"]
