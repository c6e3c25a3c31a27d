"""Turning a trained model into translations: beam search and ``translate``.

Decoding works on whole batches and stops at ``<end>``::

    beam_search(model, source_tokens, source_mask, beam_size=4)  # list of token-index lists
    translate(model, "Je suis très fatigué ce soir.")            # "i ' m very tired tonight ."
    translate(model, ["Il est grand.", "Elle lit."], beam_size=4) # a list in, a list out
    translate(model, sentences, decode_fn=greedy_decode)         # with your greedy_decode (notebook 04)

``beam_search`` with ``beam_size=1`` is greedy decoding (the most likely word at every step); the
greedy loop itself is a TODO of notebook 04, and ``translate`` / ``evaluate_model`` use yours when
you pass it as ``decode_fn``. Both generate one word at a time with ``model.decode_step``, which
remembers what it computed for the prefix (the LSTM's state, the Transformer's self-attention inputs).
"""
from __future__ import annotations

import re
from typing import Callable, List, Optional, Sequence, Union

import torch
from torch.nn.utils.rnn import pad_sequence

from .data import detokenize as plain_text
from .models import select_state
from .vocab import EOS, EOS_INDEX, PAD_INDEX, SOS_INDEX

#: ``decode_fn(model, source_tokens, source_mask, max_len=None) -> List[List[int]]``
DecodeFn = Callable[..., List[List[int]]]

# Never valid as output: padding and <start>.
_FORBIDDEN = (PAD_INDEX, SOS_INDEX)


def default_max_len(source_mask: torch.Tensor) -> int:
    """Longest translation allowed for a batch: twice the longest source plus 10 tokens."""
    return int(source_mask.sum(dim=1).max()) * 2 + 10


def _strip(indices: Sequence[int]) -> List[int]:
    """Tokens up to (not including) the first ``<end>``, padding removed."""
    out = []
    for index in indices:
        if index == EOS_INDEX:
            break
        if index != PAD_INDEX:
            out.append(index)
    return out


class _EvalMode:
    """``with _EvalMode(model):`` eval mode and no autograd inside, the previous mode restored after."""

    def __init__(self, model) -> None:
        self.model, self.was_training = model, model.training
        self.no_grad = torch.inference_mode()

    def __enter__(self):
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc):
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def beam_search(model, source_tokens: torch.Tensor, source_mask: torch.Tensor, beam_size: int = 4,
                max_len: Optional[int] = None, length_penalty: float = 0.6) -> List[List[int]]:
    """Translate a batch keeping the ``beam_size`` most likely prefixes of every sentence.

    At each step every live prefix is extended by every word; the ``beam_size`` best extensions
    (by total log-probability) survive. A prefix that produced ``<end>`` is finished: it keeps its
    score and competes with the live ones. The search stops when all beams are finished (or after
    ``max_len`` steps); the winner is the beam with the best length-normalised score
    ``log p / ((5 + length) / 6) ** length_penalty`` (Wu et al., 2016), as raw sums favour short outputs.
    ``beam_size=1`` is greedy decoding: one beam, extended by its most likely word at every step
    (``<pad>`` and ``<start>`` are never chosen, by either).

    Returns
    -------
    For each sentence, the indices of the target words, without ``<start>`` and ``<end>``.
    """
    if beam_size < 1:
        raise ValueError(f"beam_size must be >= 1, got {beam_size}")
    max_len = max_len or default_max_len(source_mask)
    batch, device = source_tokens.size(0), source_tokens.device
    with _EvalMode(model):
        # Every sentence repeated beam_size times: rows b*K .. b*K+K-1 are the beams of sentence b.
        encoder_output = model.encode(source_tokens, source_mask).index_select(
            torch.arange(batch, device=device).repeat_interleave(beam_size))
        tokens = torch.full((batch * beam_size, 1), SOS_INDEX, dtype=torch.long, device=device)
        scores = torch.zeros(batch, beam_size, device=device)  # total log-probability of each beam
        scores[:, 1:] = float("-inf")  # at first all beams are the same prefix: keep one
        finished = torch.zeros(batch * beam_size, dtype=torch.bool, device=device)
        state = None
        for _ in range(max_len):
            # log_probs ~ (batch * beam, target vocab)
            logits, state = model.decode_step(tokens[:, -1], encoder_output, state)
            log_probs = logits.float().log_softmax(dim=-1)
            log_probs[:, _FORBIDDEN] = float("-inf")
            # A finished beam may only be extended by padding, at no cost: its score stays.
            log_probs[finished] = float("-inf")
            log_probs[finished, PAD_INDEX] = 0.0
            vocabulary_size = log_probs.size(-1)
            candidates = (scores.view(-1, 1) + log_probs).view(batch, beam_size * vocabulary_size)
            scores, best = candidates.topk(beam_size, dim=1)  # both ~ (batch, beam)
            parent = best // vocabulary_size  # which beam each survivor extends
            next_token = (best % vocabulary_size).view(-1)  # (batch * beam,)
            rows = (torch.arange(batch, device=device).unsqueeze(1) * beam_size + parent).view(-1)
            tokens = torch.cat([tokens[rows], next_token.unsqueeze(1)], dim=1)
            state = select_state(state, rows)
            finished = finished[rows] | next_token.eq(EOS_INDEX)
            if finished.all():
                break
        # Length = generated tokens, <end> included.
        lengths = tokens[:, 1:].ne(PAD_INDEX).sum(dim=1).view(batch, beam_size).float()
        normalised = scores / ((5 + lengths) / 6) ** length_penalty
        winner = normalised.argmax(dim=1)  # (batch,)
        best_rows = torch.arange(batch, device=device) * beam_size + winner
    return [_strip(row) for row in tokens[best_rows, 1:].tolist()]


def encode_sentences(model, sentences: Sequence[str]) -> List[List[int]]:
    """Raw French text -> source indices ``x1 .. xn <end>`` (the vocabulary's tokens: normalised words,
    unknown ones -> ``<unk>``, or subword pieces)."""
    return [model.vocab.encode(model.vocab.source_tokens(sentence) + [EOS], "source") for sentence in sentences]


def translate(model, sentences: Union[str, Sequence[str]], beam_size: int = 1, max_len: Optional[int] = None,
              batch_size: int = 256, length_penalty: float = 0.6, pretty: bool = False,
              decode_fn: Optional[DecodeFn] = None) -> Union[str, List[str]]:
    """Translate French text as a person types it; a string in gives a string out, a list a list.

    The text goes through ``utils.normalize`` (lower case, accents dropped, punctuation split
    off), so ``"Je suis très fatigué ce soir."`` and ``"je suis tres fatigue ce soir ."`` are the
    same input; words the model never saw in training become ``<unk>``. The output is normalised
    English like the training data (``"i ' m very tired tonight ."``), or, with ``pretty=True``, made
    readable by :func:`detokenize` (``"I'm very tired tonight."``). A model with a
    ``SubwordVocabulary`` (notebook 05) reads the text as it is and writes plain text.

    Parameters
    ----------
    beam_size : `int`, optional (default = `1`)
        1: greedy decoding; more: :func:`beam_search` with that many beams.
    batch_size : `int`, optional (default = `256`)
        Sentences decoded at once.
    decode_fn : callable, optional (default = None)
        ``decode_fn(model, source_tokens, source_mask, max_len=None) -> list of token-index lists``,
        e.g. your ``greedy_decode`` of notebook 04: used (in eval mode, without gradients) when
        ``beam_size == 1``. None: :func:`beam_search` with one beam, which is greedy decoding too.
    """
    single = isinstance(sentences, str)
    sentences = [sentences] if single else list(sentences)
    encoded = encode_sentences(model, sentences)
    device = model.device
    # Similar lengths in a batch: less padding. Results are put back in the input order.
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i]))
    outputs: List[str] = [""] * len(encoded)
    for start in range(0, len(order), batch_size):
        chunk = order[start:start + batch_size]
        source_tokens = pad_sequence([torch.tensor(encoded[i]) for i in chunk], batch_first=True,
                                     padding_value=PAD_INDEX).to(device)
        source_mask = source_tokens.ne(PAD_INDEX)
        if beam_size == 1 and decode_fn is not None:
            with _EvalMode(model):
                results = decode_fn(model, source_tokens, source_mask, max_len=max_len)
        else:
            results = beam_search(model, source_tokens, source_mask, beam_size, max_len, length_penalty)
        for i, indices in zip(chunk, results):
            text = model.vocab.target_text(model.vocab.decode(indices, "target"))
            outputs[i] = detokenize(text) if pretty and not model.vocab.writes_plain_text else text
    return outputs[0] if single else outputs


def detokenize(text: str) -> str:
    """Make normalised English readable: ``"i ' m tired . you ' re not ?"`` -> ``"I'm tired. You're not?"``.

    :func:`utils.data.detokenize` (joiners glued, punctuation attached), then capitals for display:
    the first word of each sentence and the pronoun *I*.
    """
    text = plain_text(text)
    text = re.sub(r"(^|[.!?]\s+)([a-z])", lambda m: m.group(1) + m.group(2).upper(), text)
    return re.sub(r"\bi\b", "I", text)
