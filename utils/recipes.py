"""The course's tested training recipes: one place for notebook 03 and ``bench/`` alike.

``recipes()`` gives, per model name, the constructor arguments (``"model"``) and the keyword
arguments of :func:`utils.training.train` (``"train"``). Full mode is what a student runs on a
2-core laptop CPU (all three models in about 25 minutes); smoke mode (CI, autograding) trains
tiny models for one epoch, exercising every code path in seconds.
"""
from __future__ import annotations

import copy
from typing import Dict

FULL = {
    "lstm": {
        "model": dict(embedding_dim=256, hidden_size=512, dropout=0.2),
        "train": dict(epochs=None, minutes=5, batch_size=64, lr=2e-3, warmup_steps=200, label_smoothing=0.0),
    },
    "lstm_attention": {
        "model": dict(embedding_dim=256, hidden_size=512, dropout=0.2),
        "train": dict(epochs=None, minutes=8, batch_size=64, lr=2e-3, warmup_steps=200, label_smoothing=0.1),
    },
    "transformer": {
        "model": dict(d_model=256, num_heads=4, num_encoder_layers=3, num_decoder_layers=3,
                      dim_feedforward=512, dropout=0.1),
        # Measured: 10 epochs = 705 s on one busy core, test BLEU 55.6 greedy / 56.6 beam-4.
        # Epochs, not minutes: a wall-clock budget on a busy machine would cut training short.
        "train": dict(epochs=10, minutes=None, batch_size=64, lr=1e-3, warmup_steps=300, label_smoothing=0.1),
    },
}

SMOKE = {
    "lstm": {"model": dict(embedding_dim=16, hidden_size=16), "train": dict(epochs=1, minutes=None)},
    "lstm_attention": {"model": dict(embedding_dim=16, hidden_size=16), "train": dict(epochs=1, minutes=None)},
    "transformer": {"model": dict(d_model=16, num_heads=2, num_encoder_layers=1, num_decoder_layers=1,
                                  dim_feedforward=32),
                    "train": dict(epochs=1, minutes=None)},
}


def recipes(smoke: bool = False) -> Dict[str, Dict[str, dict]]:
    """``{model name: {"model": constructor kwargs, "train": train() kwargs}}`` (a fresh copy)."""
    return copy.deepcopy(SMOKE if smoke else FULL)
