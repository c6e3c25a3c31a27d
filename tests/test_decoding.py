"""utils.decoding (beam search, translate) and utils.evaluation (BLEU, chrF, plots).

Greedy decoding is a graded TODO of notebook 04 (``greedy_decode``): ``beam_search`` with one beam
must be exactly greedy decoding, checked here against a tiny greedy loop written in this file; the
reference ``greedy_decode`` (from ``solutions/``) is what ``translate(..., decode_fn=...)`` runs.
"""
import pytest
import torch

import bench.baselines  # noqa: F401  (registers "transformer_pytorch")
from utils import (compare_systems, significance_table, EncoderOutput, Seq2Seq, Vocabulary, attention_weights, beam_search, build_model, detokenize,
                   evaluate_model, group_references, plot_attention, plot_loss_curves, results_table,
                   score_translations, train, translate)
from utils.decoding import default_max_len, encode_sentences
from utils.notebooks import from_notebook
from utils.vocab import EOS_INDEX, PAD_INDEX, SOS_INDEX, UNK_INDEX

shift_targets, sequence_loss, greedy_decode = from_notebook("04-translation", "shift_targets", "sequence_loss",
                                                            "greedy_decode")

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def trained(pairs):
    """A tiny Transformer (notebook 03's) that knows a dozen short pairs by heart (one English per French)."""
    few = list({source: (source, target) for source, target in reversed(pairs) if len(source.split()) <= 5}.values())
    few = few[:12]
    torch.manual_seed(0)
    model = build_model("transformer", Vocabulary(few), hidden_size=64, num_heads=2, num_encoder_layers=1,
                        num_decoder_layers=1, ffn_size=128, dropout=0.0, norm_first=True)
    history = train(model, few, few, epochs=60, batch_size=12, lr=1e-2, warmup_steps=10, label_smoothing=0.0,
                    progress=False, device="cpu", name="tiny", shift_fn=shift_targets, loss_fn=sequence_loss)
    return model, few, history


def greedy_loop(model, source_tokens, source_mask, max_len=None):
    """Greedy decoding, as plainly as possible: at every step the most likely word (never <pad> or
    <start>, which beam search never picks either), each sentence cut at its first <end>."""
    max_len = max_len or default_max_len(source_mask)
    model.eval()
    with torch.no_grad():
        encoder_output = model.encode(source_tokens, source_mask)
        tokens, state, rows = torch.full((source_tokens.size(0),), SOS_INDEX), None, []
        for _ in range(max_len):
            logits, state = model.decode_step(tokens, encoder_output, state)
            logits[:, [PAD_INDEX, SOS_INDEX]] = float("-inf")
            tokens = logits.argmax(dim=-1)
            rows.append(tokens.tolist())
            if all(EOS_INDEX in [row[i] for row in rows] for i in range(len(tokens))):
                break
    outputs = []
    for i in range(source_tokens.size(0)):
        words = [row[i] for row in rows]
        outputs.append(words[:words.index(EOS_INDEX)] if EOS_INDEX in words else words)
    return outputs


# ----------------------------------------------------------------------------------------------
# A fake model with known probabilities: the next word depends only on the previous one.

WORDS = ["a", "b", "c", "d"]  # indices 4, 5, 6, 7 (after <pad> <start> <end> <unk>)


class MarkovModel(Seq2Seq):
    name = "markov"

    def __init__(self, transitions):
        super().__init__(Vocabulary([("x", " ".join(WORDS))]))
        size = self.vocab.get_size("target")
        table = torch.full((size, size), 1e-9)
        index = self.vocab.word2index["target"]
        for previous, nexts in transitions.items():
            for word, probability in nexts.items():
                table[index[previous], index[word]] = probability
        self.register_buffer("log_table", table.log())
        self.calls = 0

    def encode(self, source_tokens, source_mask):
        return EncoderOutput(source_tokens.float().unsqueeze(-1), source_mask)

    def decode(self, decoder_input, encoder_output):
        self.calls += 1
        return self.log_table[decoder_input]  # (batch, tgt_len, vocabulary)

    @property
    def device(self):
        return self.log_table.device


# Greedy takes "a" (0.55) and then <end> (0.4): p = 0.22. Beam search finds "b <end>": p = 0.405.
TRAP = {"<start>": {"a": 0.55, "b": 0.45}, "a": {"<end>": 0.4, "c": 0.3, "d": 0.3},
        "b": {"<end>": 0.9, "c": 0.1}, "c": {"<end>": 1.0}, "d": {"<end>": 1.0}}


def run(decoder, model, **kwargs):
    source = torch.tensor([[4, EOS_INDEX]])
    return [model.vocab.decode(out, "target") for out in decoder(model, source, source.ne(0), **kwargs)]


GREEDY = {"greedy_loop": greedy_loop, "greedy_decode": greedy_decode}  # this file's, notebook 04's reference


@pytest.mark.parametrize("greedy", GREEDY)
def test_beam_search_finds_what_greedy_misses(greedy):
    model = MarkovModel(TRAP)
    assert run(GREEDY[greedy], model) == [["a"]]
    assert run(beam_search, model, beam_size=2) == [["b"]]
    assert run(beam_search, model, beam_size=1) == [["a"]]


@pytest.mark.parametrize("greedy", GREEDY)
def test_decoding_stops_at_end(greedy):
    model = MarkovModel(TRAP)
    assert run(beam_search, model, beam_size=2, max_len=50) == [["b"]]
    assert model.calls == 2  # both beams finished after two words: no third step
    model.calls = 0
    assert run(GREEDY[greedy], model, max_len=50) == [["a"]] and model.calls == 2


@pytest.mark.parametrize("greedy", GREEDY)
def test_decoding_respects_max_len(greedy):
    never_ends = {"<start>": {"a": 1.0}, "a": {"a": 0.6, "b": 0.4}, "b": {"a": 1.0}}
    model = MarkovModel(never_ends)
    assert run(GREEDY[greedy], model, max_len=5) == [["a"] * 5]
    assert len(run(beam_search, model, beam_size=3, max_len=5)[0]) == 5
    model.calls = 0
    assert len(run(beam_search, model, beam_size=1)[0]) == default_max_len(torch.tensor([[True, True]])) == 14
    assert model.calls == 14


def test_length_penalty_can_prefer_longer_translations():
    # "a <end>": 0.5 * 0.5 = 0.25 ; "b c <end>": 0.5 * 0.45 * 1.0 = 0.225 (shorter wins on raw probability)
    chain = {"<start>": {"a": 0.5, "b": 0.5}, "a": {"<end>": 0.5, "d": 0.5}, "b": {"c": 0.45, "<end>": 0.55},
             "c": {"<end>": 1.0}, "d": {"<end>": 1.0}}
    model = MarkovModel(chain)
    assert run(beam_search, model, beam_size=4, length_penalty=0.0) == [["b"]]  # b <end>: 0.275
    del chain["b"]["<end>"]
    chain["b"]["c"] = 1.0
    model = MarkovModel(chain)  # now "b c <end>": 0.5 ; "a <end>": 0.25
    assert run(beam_search, model, beam_size=4, length_penalty=0.0) == [["b", "c"]]


SMALL = {"lstm": dict(embedding_dim=16, hidden_size=16), "lstm_attention": dict(embedding_dim=16, hidden_size=16),
         "transformer": dict(hidden_size=32, num_heads=2, ffn_size=32, norm_first=True),
         "transformer_pytorch": dict(hidden_size=32, num_heads=2, ffn_size=32, norm_first=True)}


@pytest.mark.parametrize("name", sorted(SMALL))
def test_beam_of_one_is_greedy_decoding(name, pairs):
    """beam_search(beam_size=1) is exactly the greedy loop (untrained models: words of all kinds)."""
    torch.manual_seed(1)
    model = build_model(name, Vocabulary(pairs), **SMALL[name])
    with torch.no_grad():  # larger random weights: outputs of many different words
        for parameter in model.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
    output = {"transformer": lambda: model.core.output, "transformer_pytorch": lambda: model.output}.get(
        name, lambda: model.output_projection)()
    sources = [source for source, _ in pairs]
    encoded = [torch.tensor(x) for x in encode_sentences(model, sources)]
    source = torch.nn.utils.rnn.pad_sequence(encoded, batch_first=True)
    # ... and an <end> bias that gives translations of many different lengths (some cut by max_len)
    bias = output.bias[EOS_INDEX].item()
    spread = {}
    for extra in torch.arange(-2.0, 8.0, 0.5).tolist():
        with torch.no_grad():
            output.bias[EOS_INDEX] = bias + extra
        lengths = [len(o) for o in greedy_loop(model, source, source.ne(0), max_len=12)]
        spread[extra] = (len(set(lengths)) + (12 in lengths), extra)
    with torch.no_grad():
        output.bias[EOS_INDEX] = bias + max(spread.values())[1]
    greedy = greedy_loop(model, source, source.ne(0), max_len=12)
    beam = beam_search(model, source, source.ne(0), beam_size=1, max_len=12)
    assert greedy == beam
    lengths = {len(output) for output in greedy}
    distinct = len({tuple(output) for output in greedy})
    assert distinct >= 5 and len(lengths) >= 3, (
        f"a test that sees few different outputs proves little: {distinct} distinct, lengths {sorted(lengths)}")
    for output in greedy:
        assert EOS_INDEX not in output and SOS_INDEX not in output and PAD_INDEX not in output


def test_beam_of_one_is_greedy_on_the_markov_model():
    chain = {"<start>": {"a": 0.3, "b": 0.7}, "a": {"c": 0.6, "<end>": 0.4}, "b": {"d": 0.5, "a": 0.3, "<end>": 0.2},
             "c": {"<end>": 1.0}, "d": {"a": 0.9, "<end>": 0.1}}
    model = MarkovModel(chain)
    assert run(greedy_loop, model) == run(beam_search, model, beam_size=1) == [["b", "d", "a", "c"]]


def test_translate_decodes_with_the_given_decode_fn(trained):
    model, few, _ = trained
    sources, expected = [s for s, _ in few], [t for _, t in few]
    calls = []

    def my_decode(model, source_tokens, source_mask, max_len=None):
        calls.append((model.training, torch.is_grad_enabled(), max_len))
        return greedy_decode(model, source_tokens, source_mask, max_len)

    model.train()
    assert translate(model, sources, decode_fn=my_decode, batch_size=5) == expected
    assert model.training, "translate puts the model back in the mode it found it in"
    model.eval()
    assert calls == [(False, False, None)] * 3, "3 batches, in eval mode, without gradients"
    assert translate(model, sources, beam_size=2, decode_fn=my_decode) == expected and len(calls) == 3
    assert evaluate_model(model, few, decode_fn=my_decode)["bleu"] == pytest.approx(100) and len(calls) == 4


def test_trained_model_translates_its_pairs(trained):
    model, few, _ = trained
    sources, expected = [s for s, _ in few], [t for _, t in few]
    assert translate(model, sources) == expected
    assert translate(model, sources, decode_fn=greedy_decode) == expected
    assert translate(model, sources, beam_size=4) == expected
    # Batching and sorting by length do not change the results or their order.
    assert translate(model, sources, batch_size=5, beam_size=2) == expected
    assert [translate(model, s) for s in sources] == expected


def test_translate_takes_text_as_typed(trained):
    model, few, _ = trained
    assert dict(few)["ou est la gare ?"] == "where is the station ?"
    assert translate(model, "Où est la gare?") == "where is the station ?"
    assert translate(model, "  OÙ EST LA GARE ? ") == "where is the station ?"
    assert translate(model, "Où est la gare?", pretty=True) == "Where is the station?"
    assert isinstance(translate(model, ["Où est la gare?"]), list)
    # Unknown words become <unk>, and translation still works.
    unknown = encode_sentences(model, ["Où est la zzyzx?"])[0]
    assert unknown.count(UNK_INDEX) == 1 and unknown[-1] == EOS_INDEX
    assert isinstance(translate(model, "Où est la zzyzx?"), str)
    assert isinstance(translate(model, "", beam_size=3), str)


def test_detokenize():
    assert detokenize("i ' m tired . you ' re late !") == "I'm tired. You're late!"
    assert detokenize("he ' s tom ' s brother , i don ' t know .") == "He's tom's brother, I don't know."


# ----------------------------------------------------------------------------------------------
# Evaluation


def test_single_and_multi_reference_scores():
    pairs = [("il est grand .", "he is tall ."), ("il est grand .", "he s tall ."),
             ("elle lit un livre .", "she is reading a book .")]
    assert group_references(pairs) == {"il est grand .": ["he is tall .", "he s tall ."],
                                       "elle lit un livre .": ["she is reading a book ."]}
    perfect = score_translations({"il est grand .": "he is tall .", "elle lit un livre .": "she is reading a book ."},
                                 pairs)
    # Single reference: the pair "he s tall ." counts the hypothesis "he is tall ." as partly wrong.
    assert perfect["bleu"] < 100 and perfect["chrf"] < 100
    # Multi reference: a sentence is right if it matches any of its translations.
    assert perfect["bleu_multi"] == pytest.approx(100) and perfect["chrf_multi"] == pytest.approx(100)
    assert (perfect["pairs"], perfect["sentences"], perfect["max_references"]) == (3, 2, 2)
    assert "nrefs:1" in perfect["bleu_signature"] and "nrefs:var" in perfect["bleu_multi_signature"]
    wrong = score_translations({"il est grand .": "she runs", "elle lit un livre .": "the cat"}, pairs)
    assert wrong["bleu"] < 5 and wrong["bleu_multi"] < 5


def test_standard_scores_detokenise_against_the_corpus_sentences():
    pairs = [("il est grand .", "he ' s tall ."), ("je n ' ai pas 19 ans .", "i ' m not 19 .")]
    originals = {pairs[0]: ("Il est grand.", "He's tall."), pairs[1]: ("Je n'ai pas 19 ans.", "I'm not 19.")}
    perfect = score_translations(dict(pairs), pairs, originals)
    assert perfect["bleu_standard"] == pytest.approx(100) and perfect["chrf_standard"] == pytest.approx(100)
    assert "case:lc" in perfect["bleu_standard_signature"] and "tok:13a" in perfect["bleu_standard_signature"]
    # Left tokenised, the same output no longer matches the corpus's sentences word for word.
    tokenised = {f: e.replace(" ' ", " ") for f, e in pairs}
    assert score_translations(tokenised, pairs, originals)["bleu_standard"] < 60
    with pytest.raises(KeyError, match="splits.originals"):
        score_translations(dict(pairs), pairs, {})


def test_compare_systems_gives_intervals_and_p_values():
    pairs = [(f"phrase {i} .", f"this is sentence number {i} .") for i in range(60)]
    good = {f: e for f, e in pairs}
    worse = {f: (e if i % 2 else "no .") for i, (f, e) in enumerate(pairs)}
    similar = {f: (e if i % 2 or i < 4 else "no .") for i, (f, e) in enumerate(pairs)}  # 2 sentences better
    comparison = compare_systems({"good": good, "worse": worse, "similar": similar}, pairs, n_samples=200)
    scores, p = comparison["scores"], comparison["p_values"]
    assert scores["good"]["bleu"] > scores["worse"]["bleu"] and comparison["metric"] == "normalised"
    for score in scores.values():
        assert score["mean"] - score["ci"] <= score["bleu"] <= score["mean"] + score["ci"] + 1e-6
    assert p[("good", "worse")] < 0.05 and p[("worse", "good")] < 0.05, "a large gap is significant"
    assert p[("worse", "similar")] > 0.05, "two systems that differ on a few sentences are not"
    assert "bs:200" in comparison["signature"]
    twins = compare_systems({"a": worse, "b": dict(worse)}, pairs, n_samples=200, baseline="a")
    assert twins["p_values"] == {("a", "b"): 1.0}, "identical outputs cannot differ"
    table = significance_table(comparison)
    assert list(table.index) == ["good", "worse", "similar"] and "p vs worse" in table.columns


def test_evaluate_model(trained):
    model, few, _ = trained
    result = evaluate_model(model, few, beam_size=2, return_translations=True)
    assert result["bleu"] == pytest.approx(100) and result["bleu_multi"] == pytest.approx(100)
    assert result["beam_size"] == 2 and len(result["translations"]) == len(few)
    table = results_table({"tiny": result}, columns=["bleu", "chrf", "missing"])
    assert list(table.columns) == ["bleu", "chrf"] and list(table.index) == ["tiny"]


def test_plots(trained, pairs):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model, few, history = trained
    ax = plot_loss_curves({"tiny": history, "again": history}, x="epochs")
    assert len(ax.get_lines()) == 4
    plot_loss_curves([history], x="minutes")
    source_words, target_words, weights = attention_weights(model, "Où est la gare?")
    assert source_words == ["ou", "est", "la", "gare", "?", "<end>"]
    assert target_words == ["where", "is", "the", "station", "?", "<end>"]
    assert weights.shape == (2, 6, 6)  # heads, target, source
    assert len(plot_attention(model, "Où est la gare?", head="all")) == 2
    plot_attention(model, "Où est la gare?", translation="where is the station ?", head=0)
    torch.manual_seed(0)
    lstm = build_model("lstm_attention", Vocabulary(pairs), embedding_dim=16, hidden_size=16)
    assert attention_weights(lstm, "Il est grand.", "he is tall .")[2].shape == (5, 5)  # he is tall . <end>
    plot_attention(lstm, "Il est grand.")
    plt.close("all")
