"""``utils.pretraining``: the English corpus of notebook 06, id batches, the masked-LM loop, the word-order task.

The loop runs the functions it is given (notebook 06's ``mask_tokens`` and ``mlm_loss``; here the
instructor's reference, loaded from ``solutions/``) and none of its own.
"""
from __future__ import annotations

import os
import random
from collections import Counter
from pathlib import Path

import pytest
import torch

import utils
from utils import pretraining as pt
from utils.data import build_dataset, normalize
from utils.notebooks import from_notebook

SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"
REAL_CORPUS = os.environ.get(utils.CORPUS_ENV)

SUBJECTS = ["i am", "he is", "she is", "you are", "we are", "they are", "tom is", "my dog is", "the cat was"]
ADJECTIVES = ["tired", "happy", "cold", "hungry", "late", "ready", "busy", "sick", "here", "home", "right", "lost"]


@pytest.fixture(scope="module")
def reference():
    names = ("MaskedLanguageModel", "mask_tokens", "mlm_loss")
    loaded = dict(zip(names, from_notebook("06-bert", *names, folder=SOLUTIONS)))
    loaded["BPETokenizer"] = from_notebook("05-subwords", "BPETokenizer", folder=SOLUTIONS)
    return loaded


@pytest.fixture
def synthetic_corpus(tmp_path) -> Path:
    """108 English<TAB>French pairs, some English sentences twice (two French translations)."""
    lines = []
    for subject in SUBJECTS:
        for adjective in ADJECTIVES:
            lines.append(f"{subject.capitalize()} {adjective}.\tFR {subject} {adjective}.")
    lines += ["I am tired.\tJe suis épuisé.", "He is happy.\tIl est content."]
    path = tmp_path / "fra.txt"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def tokenizer(reference):
    return reference["BPETokenizer"]([(b"a", b"m"), (b" ", b"am")], special_tokens=pt.SPECIAL_TOKENS)


def test_english_corpus_keeps_the_translation_test_split_out(synthetic_corpus, tmp_path):
    corpus = pt.english_corpus(synthetic_corpus, validation=10, task=20, folder=tmp_path / "data", verbose=False)
    test_english = {english for _, english in build_dataset("classic", corpus=synthetic_corpus, write=False,
                                                            verbose=False).test}
    assert test_english, "the synthetic corpus must have a classic test split for this test to mean something"
    everything = corpus.train + corpus.validation + corpus.task
    assert not set(everything) & test_english, "a translation test sentence reached pre-training"
    assert corpus.excluded == len(test_english)
    assert len(everything) == len(set(everything)) == len(SUBJECTS) * len(ADJECTIVES) - len(test_english), (
        "every distinct English sentence once, in exactly one of the three sets")
    assert (len(corpus.validation), len(corpus.task)) == (10, 20)
    assert all(sentence == normalize(sentence) for sentence in everything), "sentences are normalised as in 04"
    cache = tmp_path / "data" / "english-sentences.txt"
    assert cache.is_file(), "the sentences are cached in the data folder"
    again = pt.english_corpus(synthetic_corpus, validation=10, task=20, folder=tmp_path / "data", verbose=False)
    assert again == corpus, "the same seed gives the same split, from the cache as from the corpus"
    with pytest.raises(ValueError, match="leave no training sentence"):
        pt.english_corpus(synthetic_corpus, validation=60, task=60, folder=tmp_path / "data", verbose=False)


def test_english_cache_follows_the_corpus(synthetic_corpus, tmp_path):
    """A changed corpus file (another size) is read again, not answered from a stale cache."""
    first = pt.english_sentences(synthetic_corpus, tmp_path / "data")
    with open(synthetic_corpus, "a", encoding="utf-8") as file:
        file.write("A brand new sentence.\tUne phrase toute neuve.\n")
    second = pt.english_sentences(synthetic_corpus, tmp_path / "data")
    assert "a brand new sentence ." in second[0] and "a brand new sentence ." not in first[0]
    assert second[2] == first[2] + 1


@pytest.mark.corpus
@pytest.mark.skipif(not REAL_CORPUS, reason=f"the real corpus is not available: set {utils.CORPUS_ENV}")
def test_real_english_corpus():
    corpus = pt.english_corpus(REAL_CORPUS, verbose=False)
    assert pt.english_corpus(REAL_CORPUS, verbose=False) == corpus, "read back from the cache: the same split"
    total = len(corpus.train) + len(corpus.validation) + len(corpus.task)
    assert 95_000 <= total + corpus.excluded <= 100_000, "about 98,657 distinct normalised English sentences"
    assert 600 <= corpus.excluded <= 700
    test_english = {e for _, e in build_dataset("classic", corpus=REAL_CORPUS, write=False, verbose=False).test}
    assert not test_english & set(corpus.train + corpus.validation + corpus.task)


def test_ids_are_wrapped_cut_and_padded(tokenizer):
    ids = pt.special_ids(tokenizer)
    sequences = pt.encode_sentences(tokenizer, ["i am", "a much longer sentence than the limit", ""], max_len=8)
    assert [s[0] for s in sequences] == [ids["[CLS]"]] * 3 and [s[-1] for s in sequences] == [ids["[SEP]"]] * 3
    assert sequences[0][1:-1] == tokenizer.encode("i am") and len(sequences[1]) == 8 and len(sequences[2]) == 2
    batch, mask = pt.pad_batch(sequences, ids["[PAD]"])
    assert batch.shape == mask.shape == (3, 8) and batch.dtype == torch.long and mask.dtype == torch.bool
    assert mask.sum(1).tolist() == [len(s) for s in sequences]
    assert (batch[~mask] == ids["[PAD]"]).all()
    assert pt.is_special(batch, len(tokenizer) - 4).sum().item() == 3 * 2 + (~mask).sum().item()
    same, same_mask = pt.encode_batch(tokenizer, ["i am", "a much longer sentence than the limit", ""], max_len=8)
    assert torch.equal(same, batch) and torch.equal(same_mask, mask)
    blank = pt.encode_sentences(tokenizer, ["i am [MASK] ."])[0]
    assert blank == [ids["[CLS]"], *tokenizer.encode("i am"), ids["[MASK]"], *tokenizer.encode(" ."), ids["[SEP]"]], (
        "the space before [MASK] belongs to the hidden token (BPE tokens carry their leading space)")
    with pytest.raises(ValueError, match="no special token"):
        pt.special_ids(type(tokenizer)([], special_tokens=["[PAD]"]))
    with pytest.raises(ValueError, match="at least one"):
        pt.pad_batch([], 0)


def test_length_batches_cover_everything_once():
    sequences = [[0] * random.Random(i).randint(1, 30) for i in range(1000)]
    batches = pt.length_batches(sequences, 64, seed=3)
    flat = [i for batch in batches for i in batch]
    assert sorted(flat) == list(range(1000)) and all(len(b) <= 64 for b in batches)
    assert batches == pt.length_batches(sequences, 64, seed=3) != pt.length_batches(sequences, 64, seed=4)
    spread = sum(max(len(sequences[i]) for i in b) - min(len(sequences[i]) for i in b) for b in batches) / len(batches)
    assert spread < 10, f"batches should hold sequences of similar lengths (mean spread {spread:.1f} of 29)"


def test_training_runs_the_functions_it_is_given_and_learns(reference, one_thread):
    """A repetitive toy language: the loop must use mask_fn/loss_fn as given, and the loss must fall."""
    vocab, num_ordinary, pad, mask_id = 24, 20, 20, 21
    rng = random.Random(0)
    sequences = [[22] + [(start + k) % num_ordinary for k in range(rng.randint(4, 10))] + [23]
                 for start in [rng.randrange(num_ordinary) for _ in range(400)]]   # counting: x, x+1, x+2, ...
    seen = Counter()

    def mask_fn(ids, special_mask, generator):
        assert torch.equal(special_mask, ids >= num_ordinary), "special_mask: True at the special ids"
        seen["mask"] += 1
        return reference["mask_tokens"](ids, special_mask, generator, mask_id=mask_id, num_ordinary=num_ordinary)

    def loss_fn(logits, labels):
        assert logits.dim() == 2 and labels.dim() == 1 and (labels != pt.IGNORE_INDEX).all(), (
            "the loop scores the chosen positions only")
        seen["loss"] += 1
        return reference["mlm_loss"](logits, labels)

    torch.manual_seed(0)
    model = reference["MaskedLanguageModel"](vocab, hidden_size=32, num_heads=2, num_layers=2, ffn_size=64,
                                             dropout=0.0, padding_index=pad)
    held_out = pt.fixed_masked_batches(sequences[:100], mask_fn, pad, num_ordinary, batch_size=50)
    before = pt.masked_accuracy(model, held_out)
    history = pt.train_masked_lm(model, sequences, mask_fn=mask_fn, loss_fn=loss_fn, pad_id=pad,
                                 num_ordinary=num_ordinary, steps=150, batch_size=32, lr=3e-3, warmup_steps=10,
                                 evaluate=lambda: pt.masked_accuracy(model, held_out), eval_every=50,
                                 device="cpu", progress=False)
    assert history.steps == 150 == len(history.step_loss) and history.eval_step == [50, 100, 150]
    assert seen["loss"] == 150 and seen["mask"] == 150 + 2, "every step masks and computes the loss with the given fns"
    assert not model.training, "the model is left in eval mode"
    first, last = sum(history.step_loss[:20]) / 20, sum(history.step_loss[-20:]) / 20
    assert last < first - 1.0, f"the loss must fall on a counting language: {first:.2f} -> {last:.2f}"
    assert history.eval_accuracy[-1] > max(0.5, before + 0.3), (
        f"held-out accuracy {before:.2f} -> {history.eval_accuracy[-1]:.2f}: a counting language is easy")
    assert history.tokens == pytest.approx(sum(map(len, sequences)) * 150 * 32 / 400, rel=0.5)


def test_masked_accuracy_counts_only_labelled_positions():
    class Constant(torch.nn.Module):   # always predicts token 3
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.zeros(1))

        def encode(self, ids, mask):
            return torch.zeros(*ids.shape, 1)

        def head(self, hidden):
            return torch.nn.functional.one_hot(torch.full(hidden.shape[:-1], 3), 5).float()

    labels = torch.tensor([[3, -100, 4, 3], [-100, -100, 3, -100]])
    batches = [(torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4, dtype=torch.bool), labels)]
    assert pt.masked_accuracy(Constant(), batches) == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="no masked position"):
        pt.masked_accuracy(Constant(), [(batches[0][0], batches[0][1], torch.full((2, 4), -100))])


def test_word_order_examples_swap_two_neighbouring_words():
    rng = random.Random(0)
    for sentence in ["i am very tired .", "he ' s late !", "where is the cat ?", "tom is here , isn ' t he ?"]:
        swapped = pt.swap_neighbours(sentence, rng)
        a, b = sentence.split(), swapped.split()
        assert Counter(a) == Counter(b) and a != b, "the same tokens in another order"
        moved = [i for i in range(len(a)) if a[i] != b[i]]
        assert len(moved) == 2 and moved[1] == moved[0] + 1, "exactly two neighbours swap"
        assert all(a[i].isalnum() for i in moved), "only words move, never punctuation or joiners"
    assert pt.swap_neighbours("hello .", rng) is None and pt.swap_neighbours("no no", rng) is None
    sentences = [f"{s} very {a} ." for s in SUBJECTS for a in ADJECTIVES]
    both = pt.word_order_examples(sentences, both=True)
    assert len(both) == 2 * len(sentences) and [label for _, label in both[:4]] == [1, 0, 1, 0]
    one = pt.word_order_examples(sentences, seed=1)
    assert len(one) == len(sentences) and 0.3 < sum(label for _, label in one) / len(one) < 0.7
    assert all((text in sentences) == (label == 1) for text, label in one)


def test_intervals_and_paired_difference():
    low, high = pt.accuracy_interval([True] * 50 + [False] * 50)
    assert low == pytest.approx(0.404, abs=1e-3) and high == pytest.approx(0.596, abs=1e-3)   # Wilson, n = 100
    same = pt.paired_difference([True, False] * 50, [True, False] * 50)
    assert same["difference"] == 0 and same["p_value"] == 1.0
    better = pt.paired_difference([True] * 90 + [False] * 10, [True] * 60 + [False] * 40)
    assert better["difference"] == pytest.approx(0.3) and better["low"] > 0.15 and better["p_value"] < 0.01
    with pytest.raises(ValueError):
        pt.paired_difference([True], [True, False])


def test_fine_tuning_leaves_the_encoder_alone(reference, tokenizer, one_thread):
    torch.manual_seed(0)
    model = reference["MaskedLanguageModel"](len(tokenizer), hidden_size=16, num_heads=2, num_layers=1, ffn_size=32,
                                             padding_index=tokenizer.special_ids["[PAD]"])
    state = {k: v.clone() for k, v in model.state_dict().items()}
    sentences = [f"{s} very {a} ." for s in SUBJECTS for a in ADJECTIVES]
    pairs = pt.word_order_pairs(sentences[80:])
    assert len(pairs) == len(sentences) - 80 and all(pt.swap_neighbours(a, random.Random(0)) for a, _ in pairs)
    outcome = pt.fine_tune_classifier(model, 16, tokenizer, pt.word_order_examples(sentences[:80], both=True),
                                      pairs, epochs=1, device="cpu", progress=False)
    assert len(outcome["correct"]) == len(pairs) and 0 <= outcome["accuracy"] <= 1
    alone = pt.prefers_real_order(model, tokenizer, pairs)
    assert len(alone["correct"]) == len(pairs)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items()), "fine-tuning trains a copy"


def test_pseudo_log_likelihood_masks_each_token_in_turn(tokenizer):
    """Against a direct computation: for each token, mask it alone and add log p(token)."""
    class Lookup(torch.nn.Module):   # a tiny "masked LM": the vector of position i is a function of its neighbours
        def __init__(self, vocab):
            super().__init__()
            self.embedding = torch.nn.Embedding(vocab, 8)
            self.out = torch.nn.Linear(8, vocab)

        def encode(self, ids, mask):
            x = self.embedding(ids) * mask[..., None]
            return x.roll(1, 1) + 0.5 * x.roll(-1, 1) + 0.1 * x

        def head(self, hidden):
            return self.out(hidden)

    torch.manual_seed(0)
    model = Lookup(len(tokenizer))
    texts = ["i am here .", "am i", "a"]
    scores = pt.pseudo_log_likelihood(model, tokenizer, texts, batch_size=3)
    mask_id = tokenizer.special_ids["[MASK]"]
    for text, score in zip(texts, scores):
        ids = torch.tensor([pt.encode_sentences(tokenizer, [text])[0]])
        expected = 0.0
        for i in range(1, ids.shape[1] - 1):
            masked = ids.clone()
            masked[0, i] = mask_id
            hidden = model.encode(masked, torch.ones_like(masked, dtype=torch.bool))
            expected += torch.log_softmax(model.head(hidden[0, i]), -1)[ids[0, i]].item()
        assert score == pytest.approx(expected, abs=1e-4), text
