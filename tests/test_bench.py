"""``python -m bench.translate`` end to end on the tiny corpus, in smoke mode (tiny models), and the
PyTorch-layer baseline of ``bench/baselines.py``: the same model as the course-built Transformer."""
import json
import os
from pathlib import Path

import pytest
import torch

from bench import translate as bench
from bench.baselines import PyTorchTransformerTranslator
from utils import Vocabulary, build_model, load_model, translate
from utils.notebooks import from_notebook, source_notebook

TINY = Path(__file__).parent / "data" / "tiny_fra_eng.txt"


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory, one_thread):
    out = tmp_path_factory.mktemp("bench")
    report = bench.main(["--corpus", str(TINY), "--setting", "large", "--examples", "3",
                         "--out", str(out / "results"), "--checkpoints", str(out / "checkpoints")])
    return out, report


def test_bench_writes_results_for_every_model(bench_run):
    out, report = bench_run
    written = json.loads((out / "results" / "results.json").read_text())
    assert written["smoke"] is True, "the test suite runs with COURSE_SMOKE=1: the report must say so"
    assert [r["model"] for r in written["results"]] == list(bench.MODELS)
    for r in written["results"]:
        for key in ("bleu_greedy", "bleu_beam4", "bleu_multi_greedy", "chrf_greedy", "chrf_beam4"):
            assert 0.0 <= r[key] <= 100.0, f"{r['model']} {key} = {r[key]}: sacrebleu scores lie in [0, 100]"
        assert r["epochs"] == 1.0 and r["seconds_per_epoch"] > 0 and r["tokens_per_second"] > 0
        assert written["machine"]["threads"] >= 1 and written["machine"]["torch"]
        for key in ("bleu_standard_greedy", "bleu_standard_beam4", "chrf_standard_beam4"):
            assert 0.0 <= r[key] <= 100.0, f"{r['model']} {key} = {r[key]}"
        assert "case:lc" in r["bleu_standard_signature"]
        assert not any(key.startswith("_") for key in r), "internal fields stay out of results.json"
    markdown = (out / "results" / "results.md").read_text()
    assert "Smoke mode" in markdown, "a smoke run's table must not pass for a benchmark"
    for label in bench.LABELS.values():
        assert f"| {label} |" in markdown, f"{label} missing from the results table"


def test_bench_tests_every_difference_and_sweeps_the_beam(bench_run):
    out, _ = bench_run
    written = json.loads((out / "results" / "results.json").read_text())
    tested = written["significance"]
    labels = [bench.LABELS[name] for name in bench.MODELS]
    assert list(tested["scores"]) == labels and "bs:1000" in tested["signature"]
    pairs = {(row["a"], row["b"]) for row in tested["p_values"]}
    assert pairs == {(a, b) for a in labels for b in labels if a != b}, "every two models, both ways"
    assert all(0 < row["p"] <= 1 for row in tested["p_values"])
    for score in tested["scores"].values():
        assert score["ci"] >= 0
    sweep = next(r["beam_sweep"] for r in written["results"] if r["model"] == "transformer")
    configurations = {(row["beam"], row["length_penalty"]) for row in sweep["rows"]}
    assert (1, 0.0) in configurations and (8, 1.0) in configurations and len(configurations) == 10
    markdown = (out / "results" / "results.md").read_text()
    assert "## Is the difference real?" in markdown and "## Beam size and length penalty" in markdown


def test_bench_compares_the_course_built_transformer_with_pytorchs(bench_run):
    out, report = bench_run
    results = {r["model"]: r for r in report["results"]}
    ours, theirs = results["transformer"], results["transformer_pytorch"]
    assert ours["model_config"] == theirs["model_config"], "the same model configuration (the same recipe)"
    assert ours["train_config"] == theirs["train_config"], "the same training recipe"
    assert ours["parameters"] == theirs["parameters"], "the same model: the same number of parameters"
    comparison = json.loads((out / "results" / "results.json").read_text())["comparison"]
    assert comparison["seconds_per_epoch_ratio"] == pytest.approx(ours["seconds_per_epoch"] / theirs["seconds_per_epoch"])
    assert comparison["bleu_greedy_difference"] == pytest.approx(ours["bleu_greedy"] - theirs["bleu_greedy"])
    assert comparison["bleu_beam4_difference"] == pytest.approx(ours["bleu_beam4"] - theirs["bleu_beam4"])
    assert comparison["targets"] == {"seconds_per_epoch_ratio_at_most": 1.3, "bleu_within": 1.0}
    markdown = (out / "results" / "results.md").read_text()
    assert "## Course-built Transformer vs PyTorch's layers" in markdown
    assert f"| seconds per epoch | {comparison['seconds_per_epoch_ratio']:.2f}x |" in markdown


def test_bench_builds_the_course_transformer_from_the_solutions(repo_root, monkeypatch, tmp_path):
    """The course's pieces come from solutions/, whatever COURSE_NOTEBOOKS says (a student's course/...)."""
    monkeypatch.setenv("COURSE_NOTEBOOKS", str(tmp_path))  # nothing there
    pieces = bench.course_pieces()
    for name, piece in pieces.items():
        assert source_notebook(piece).startswith(str(repo_root / "solutions")), f"{name} from {source_notebook(piece)}"
    model = bench.build("transformer", Vocabulary([("a b c", "x y z")]), dict(hidden_size=8, num_heads=2), 0, pieces)
    assert type(model.core) is pieces["Transformer"]


@pytest.mark.parametrize("norm_first", [True, False])
def test_pytorch_baseline_is_the_course_model_with_pytorchs_layers(norm_first, one_thread):
    """Given the course-built model's weights, the baseline computes the same logits (eval mode): the
    two differ by the layers' code only -- embeddings, positions, norms, tied output are the same."""
    vocab = Vocabulary([("je suis grand .", "i am tall ."), ("il est la bas .", "he is over there .")])
    config = dict(hidden_size=16, num_heads=2, num_encoder_layers=2, num_decoder_layers=2, ffn_size=24,
                  norm_first=norm_first)
    torch.manual_seed(0)
    course = build_model("transformer", vocab, **config).eval()
    baseline = build_model("transformer_pytorch", vocab, **config).eval().load_course_weights(course.core)
    assert isinstance(baseline, PyTorchTransformerTranslator) and baseline.num_parameters() == course.num_parameters()
    PositionalEncoding = from_notebook("02-positional-encoding", "PositionalEncoding", folder=bench.SOLUTIONS)
    assert type(baseline.positional_encoding) is PositionalEncoding, "positions: notebook 02's reference"
    source = torch.tensor([[4, 5, 6, 7, 2], [5, 6, 2, 0, 0]])
    target = torch.tensor([[1, 4, 5, 6, 7, 8], [1, 6, 5, 2, 0, 0]])
    with torch.no_grad():
        expected = course(source, source.ne(0), target)
        torch.testing.assert_close(baseline(source, source.ne(0), target), expected, atol=1e-5, rtol=1e-4)
        encoder_output = baseline.encode(source, source.ne(0))
        state, steps = None, []
        for t in range(target.size(1)):
            logits, state = baseline.decode_step(target[:, t], encoder_output, state)
            steps.append(logits)
        torch.testing.assert_close(torch.stack(steps, 1), expected, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(baseline.attention(source, source.ne(0), target),
                                   course.attention(source, source.ne(0), target), atol=1e-5, rtol=1e-4)


def test_bench_starts_both_transformers_from_the_same_weights():
    vocab = Vocabulary([("a b c", "x y z")])
    pieces = bench.course_pieces()
    config = dict(hidden_size=8, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, ffn_size=8)
    ours = bench.build("transformer", vocab, config, 3, pieces)
    theirs = bench.build("transformer_pytorch", vocab, config, 3, pieces)
    assert torch.equal(ours.core.target_embedding.weight, theirs.target_embedding.weight)
    first = ours.core.encoder_layers[0].self_attention.projections["key"].weight
    assert torch.equal(theirs.encoder.layers[0].self_attn.in_proj_weight[8:16], first)


def test_bench_rejects_unknown_models(tmp_path):
    with pytest.raises(SystemExit) as error:
        bench.main(["--models", "gru", "--corpus", str(TINY), "--out", str(tmp_path)])
    assert error.value.code == 2


def test_bench_subwords_times_every_trainer(tmp_path, one_thread):
    """``python -m bench.subwords`` on the tiny corpus: every trainer timed, the two course trainers agree."""
    from bench import subwords

    report = subwords.main(["--corpus", str(TINY), "--setting", "large", "--merges", "30", "--repeats", "2",
                            "--out", str(tmp_path)])  # smoke mode: tiny translators, one epoch
    written = json.loads((tmp_path / "subwords.json").read_text())
    assert written["smoke"] is True and written["merges"] == 30 and written["texts"] > 0
    assert len(written["rows"]) == 4
    course = [row for row in written["rows"] if row["trainer"].startswith("train_bpe")]
    assert [row["same_merges"] for row in course] == [True, True], "train_bpe_fast must learn train_bpe's merges"
    assert all(len(row["seconds_all"]) == 2 and row["seconds"] > 0 for row in written["rows"])
    assert [row["vocabulary"] for row in course] == [256 + 30] * 2
    assert all(row["vocabulary"] > 0 for row in written["rows"]), "a tiny corpus may give SentencePiece fewer pieces"
    markdown = (tmp_path / "subwords.md").read_text()
    assert "Smoke mode" in markdown and "not measured (fewer merges)" in markdown
    assert report["rows"] == written["rows"]
    translators = written["translators"]
    assert [row["system"] for row in translators["rows"]] == ["words", "bpe 400", "unigram 400"]
    for row in translators["rows"]:
        for key in ("bleu_standard_validation", "bleu_standard_test", "chrf_standard_test"):
            assert 0.0 <= row[key] <= 100.0, f"{row['system']} {key} = {row[key]}"
    pairs = {(row["a"], row["b"]) for row in translators["significance"]["test"]["p_values"]}
    assert ("words", "unigram 400") in pairs and ("unigram 400", "words") in pairs
    assert "## Translators: words against subwords" in markdown


@pytest.mark.corpus
@pytest.mark.skipif(not os.environ.get("FRA_ENG_CORPUS"), reason="the real corpus is not available: set FRA_ENG_CORPUS")
def test_bench_bert_pretrains_and_compares_on_the_word_order_task(tmp_path, one_thread):
    """``python -m bench.bert`` in smoke mode: every number of the report is there and in range."""
    from bench import bert

    report = bert.main(["--out", str(tmp_path), "--no-progress"])
    written = json.loads((tmp_path / "bert.json").read_text())
    assert written["smoke"] is True and "Smoke mode" in (tmp_path / "bert.md").read_text()
    assert written["sentences"]["excluded_test_split"] > 0 and written["training"]["steps"] == 30
    for key in ("baseline_accuracy", "untrained_accuracy", "accuracy"):
        assert 0.0 <= written[key] <= 1.0, f"{key} = {written[key]}"
    assert written["training"]["eval_step"][-1] == 30 and written["training"]["eval_accuracy"][-1] == written["accuracy"]
    assert set(written["blanks_after"]) == set(bert.BLANKS) and all(len(v) == 3 for v in written["blanks_after"].values())
    order = written["word_order"]
    assert len(order["models"]) == 4 and len(order["differences"]) == 2
    for name, outcome in order["models"].items():
        assert outcome["low"] <= outcome["accuracy"] <= outcome["high"], name
    assert order["test_pairs"] > 100
    assert all(-1 <= d["difference"] <= 1 and 0 < d["p_value"] <= 1 for d in order["differences"].values())
    assert report["accuracy"] == written["accuracy"]


@pytest.mark.corpus
@pytest.mark.skipif(not os.environ.get("FRA_ENG_CORPUS"), reason="the real corpus is not available: set FRA_ENG_CORPUS")
def test_bench_gpt_trains_samples_caches_and_translates(tmp_path, one_thread):
    """``python -m bench.gpt`` in smoke mode: every number of the report is there and in range."""
    from bench import gpt

    report = gpt.main(["--out", str(tmp_path), "--no-progress"])
    written = json.loads((tmp_path / "gpt.json").read_text())
    assert written["smoke"] is True and "Smoke mode" in (tmp_path / "gpt.md").read_text()
    assert written["sentences"]["excluded_test_split"] > 0
    for name in ("characters", "bpe"):
        result = written[name]
        assert result["steps"] == 30 and 0 < result["nats_per_char"] < result["untrained_nats_per_char"] + 0.5, name
        assert result["nats_per_token"] > 0
    assert written["bpe"]["tokens_per_sentence"] < written["characters"]["tokens_per_sentence"]
    assert 0 < written["unigram_nats_per_char"] < written["uniform_nats_per_char"]
    assert set(written["cache"]["batches"]) == {"1", "8"}
    assert all(v["same_text"] is True and v["speedup"] > 0 for v in written["cache"]["batches"].values())
    assert set(written["samples_after"]) == {"0.0", "0.5", "1.0", "1.5", "top-p 0.9"}
    assert all(len(texts) == 4 for texts in written["samples_after"].values())
    shuffled = written["real_vs_shuffled"]
    assert shuffled["low"] <= shuffled["real_preferred"] <= shuffled["high"] and shuffled["sentences"] > 100
    systems = written["translator"]["systems"]
    assert len(systems) == 2 and all(0 <= s["bleu_standard"] <= 100 for s in systems.values())
    assert systems["decoder-only GPT"]["p_value"] is not None
    assert report["characters"]["nats_per_char"] == written["characters"]["nats_per_char"]
