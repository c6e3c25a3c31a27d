"""Notebook 07's framework (``utils.language_model``) and the decoder-only translator (``utils.models``),
run with the reference GPT and batching of ``solutions/07-gpt``."""
from __future__ import annotations

import functools
import math
import random
from pathlib import Path

import pytest
import torch

from utils import Vocabulary, build_model
from utils.language_model import (BOUNDARY, CharacterVocabulary, first_sentence, held_out_loss,
                                  sentence_log_likelihoods, shuffle_words, train_language_model, unigram_loss)
from utils.models import DecoderOnlyTranslator, EncoderOutput
from utils.notebooks import from_notebook
from utils.pretraining import IGNORE_INDEX

SOLUTIONS = Path(__file__).resolve().parents[1] / "solutions"


@pytest.fixture(scope="module")
def reference():
    names = ("GPT", "next_token_batch", "generate")
    return dict(zip(names, from_notebook("07-gpt", *names, folder=SOLUTIONS)))


def test_character_vocabulary_round_trip():
    chars = CharacterVocabulary(["i am here .", "aaa"])
    assert chars.tokens[:3] == ["<pad>", BOUNDARY, "<unk>"] and chars.tokens[3] == "a"   # most frequent first
    ids = chars.encode("i am here .")
    assert all(i >= 3 for i in ids) and chars.decode(ids) == "i am here ."
    assert chars.encode("z") == [chars.unknown_id]
    assert chars.decode([chars.boundary_id, *chars.encode("a"), chars.boundary_id, 0, 0]) == "\na\n"
    assert first_sentence("\nhello .\nnext") == "hello ."


def test_unigram_loss_by_hand():
    train, held_out = [[3, 3, 4]], [[3]]
    # counts: 3 -> 2, 4 -> 1, end (1) -> 1; add-one over a vocabulary of 5: total 4 + 5 = 9
    expected = -(math.log(3 / 9) + math.log(2 / 9)) / 2
    assert unigram_loss(train, held_out, end_id=1, vocab_size=5) == pytest.approx(expected)


def test_shuffle_words_keeps_the_words():
    rng = random.Random(0)
    for sentence in ["i am very tired .", "where is it ?", "a b"]:
        shuffled = shuffle_words(sentence, rng)
        assert sorted(shuffled.split()) == sorted(sentence.split()) and shuffled != sentence
    assert shuffle_words("yes yes", rng) == "yes yes"


def test_held_out_loss_is_per_character(reference):
    gpt, batch = reference["GPT"], reference["next_token_batch"]
    torch.manual_seed(0)
    model = gpt(10, block_size=16, hidden_size=16, num_heads=2, num_layers=1, ffn_size=32, dropout=0.0)
    sequences = [[3, 4, 5], [6], [7, 8, 9, 3, 4]]
    batch_fn = functools.partial(batch, boundary_id=1, pad_id=0, block_size=16)
    per_sentence = sentence_log_likelihoods(model, sequences, batch_fn, batch_size=2)
    for sequence, value in zip(sequences, per_sentence):                  # one at a time, by hand
        inputs, labels = batch_fn([sequence])
        with torch.no_grad():
            logits, _ = model(inputs)
        expected = torch.log_softmax(logits, -1)[0].gather(-1, labels[0][:, None]).sum().item()
        assert value == pytest.approx(expected, abs=1e-5)
    characters = [len(s) + 1 for s in sequences]
    assert held_out_loss(model, sequences, batch_fn, characters=characters) == pytest.approx(
        -sum(per_sentence) / sum(characters))
    assert held_out_loss(model, sequences, batch_fn) == pytest.approx(-sum(per_sentence) / sum(characters))


def test_training_loop_learns_a_pattern(reference):
    """The loop runs the given batching and the model's loss, and a tiny GPT learns to count up by one."""
    gpt, batch = reference["GPT"], reference["next_token_batch"]
    torch.manual_seed(0)
    rng = random.Random(0)
    sequences = [[3 + (start + i) % 10 for i in range(rng.randint(3, 10))] for start in
                 (rng.randrange(10) for _ in range(400))]
    plain = functools.partial(batch, boundary_id=1, pad_id=0, block_size=16)
    labelled = []

    def batch_fn(rows):                          # the training steps' batching, counted
        inputs, labels = plain(rows)
        labelled.append(int((labels != IGNORE_INDEX).sum()))
        return inputs, labels

    model = gpt(13, block_size=16, hidden_size=32, num_heads=2, num_layers=2, ffn_size=64, dropout=0.0)
    before = held_out_loss(model, sequences[:50], plain)
    history = train_language_model(model, sequences, batch_fn=batch_fn, steps=150, batch_size=32, lr=3e-3,
                                   warmup_steps=10, evaluate=lambda: held_out_loss(model, sequences[:50], plain),
                                   eval_every=50, device="cpu", progress=False)
    assert history.steps == 150 and len(history.step_loss) == 150 and history.eval_step == [50, 100, 150]
    assert len(labelled) == 150 and history.tokens == sum(labelled), "one batch_fn call per step; tokens = labels"
    assert history.eval_loss[-1] < 0.6 * before, (before, history.eval_loss)
    assert not model.training


def test_decoder_only_translator_packs_each_sentence(reference):
    """decode() gives every sentence the logits it gets alone: source packed left, no padding in between."""
    pairs = [("je suis la .", "i am here ."), ("il est grand .", "he is tall ."), ("oui", "yes")]
    vocab = Vocabulary(pairs)
    torch.manual_seed(0)
    model = build_model("decoder_only", vocab, lm_class=reference["GPT"], block_size=32, hidden_size=16, num_heads=2,
                        num_layers=2, ffn_size=32, dropout=0.0).eval()
    assert isinstance(model, DecoderOnlyTranslator)
    sources = [vocab.encode(f.split() + ["<end>"], "source") for f, _ in pairs]
    targets = [vocab.encode(["<start>"] + e.split(), "target") for _, e in pairs]
    width_s, width_t = max(map(len, sources)), max(map(len, targets))
    source = torch.tensor([s + [0] * (width_s - len(s)) for s in sources])
    mask = source != 0
    target = torch.tensor([t + [0] * (width_t - len(t)) for t in targets])
    with torch.no_grad():
        logits = model(source, mask, target)
        assert logits.shape == (3, width_t, vocab.get_size("target"))
        for row, (s, t) in enumerate(zip(sources, targets)):
            packed = torch.tensor([[i + vocab.get_size("target") for i in s] + t])
            alone, _ = model.core(packed)
            expected = alone[0, len(s):, :vocab.get_size("target")]
            torch.testing.assert_close(logits[row, :len(t)], expected, atol=1e-5, rtol=1e-4)
    encoded = model.encode(source, mask)
    assert isinstance(encoded, EncoderOutput) and torch.equal(encoded.mask, mask)
