"""Pre-training on English sentences: the corpus, batches of token ids, the masked-LM loop, a probe task.

Notebook 06 pre-trains an encoder as a masked language model (BERT). The pieces that decide what
the model learns are yours -- ``mask_tokens`` and ``mlm_loss`` of notebook 06 -- and the loop here
runs them; it masks nothing and computes no loss of its own::

    inputs, labels = mask_fn(ids, special_mask, generator)   # your mask_tokens: 15%, 80/10/10, -100
    hidden = model.encode(inputs, mask)                      # ~ (batch, len, hidden)
    chosen = labels != IGNORE_INDEX
    loss = loss_fn(model.head(hidden[chosen]), labels[chosen])   # your mlm_loss

What else lives here: :func:`english_corpus` (every distinct English sentence of the corpus, the
translation test split kept out), :func:`encode_sentences` / :func:`pad_batch` (``[CLS] ... [SEP]``
id sequences, padded), :func:`length_batches`, :func:`masked_accuracy` and the word-order probe
task (:func:`word_order_examples`, :func:`word_order_pairs`, :func:`pseudo_log_likelihood`,
:func:`fine_tune_classifier`) that shows what pre-training bought. None of it is the answer of a TODO.
"""
from __future__ import annotations

import copy
import math
import os
import random
import re
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .data import build_dataset, data_dir, find_corpus, normalize, read_raw_pairs
from .runtime import get_device

#: Labels of positions the loss ignores (PyTorch's ``cross_entropy`` default ``ignore_index``).
IGNORE_INDEX = -100
#: The special tokens of notebook 06's tokenizer, in this order after the BPE tokens.
PAD_TOKEN, MASK_TOKEN, CLS_TOKEN, SEP_TOKEN = "[PAD]", "[MASK]", "[CLS]", "[SEP]"
SPECIAL_TOKENS = (PAD_TOKEN, MASK_TOKEN, CLS_TOKEN, SEP_TOKEN)
_SPACE_BEFORE_MASK = re.compile(r" (?=" + re.escape(MASK_TOKEN) + ")")


# ----------------------------------------------------------------------------------------------
# The English side of the corpus


@dataclass
class EnglishCorpus:
    """Distinct normalised English sentences, split for pre-training and for held-out measurements.

    ``train`` is what the model learns from; ``validation`` measures masked-token accuracy; ``task``
    is the sentences of the word-order probe (never seen in pre-training). ``excluded`` counts the
    English sentences of the translation test split (notebooks 04-05), kept out of all three.
    """

    train: List[str]
    validation: List[str]
    task: List[str]
    excluded: int = 0
    raw_pairs: int = 0

    def describe(self) -> str:
        return (f"{self.raw_pairs:,} corpus pairs -> {len(self.train) + len(self.validation) + len(self.task) + self.excluded:,} "
                f"distinct English sentences; {self.excluded:,} of the translation test split kept out -> "
                f"train {len(self.train):,}, validation {len(self.validation):,}, word-order task {len(self.task):,}")


#: Bump when what :func:`english_sentences` computes changes: older cache files are then recomputed.
_CACHE_VERSION = 1


def english_sentences(corpus=None, folder=None) -> Tuple[List[str], int, int]:
    """Distinct normalised English sentences of the corpus, sorted, less those of the translation test split.

    Returns ``(sentences, excluded, raw_pairs)``. Reading and normalising the whole corpus takes seconds,
    so the result is cached in the data folder (``english-sentences.txt``, keyed by the corpus file's size
    and modification time) and read back from there next time.
    """
    path = find_corpus(corpus, folder)
    key = f"# english-sentences v{_CACHE_VERSION} {path.name} {path.stat().st_size} {int(path.stat().st_mtime)}"
    cache = data_dir(folder) / "english-sentences.txt"
    if cache.is_file():
        with open(cache, encoding="utf-8") as file:
            header = file.readline().rstrip("\n").rsplit(" ", 2)
            if header[0] == key:
                sentences = [line.rstrip("\n") for line in file]
                return sentences, int(header[1]), int(header[2])
    raw = read_raw_pairs(path)
    everything = sorted({normalize(english) for english, _ in raw} - {""})
    test = {english for _, english in build_dataset("classic", corpus=path, folder=folder, write=False,
                                                    verbose=False).test}
    sentences = [sentence for sentence in everything if sentence not in test]
    excluded = len(everything) - len(sentences)
    partial = cache.with_name(f"{cache.name}.{os.getpid()}.partial")   # parallel kernels: write, then rename
    partial.write_text("\n".join([f"{key} {excluded} {len(raw)}", *sentences]) + "\n", encoding="utf-8")
    os.replace(partial, cache)
    return sentences, excluded, len(raw)


def english_corpus(corpus=None, validation: int = 2000, task: int = 2000, max_sentences: Optional[int] = None,
                   seed: int = 0, folder=None, verbose: bool = True) -> EnglishCorpus:
    """Every distinct English sentence of the corpus (normalised as in notebook 04), shuffled and split.

    The English sentences of the translation test split (``build_dataset("classic")``, the split of
    notebooks 04 and 05) are removed first (:func:`english_sentences`), so that a model pre-trained here
    and later used for translation has never read a test sentence. ``max_sentences`` keeps a seeded
    sample (smoke mode).
    """
    kept, excluded, raw_pairs = english_sentences(corpus, folder)
    random.Random(seed).shuffle(kept)
    if max_sentences is not None:
        kept = kept[:max_sentences]
    if validation + task >= len(kept):
        raise ValueError(f"validation ({validation}) + task ({task}) leave no training sentence of {len(kept)}")
    result = EnglishCorpus(train=kept[validation + task:], validation=kept[:validation],
                           task=kept[validation:validation + task], excluded=excluded, raw_pairs=raw_pairs)
    if verbose:
        print(result.describe())
    return result


# ----------------------------------------------------------------------------------------------
# Token ids


def special_ids(tokenizer) -> Dict[str, int]:
    """``{"[PAD]": id, "[MASK]": id, "[CLS]": id, "[SEP]": id}`` of a tokenizer built with ``SPECIAL_TOKENS``."""
    missing = [token for token in SPECIAL_TOKENS if token not in tokenizer.special_ids]
    if missing:
        raise ValueError(f"the tokenizer has no special token(s) {missing}: build it with "
                         f"BPETokenizer(merges, special_tokens={list(SPECIAL_TOKENS)})")
    return {token: tokenizer.special_ids[token] for token in SPECIAL_TOKENS}


def encode_sentences(tokenizer, texts: Sequence[str], max_len: int = 64, progress: bool = False) -> List[List[int]]:
    """``[CLS] tokens [SEP]`` id lists, cut to ``max_len`` ids in all.

    A space before ``[MASK]`` belongs to the token it hides: BPE tokens carry the space before a word
    (``" tired"``), so ``"i am very [MASK] ."`` is encoded as ``i, " am", " very", [MASK], " ."`` -- not
    with a lone ``" "`` token before the blank, which would ask the model for the rest of a word.
    """
    ids = special_ids(tokenizer)
    if max_len < 3:
        raise ValueError("max_len must leave room for [CLS], one token and [SEP]")
    return [[ids[CLS_TOKEN]] + tokenizer.encode(_SPACE_BEFORE_MASK.sub("", text))[:max_len - 2] + [ids[SEP_TOKEN]]
            for text in tqdm(texts, desc="encoding", leave=False, disable=not progress)]


def pad_batch(sequences: Sequence[Sequence[int]], pad_id: int, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Id lists -> ``ids ~ (batch, longest)`` padded with ``pad_id``, ``mask ~ (batch, longest)``, True = real."""
    if not sequences:
        raise ValueError("pad_batch needs at least one sequence")
    longest = max(len(sequence) for sequence in sequences)
    ids = torch.full((len(sequences), longest), pad_id, dtype=torch.long)
    for row, sequence in enumerate(sequences):
        ids[row, :len(sequence)] = torch.as_tensor(sequence, dtype=torch.long)
    mask = torch.arange(longest)[None, :] < torch.tensor([len(s) for s in sequences])[:, None]
    return ids.to(device), mask.to(device)


def encode_batch(tokenizer, texts: Sequence[str], max_len: int = 64, device=None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Texts -> ``(ids, mask)`` ~ (batch, longest): ``[CLS] tokens [SEP]``, padded with ``[PAD]``."""
    return pad_batch(encode_sentences(tokenizer, texts, max_len), special_ids(tokenizer)[PAD_TOKEN], device)


def is_special(ids: torch.Tensor, num_ordinary: int) -> torch.Tensor:
    """True where an id is a special token (the tokenizer puts them after its ``num_ordinary`` ordinary ids)."""
    return ids >= num_ordinary


def length_batches(sequences: Sequence[Sequence[int]], batch_size: int, seed: int = 0,
                   chunk_batches: int = 50) -> List[List[int]]:
    """Shuffled batches (lists of indices) of sequences of similar lengths: less padding to compute.

    Shuffle, cut into chunks of ``batch_size * chunk_batches``, sort each chunk by length, cut it into
    batches, shuffle the batches.
    """
    rng = random.Random(seed)
    order = list(range(len(sequences)))
    rng.shuffle(order)
    batches = []
    chunk = batch_size * chunk_batches
    for start in range(0, len(order), chunk):
        part = sorted(order[start:start + chunk], key=lambda i: len(sequences[i]))
        batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


# ----------------------------------------------------------------------------------------------
# The masked-LM loop


@dataclass
class PretrainingHistory:
    """What :func:`train_masked_lm` did: the loss of every step, held-out accuracy now and then, the time."""

    step_loss: List[float] = field(default_factory=list)
    eval_step: List[int] = field(default_factory=list)
    eval_minutes: List[float] = field(default_factory=list)
    eval_accuracy: List[float] = field(default_factory=list)
    steps: int = 0
    seconds: float = 0.0          # training steps only (evaluations not counted)
    tokens: int = 0               # real tokens read (padding not counted)

    def to_dict(self) -> Dict:
        return dict(self.__dict__)


def masked_accuracy(model, batches: Sequence[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
                    device=None) -> float:
    """Share of the masked positions whose label is the model's most likely token.

    ``batches``: fixed ``(inputs, mask, labels)`` (see :func:`fixed_masked_batches`), so that every
    call scores the same positions.
    """
    device = device or next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct = total = 0
    with torch.no_grad():
        for inputs, mask, labels in batches:
            inputs, mask, labels = inputs.to(device), mask.to(device), labels.to(device)
            chosen = labels != IGNORE_INDEX
            if not chosen.any():
                continue
            predictions = model.head(model.encode(inputs, mask)[chosen]).argmax(-1)
            correct += (predictions == labels[chosen]).sum().item()
            total += chosen.sum().item()
    model.train(was_training)
    if not total:
        raise ValueError("no masked position in the batches: nothing to score")
    return correct / total


def fixed_masked_batches(sequences: Sequence[Sequence[int]], mask_fn: Callable, pad_id: int, num_ordinary: int,
                         batch_size: int = 256, seed: int = 1234) -> List[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(inputs, mask, labels)`` batches masked once with ``mask_fn`` and a seeded generator (an evaluation set)."""
    generator = torch.Generator().manual_seed(seed)
    batches = []
    for start in range(0, len(sequences), batch_size):
        ids, mask = pad_batch(sequences[start:start + batch_size], pad_id)
        inputs, labels = mask_fn(ids, is_special(ids, num_ordinary), generator)
        batches.append((inputs, mask, labels))
    return batches


def train_masked_lm(model, sequences: Sequence[Sequence[int]], *, mask_fn: Callable, loss_fn: Callable,
                    pad_id: int, num_ordinary: int, steps: int, minutes: Optional[float] = None,
                    batch_size: int = 128, lr: float = 1e-3, warmup_steps: int = 300, weight_decay: float = 0.01,
                    clip: float = 1.0, seed: int = 0, evaluate: Optional[Callable[[], float]] = None,
                    eval_every: int = 500, device=None, progress: bool = True) -> PretrainingHistory:
    """Pre-train ``model`` as a masked language model for ``steps`` steps (or ``minutes``, whichever first).

    Every batch is masked anew (dynamic masking, as RoBERTa) by ``mask_fn(ids, special_mask, generator)``
    -> ``(inputs, labels)``; the head runs on the masked positions only (the others have no label) and
    ``loss_fn(logits ~ (n, vocab), labels ~ (n,))`` gives the loss. AdamW, linear warm-up then linear
    decay to zero over the budget -- ``steps``, or ``minutes`` of training if that ends first (the decay
    follows whichever is further along, so a slower machine gets fewer steps, not a worse schedule) --
    and gradient clipping. ``evaluate()`` (e.g. held-out accuracy) runs every
    ``eval_every`` steps and at the end; its time is not counted in ``seconds``.
    """
    device = torch.device(device) if device is not None else get_device()
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    generator = torch.Generator().manual_seed(seed)
    history = PretrainingHistory()
    budget = minutes * 60 if minutes is not None else math.inf
    epoch, batches = 0, []
    bar = tqdm(total=steps, desc="pre-training", unit="step", disable=not progress)

    def checkpoint():
        if evaluate is not None:
            history.eval_step.append(history.steps)
            history.eval_minutes.append(history.seconds / 60)
            history.eval_accuracy.append(evaluate())
            model.train()
            bar.set_postfix(loss=f"{history.step_loss[-1]:.3f}" if history.step_loss else "-",
                            accuracy=f"{history.eval_accuracy[-1]:.3f}")

    while history.steps < steps and history.seconds < budget:
        if not batches:
            batches = length_batches(sequences, batch_size, seed=seed + epoch)
            epoch += 1
        indices = batches.pop()
        started = time.perf_counter()
        ids, mask = pad_batch([sequences[i] for i in indices], pad_id)
        inputs, labels = mask_fn(ids, is_special(ids, num_ordinary), generator)
        inputs, mask, labels = inputs.to(device), mask.to(device), labels.to(device)
        for group in optimizer.param_groups:
            warm = min(1.0, (history.steps + 1) / warmup_steps) if warmup_steps else 1.0
            group["lr"] = lr * warm * max(0.0, 1 - max(history.steps / steps, history.seconds / budget))
        chosen = labels != IGNORE_INDEX
        hidden = model.encode(inputs, mask)                       # ~ (batch, len, hidden)
        loss = loss_fn(model.head(hidden[chosen]), labels[chosen])
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
        history.seconds += time.perf_counter() - started
        history.step_loss.append(loss.item())
        history.steps += 1
        history.tokens += int(mask.sum())
        bar.update(1)
        if history.steps % eval_every == 0:
            checkpoint()
    if not history.eval_step or history.eval_step[-1] != history.steps:
        checkpoint()
    bar.close()
    model.eval()
    return history


# ----------------------------------------------------------------------------------------------
# What pre-training bought: a probe task the corpus labels by itself


def swap_neighbours(sentence: str, rng: random.Random) -> Optional[str]:
    """The sentence with two neighbouring (different) words swapped, or None if it has no such pair.

    Only words swap (no punctuation, no joiner), so the tokens are the same and only their order changes.
    """
    words = sentence.split()
    candidates = [i for i in range(len(words) - 1)
                  if words[i] != words[i + 1] and words[i].isalnum() and words[i + 1].isalnum()]
    if not candidates:
        return None
    i = rng.choice(candidates)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def word_order_examples(sentences: Sequence[str], seed: int = 0, both: bool = False) -> List[Tuple[str, int]]:
    """Labelled examples of "is this word order the real one?": ``(text, 1)`` as written, ``(text, 0)`` swapped.

    ``both=True`` gives both versions of each sentence (training); else one of the two, at random
    (a test set where no sentence appears twice). Sentences with no two neighbouring words to swap
    are left out.
    """
    rng = random.Random(seed)
    examples = []
    for sentence in sentences:
        swapped = swap_neighbours(sentence, rng)
        if swapped is None:
            continue
        if both:
            examples += [(sentence, 1), (swapped, 0)]
        else:
            examples.append((sentence, 1) if rng.random() < 0.5 else (swapped, 0))
    return examples


def word_order_pairs(sentences: Sequence[str], seed: int = 0) -> List[Tuple[str, str]]:
    """Minimal pairs ``(sentence as written, the same with two neighbouring words swapped)``.

    Sentences with no two neighbouring words to swap are left out.
    """
    rng = random.Random(seed)
    return [(sentence, swapped) for sentence in sentences
            for swapped in [swap_neighbours(sentence, rng)] if swapped is not None]


def pseudo_log_likelihood(model, tokenizer, texts: Sequence[str], batch_size: int = 512, device=None) -> List[float]:
    """How likely a masked LM finds each text: the sum over its tokens of log p(token | the rest), each
    token masked in turn (Salazar et al., 2020). Needs no training beyond pre-training.

    A text of n tokens costs n forward passes (batched): ``[CLS]`` and ``[SEP]`` are not scored.
    """
    device = device or next(model.parameters()).device
    ids_of = special_ids(tokenizer)
    sequences = encode_sentences(tokenizer, texts)
    items = [(k, i) for k, sequence in enumerate(sequences) for i in range(1, len(sequence) - 1)]
    scores = [0.0] * len(sequences)
    was_training = model.training
    model.eval()
    with torch.no_grad():
        for start in range(0, len(items), batch_size):
            chunk = items[start:start + batch_size]
            ids, mask = pad_batch([sequences[k] for k, _ in chunk], ids_of[PAD_TOKEN])
            rows, positions = torch.arange(len(chunk)), torch.tensor([i for _, i in chunk])
            targets = ids[rows, positions].clone()
            ids[rows, positions] = ids_of[MASK_TOKEN]                       # one blank per copy
            ids, mask = ids.to(device), mask.to(device)
            hidden = model.encode(ids, mask)[rows.to(device), positions.to(device)]   # ~ (chunk, hidden)
            log_p = torch.log_softmax(model.head(hidden).float(), -1)[rows.to(device), targets.to(device)]
            for (k, _), value in zip(chunk, log_p.tolist()):
                scores[k] += value
    model.train(was_training)
    return scores


class SentenceClassifier(torch.nn.Module):
    """An encoder (anything with ``encode(ids, mask) -> (batch, len, hidden)``) and a linear layer on the mean
    of its vectors over the real tokens (masked-LM pre-training trains no ``[CLS]`` vector of its own)."""

    def __init__(self, encoder: torch.nn.Module, hidden_size: int, num_classes: int = 2) -> None:
        super().__init__()
        self.encoder = encoder
        self.classifier = torch.nn.Linear(hidden_size, num_classes)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        hidden = self.encoder.encode(ids, mask)                          # ~ (batch, len, hidden)
        weights = mask.unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1)                # mean over real tokens ~ (batch, hidden)
        return self.classifier(pooled)


def fine_tune_classifier(encoder, hidden_size: int, tokenizer, train_examples, test_pairs, *, epochs: int = 4,
                         batch_size: int = 32, lr: float = 3e-4, seed: int = 0, device=None,
                         progress: bool = True, desc: str = "fine-tuning") -> Dict:
    """Fine-tune ``encoder`` + a linear layer on labelled sentences; score it on minimal pairs.

    ``train_examples``: ``(text, label)`` with label 1 for the real word order, 0 for a swapped one.
    ``encoder`` itself is left as it is: a copy of it is trained, the whole network (AdamW, linear decay).
    A test pair ``(real, swapped)`` is right when the classifier finds the real one more likely real
    (``logit[1] - logit[0]`` larger). Returns ``{"accuracy", "correct": [bool per pair], "seconds"}`` --
    ``correct`` feeds a paired comparison of two models.
    """
    device = torch.device(device) if device is not None else get_device()
    torch.manual_seed(seed)
    model = SentenceClassifier(copy.deepcopy(encoder), hidden_size).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    rng = random.Random(seed)
    total = epochs * math.ceil(len(train_examples) / batch_size)
    step, started = 0, time.perf_counter()
    for _ in tqdm(range(epochs), desc=desc, leave=False, disable=not progress):
        order = list(train_examples)
        rng.shuffle(order)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            ids, mask = encode_batch(tokenizer, [text for text, _ in batch], device=device)
            labels = torch.tensor([label for _, label in batch], device=device)
            for group in optimizer.param_groups:
                group["lr"] = lr * (1 - step / total)
            loss = F.cross_entropy(model(ids, mask), labels)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            step += 1
    seconds = time.perf_counter() - started
    model.eval()
    scores = []
    texts = [text for pair in test_pairs for text in pair]
    with torch.no_grad():
        for start in range(0, len(texts), 256):
            ids, mask = encode_batch(tokenizer, texts[start:start + 256], device=device)
            logits = model(ids, mask)
            scores += (logits[:, 1] - logits[:, 0]).tolist()
    correct = [real > swapped for real, swapped in zip(scores[0::2], scores[1::2])]
    return {"accuracy": sum(correct) / max(len(correct), 1), "correct": correct, "seconds": seconds}


def prefers_real_order(model, tokenizer, test_pairs, **options) -> Dict:
    """The masked LM alone, no fine-tuning: a pair is right when the real order has the higher
    :func:`pseudo_log_likelihood`. Returns ``{"accuracy", "correct": [bool per pair], "seconds"}``."""
    started = time.perf_counter()
    real = pseudo_log_likelihood(model, tokenizer, [pair[0] for pair in test_pairs], **options)
    swapped = pseudo_log_likelihood(model, tokenizer, [pair[1] for pair in test_pairs], **options)
    correct = [a > b for a, b in zip(real, swapped)]
    return {"accuracy": sum(correct) / max(len(correct), 1), "correct": correct,
            "seconds": time.perf_counter() - started}


def accuracy_interval(correct: Sequence[bool], confidence_z: float = 1.96) -> Tuple[float, float]:
    """Wilson score interval of an accuracy (95% by default)."""
    n = len(correct)
    if not n:
        return (0.0, 1.0)
    p = sum(correct) / n
    z2 = confidence_z ** 2
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = confidence_z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return (centre - half, centre + half)


def paired_difference(correct_a: Sequence[bool], correct_b: Sequence[bool], resamples: int = 2000,
                      seed: int = 0) -> Dict[str, float]:
    """Accuracy of A minus B on the same examples, a paired-bootstrap 95% interval and a two-sided p-value."""
    if len(correct_a) != len(correct_b) or not correct_a:
        raise ValueError("paired_difference needs two equally long, non-empty lists of outcomes")
    n = len(correct_a)
    a = torch.tensor(correct_a, dtype=torch.float64)
    b = torch.tensor(correct_b, dtype=torch.float64)
    generator = torch.Generator().manual_seed(seed)
    samples = torch.randint(n, (resamples, n), generator=generator)
    diffs = (a[samples] - b[samples]).mean(1)
    observed = (a - b).mean().item()
    low, high = torch.quantile(diffs, torch.tensor([0.025, 0.975], dtype=torch.float64)).tolist()
    # p-value: how often a resampled difference, centred on 0, is at least as extreme as the observed one
    p = ((diffs - observed).abs() >= abs(observed)).double().mean().item()
    return {"difference": observed, "low": low, "high": high, "p_value": max(p, 1 / resamples)}
