"""Translating raw text with SentencePiece pieces: ``SubwordVocabulary`` and the plain-text scoring.

- ``SubwordVocabulary.train``: one model per language, the course's special tokens first, every
  piece known, the text as typed given back exactly (U+202F included), nothing unknown.
- Pieces travel as lists (a piece may hold a no-break space, which ``str.split`` would cut), through
  ``NMTDataset``, ``train``, ``translate``, ``save_model``/``load_model``.
- Scoring: a plain-text system is keyed by the original French and scored as it is (standard BLEU) or
  normalised (the course's BLEU); ``compare_systems`` mixes it with a word-level one.
"""
from __future__ import annotations

import io

import pytest
import sacrebleu
import sentencepiece as spm
import torch

from tests.conftest import TINY
from utils import (SubwordVocabulary, Vocabulary, build_model, compare_systems, evaluate_model, load_model, normalize,
                   save_model, score_translations, split_pairs, train, translate)
from utils.batching import NMTDataset
from utils.data import detokenize, read_raw_pairs
from utils.notebooks import from_notebook
from utils.vocab import SPECIAL_TOKENS, UNK_INDEX

pytestmark = pytest.mark.usefixtures("one_thread")

shift_targets, sequence_loss = from_notebook("04-translation", "shift_targets", "sequence_loss")
NNBSP = "\u202f"


@pytest.fixture(scope="module")
def raw_pairs():
    """The tiny corpus as typed, (french, english), with French typography added to a few sentences."""
    pairs = [(french, english) for english, french in read_raw_pairs(TINY)]
    return pairs + [(f"Tu es fatigué{NNBSP}?", "Are you tired?"), (f"Ça va{NNBSP}!", "I'm fine!")]


@pytest.fixture(scope="module")
def pieces(raw_pairs):
    return SubwordVocabulary.train(raw_pairs, vocab_size=400)


def test_vocabulary_starts_with_the_special_tokens_and_knows_every_piece(pieces):
    for field in ("source", "target"):
        words = [pieces.index2word[field][i] for i in range(pieces.get_size(field))]
        assert tuple(words[:4]) == SPECIAL_TOKENS
        processor = pieces.processors[field]
        assert pieces.get_size(field) == processor.get_piece_size() + 3  # SentencePiece's <unk> is ours
        assert "<0xC3>" in pieces.word2index[field], "byte_fallback: the 256 byte pieces are in the vocabulary"


def test_text_comes_back_exactly_and_nothing_is_unknown(pieces, raw_pairs):
    for french, english in raw_pairs + [("Hawaï, Đà Nẵng 🙂", "Zoë's café")]:
        for field, text in (("source", french), ("target", english)):
            tokens = pieces.tokens(text, field)
            assert UNK_INDEX not in pieces.encode(tokens, field), f"{text!r}: byte fallback leaves nothing unknown"
        assert pieces.target_text(pieces.tokens(english, "target")) == english
        assert pieces.processors["source"].decode(pieces.source_tokens(french)) == french
    assert pieces.target_text(["<start>"] + pieces.tokens("I'm cold.", "target") + ["<end>", "<pad>"]) == "I'm cold."


def test_pieces_travel_as_lists_so_a_no_break_space_survives(pieces):
    tokens = pieces.source_tokens(f"Tu es là{NNBSP}?")
    assert any(NNBSP in token for token in tokens), "identity normalisation keeps U+202F in a piece"
    [(source, target)] = pieces.tokenize_pairs([(f"Tu es là{NNBSP}?", "Are you there?")])
    assert source == tokens and isinstance(source, list)
    assert NMTDataset([(source, target)])[0]["source"] == tokens + ["<end>"], "lists are not split again"
    assert NMTDataset([("a b", "c")])[0]["target"] == ["<start>", "c", "<end>"], "strings still split on spaces"


def test_a_model_with_control_pieces_is_refused(raw_pairs):
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter([f for f, _ in raw_pairs]), model_writer=model,
                                   vocab_size=80, hard_vocab_limit=False, minloglevel=2)  # with <s> and </s>
    with pytest.raises(ValueError, match="bos_id=-1, eos_id=-1"):
        SubwordVocabulary(model.getvalue(), model.getvalue())


def test_training_translating_saving_and_loading(pieces, raw_pairs, tmp_path):
    data = pieces.tokenize_pairs(raw_pairs)
    torch.manual_seed(0)
    model = build_model("transformer", pieces, hidden_size=32, num_heads=2, num_encoder_layers=1,
                        num_decoder_layers=1, ffn_size=64, dropout=0.0, norm_first=True)
    history = train(model, data, data[:8], epochs=40, batch_size=16, lr=1e-2, warmup_steps=10, label_smoothing=0.0,
                    progress=False, device="cpu", shift_fn=shift_targets, loss_fn=sequence_loss)
    assert history.validation_loss[-1] < history.validation_loss[0] / 2, "a tiny model learns its training pairs"
    out = translate(model, [french for french, _ in raw_pairs[:6]], beam_size=2)
    assert all(isinstance(text, str) and "▁" not in text for text in out), f"plain text comes out, got {out}"
    assert translate(model, raw_pairs[0][0], pretty=True) == translate(model, raw_pairs[0][0]), \
        "plain text is not detokenised again"
    loaded = load_model(save_model(model, tmp_path / "subwords.pt"), device="cpu")
    assert isinstance(loaded.vocab, SubwordVocabulary)
    assert loaded.vocab.index2word == pieces.index2word
    assert translate(loaded, [french for french, _ in raw_pairs[:6]], beam_size=2) == out


def test_plain_hypotheses_are_keyed_by_the_original_sentences_and_scored_as_they_are(raw_pairs):
    originals = {(normalize(f), normalize(e)): (f, e) for f, e in raw_pairs}
    one_per_french = {french: pair for pair, (french, _) in originals.items()}  # one translation per sentence
    pairs = list(one_per_french.values())[:10]
    plain = {originals[pair][0]: originals[pair][1].upper() for pair in pairs}  # right words, wrong case
    scores = score_translations(plain, pairs, originals, plain=True)
    assert scores["bleu_standard"] == pytest.approx(100.0), "standard BLEU is case-insensitive"
    assert scores["bleu"] == pytest.approx(100.0), "the normalised score normalises plain text first"
    words = {pair[0]: pair[1] for pair in pairs}
    assert score_translations(words, pairs, originals)["bleu_standard"] == pytest.approx(100.0)
    expected = sacrebleu.metrics.BLEU(lowercase=True).corpus_score(
        [plain[originals[p][0]] for p in pairs], [[originals[p][1] for p in pairs]]).score
    assert scores["bleu_standard"] == pytest.approx(expected)
    with pytest.raises(ValueError, match="originals"):
        score_translations(plain, pairs, plain=True)
    half = {source: (text if i % 2 else "no") for i, (source, text) in enumerate(plain.items())}
    comparison = compare_systems({"words": words, "subwords": half}, pairs, originals, plain=["subwords"])
    assert comparison["scores"]["words"]["bleu"] == pytest.approx(100.0)
    assert comparison["scores"]["subwords"]["bleu"] < 100.0
    with pytest.raises(KeyError, match="plain"):
        compare_systems({"words": words, "subwords": half}, pairs, originals, plain=["other"])


def test_evaluate_model_translates_the_original_french(pieces, raw_pairs):
    originals = {(normalize(f), normalize(e)): (f, e) for f, e in raw_pairs}
    splits = split_pairs(list(originals), 0.2, 0.2)
    model = build_model("transformer", pieces, hidden_size=16, num_heads=2, num_encoder_layers=1,
                        num_decoder_layers=1, ffn_size=32, norm_first=True).eval()
    result = evaluate_model(model, splits.test, originals=originals, return_translations=True)
    assert set(result["translations"]) == {originals[pair][0] for pair in splits.test}
    assert 0.0 <= result["bleu_standard"] <= 100.0 and 0.0 <= result["bleu"] <= 100.0
    with pytest.raises(ValueError, match="originals"):
        evaluate_model(model, splits.test)
    assert detokenize("i ' m") == "i'm"  # the word-level path is unchanged
    assert Vocabulary([("a", "b")]).target_text(["i", "'", "m"]) == "i ' m"
