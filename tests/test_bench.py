"""``python -m bench.translate`` end to end on the tiny corpus, in smoke mode (tiny models)."""
import json
from pathlib import Path

import pytest

from bench import translate as bench
from utils import load_model, translate

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
    markdown = (out / "results" / "results.md").read_text()
    assert "Smoke mode" in markdown, "a smoke run's table must not pass for a benchmark"
    for label in bench.LABELS.values():
        assert f"| {label} |" in markdown, f"{label} missing from the results table"


def test_bench_examples_are_spread_test_sentences_plus_the_typed_one(bench_run):
    _, report = bench_run
    test_sources = []
    for french, _ in bench.build_dataset("large", corpus=str(TINY), verbose=False).test:
        if french not in test_sources:
            test_sources.append(french)
    for r in report["results"]:
        *examples, typed = r["examples"]
        assert len(examples) == min(3, len(test_sources)), f"{r['model']}: expected 3 test examples"
        assert [e["french"] for e in examples] == test_sources[:: max(1, len(test_sources) // 3)][:3]
        assert all(e["references"] for e in examples), "every test example needs its reference(s)"
        assert typed["french"] == bench.TYPED and typed["references"] == []


def test_bench_checkpoints_translate_as_the_trained_models_did(bench_run):
    out, report = bench_run
    for r in report["results"]:
        model = load_model(out / "checkpoints" / f"{r['model']}.pt")
        *_, typed = r["examples"]
        again = translate(model, bench.TYPED)
        assert again == typed["greedy"], (
            f"{r['model']}: the reloaded checkpoint translates {bench.TYPED!r} as {again!r}, the trained model "
            f"gave {typed['greedy']!r} -- weights or vocabulary lost in save/load?")


def test_bench_rejects_unknown_models(tmp_path):
    with pytest.raises(SystemExit) as error:
        bench.main(["--models", "gru", "--corpus", str(TINY), "--out", str(tmp_path)])
    assert error.value.code == 2
