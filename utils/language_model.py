"""Notebook 07's framework: characters as tokens, a training loop for next-token prediction, held-out
nats per character, a unigram baseline, timing of generation.

Nothing here is the answer of a TODO: the batching with shifted labels, the model's forward and loss,
the sampling filters, ``generate`` and the key/value cache are written in notebook 07; the loop below
runs the functions it is given (``batch_fn``), and the model is whatever the notebook built.

The sentences are the English side of the corpus, as in notebook 06 (:func:`utils.pretraining.english_corpus`:
every distinct normalised English sentence, the translation test split kept out).
"""
from __future__ import annotations

import math
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from tqdm.auto import tqdm

from .pretraining import IGNORE_INDEX, length_batches
from .runtime import get_device

PAD_CHAR = "<pad>"
BOUNDARY = "\n"          # starts and ends every sentence
UNKNOWN_CHAR = "<unk>"


class CharacterVocabulary:
    """Characters as tokens: id 0 is padding, id 1 the sentence boundary ``"\\n"``, id 2 an unknown
    character, then every character of the training sentences, the most frequent first.

    ``encode(text)`` gives the ids of the characters only (no boundary: the batching adds it);
    ``decode(ids)`` gives the text back (padding dropped, the boundary as a line break).
    """

    def __init__(self, sentences: Sequence[str]) -> None:
        counts = Counter(char for sentence in sentences for char in sentence)
        counts.pop(BOUNDARY, None)
        self.tokens: List[str] = [PAD_CHAR, BOUNDARY, UNKNOWN_CHAR] + [c for c, _ in counts.most_common()]
        self.index = {token: i for i, token in enumerate(self.tokens)}
        self.pad_id, self.boundary_id, self.unknown_id = 0, 1, 2

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, text: str) -> List[int]:
        return [self.index.get(char, self.unknown_id) for char in text]

    def decode(self, ids) -> str:
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return "".join("" if i == self.pad_id else ("\u2047" if i == self.unknown_id else self.tokens[i]) for i in ids)

    def __repr__(self) -> str:
        return f"CharacterVocabulary({len(self)} ids: <pad>, \\n, <unk> and {len(self) - 3} characters)"


# ----------------------------------------------------------------------------------------------
# Training


@dataclass
class LanguageModelHistory:
    """What :func:`train_language_model` did: the loss of every step, held-out loss now and then, the time."""

    step_loss: List[float] = field(default_factory=list)
    eval_step: List[int] = field(default_factory=list)
    eval_minutes: List[float] = field(default_factory=list)
    eval_loss: List[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0          # training steps only (evaluations not counted)
    tokens: int = 0               # labelled positions trained on

    def to_dict(self) -> Dict:
        return dict(self.__dict__)


def _learning_rate(lr: float, step: int, warmup_steps: int, progress: float) -> float:
    """Linear warm-up, then cosine decay to 10% over the budget (``progress`` 0..1)."""
    warm = min(1.0, (step + 1) / warmup_steps) if warmup_steps else 1.0
    return lr * warm * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))


def train_language_model(model, sequences: Sequence[Sequence[int]], *, batch_fn: Callable, steps: int,
                         minutes: Optional[float] = None, batch_size: int = 64, lr: float = 2e-3,
                         warmup_steps: int = 200, weight_decay: float = 0.1, clip: float = 1.0, seed: int = 0,
                         evaluate: Optional[Callable[[], float]] = None, eval_every: int = 500, device=None,
                         progress: bool = True, desc: str = "training") -> LanguageModelHistory:
    """Train ``model`` for next-token prediction: ``steps`` steps or ``minutes`` of training, whichever ends first.

    Every step draws a batch of sentences of similar lengths, ``batch_fn(list of id lists) -> (inputs,
    labels)`` (your batching) turns it into tensors, and ``model(inputs, labels) -> (logits, loss)`` (your
    forward) gives the loss. AdamW (weight decay on matrices only), warm-up then cosine decay over the
    budget -- the decay follows whichever of steps and minutes is further along, so a slower machine gets
    fewer steps, not a worse schedule -- and gradient clipping. ``evaluate()`` runs every ``eval_every``
    steps and at the end; its time is not counted in ``seconds``.
    """
    device = torch.device(device) if device is not None else get_device()
    model.to(device).train()
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW([{"params": decay, "weight_decay": weight_decay},
                                   {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=(0.9, 0.98))
    history = LanguageModelHistory()
    budget = minutes * 60 if minutes is not None else math.inf
    epoch, batches = 0, []
    bar = tqdm(total=steps, desc=desc, unit="step", disable=not progress)

    def checkpoint():
        if evaluate is not None:
            history.eval_step.append(history.steps)
            history.eval_minutes.append(history.seconds / 60)
            history.eval_loss.append(evaluate())
            model.train()
            bar.set_postfix(loss=f"{history.step_loss[-1]:.3f}" if history.step_loss else "-",
                            held_out=f"{history.eval_loss[-1]:.3f}")

    while history.steps < steps and history.seconds < budget:
        if not batches:
            batches = length_batches(sequences, batch_size, seed=seed + epoch)
            epoch += 1
        indices = batches.pop()
        started = time.perf_counter()
        inputs, labels = batch_fn([sequences[i] for i in indices])
        inputs, labels = inputs.to(device), labels.to(device)
        progress_share = max(history.steps / steps, history.seconds / budget)
        for group in optimizer.param_groups:
            group["lr"] = _learning_rate(lr, history.steps, warmup_steps, progress_share)
        _, loss = model(inputs, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        history.seconds += time.perf_counter() - started
        history.step_loss.append(loss.item())
        history.steps += 1
        history.tokens += int((labels != IGNORE_INDEX).sum())
        bar.update(1)
        if history.steps % eval_every == 0:
            checkpoint()
    if not history.eval_step or history.eval_step[-1] != history.steps:
        checkpoint()
    bar.close()
    model.eval()
    return history


# ----------------------------------------------------------------------------------------------
# Measuring


def sentence_log_likelihoods(model, sequences: Sequence[Sequence[int]], batch_fn: Callable, batch_size: int = 256,
                             device=None) -> List[float]:
    """The log-likelihood (nats) of every sequence -- the sum over its labelled positions -- in the given order.

    ``batch_fn`` is the one training used (inputs and labels shifted by one, -100 at padding);
    ``model(inputs) -> (logits, _)``. Eval mode, no gradients; the model's mode is restored.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    result: List[float] = []
    try:
        with torch.no_grad():
            for start in range(0, len(sequences), batch_size):
                inputs, labels = batch_fn(list(sequences[start:start + batch_size]))
                inputs, labels = inputs.to(device), labels.to(device)
                logits, _ = model(inputs)
                log_probs = torch.log_softmax(logits.float(), dim=-1)      # ~ (batch, len, vocab)
                real = labels != IGNORE_INDEX
                picked = log_probs.gather(-1, labels.clamp(min=0)[..., None])[..., 0] * real
                result.extend(picked.sum(dim=1).tolist())
    finally:
        model.train(was_training)
    return result


def held_out_loss(model, sequences: Sequence[Sequence[int]], batch_fn: Callable, batch_size: int = 256,
                  characters: Optional[Sequence[int]] = None, device=None) -> float:
    """Mean negative log-likelihood per labelled position (nats per token), or per character when
    ``characters`` gives the number of characters each sequence stands for (its end included)."""
    nll = -sum(sentence_log_likelihoods(model, sequences, batch_fn, batch_size, device))
    if characters is not None:
        return nll / sum(characters)
    inputs_labels = [batch_fn(list(sequences[i:i + batch_size])) for i in range(0, len(sequences), batch_size)]
    return nll / sum(int((labels != IGNORE_INDEX).sum()) for _, labels in inputs_labels)


def unigram_loss(train_sequences: Sequence[Sequence[int]], held_out: Sequence[Sequence[int]], end_id: int,
                 vocab_size: int) -> float:
    """Nats per token of the unigram model -- every token with its training frequency (add-one smoothed),
    whatever came before -- on the held-out sequences, each followed by ``end_id`` as in training."""
    counts = Counter(token for sequence in train_sequences for token in sequence)
    counts[end_id] += len(train_sequences)
    total = sum(counts.values()) + vocab_size
    tokens = [token for sequence in held_out for token in list(sequence) + [end_id]]
    return -sum(math.log((counts[token] + 1) / total) for token in tokens) / len(tokens)


def shuffle_words(sentence: str, rng: random.Random) -> str:
    """The same words in a random order (another order than the sentence's, when there is one)."""
    words = sentence.split()
    if len(set(words)) < 2:
        return sentence
    shuffled = words[:]
    while shuffled == words:
        rng.shuffle(shuffled)
    return " ".join(shuffled)


def time_generation(generate_fn: Callable[[], torch.Tensor], repeats: int = 3) -> float:
    """The fastest of ``repeats`` calls of ``generate_fn()``, in seconds (after one warm-up call)."""
    generate_fn()
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        generate_fn()
        best = min(best, time.perf_counter() - started)
    return best


def first_sentence(text: str) -> str:
    """The text up to its first sentence boundary (what a sample of one sentence is)."""
    return text.lstrip(BOUNDARY).split(BOUNDARY, 1)[0]


__all__ = ["BOUNDARY", "CharacterVocabulary", "LanguageModelHistory", "first_sentence", "held_out_loss",
           "sentence_log_likelihoods", "shuffle_words", "time_generation", "train_language_model", "unigram_loss"]
