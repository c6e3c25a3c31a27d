"""Notebook 05 at full size: how fast BPE learns its merges, and translators on words against subwords.

    python -m bench.subwords [--merges 1000] [--repeats 3] [--no-translators] [--out bench/results] [--corpus PATH]

On the training split of the translation data (French and English sentences as typed, the texts
notebook 05 trains on), times:

- ``train_bpe`` of notebook 05, which recounts every pair after each merge (the graded TODO);
- ``train_bpe_fast`` of notebook 05, which updates the counts of the pre-tokens a merge touches
  (the optional exercise) -- the course's reference trainer; target: 1,000 merges in <= 10 s on 2 cores;
- SentencePiece's BPE (C++) with the same vocabulary size (256 bytes + the merges), and its unigram model.

Both trainers come from the instructor's notebook (``solutions/05-subwords``), never from a copy.
Each is timed ``--repeats`` times (the median is reported) and must learn the same merges.

Then (unless ``--no-translators``) the comparison of notebook 05, section 6, with more subword
settings than the notebook has time for: the course-built Transformer (``solutions/03``, trained with
``solutions/04``'s shift and loss) with ``utils.recipes.subword_comparison()``, on notebook 04's
normalised words and on SentencePiece pieces of the sentences as typed -- BPE and unigram, the
vocabulary sizes of ``--sizes`` -- scored by standard BLEU (beam search as ``utils.recipes.DECODING``)
on the validation split (where a setting is chosen) and the test split, with paired bootstrap tests.
Writes ``<out>/subwords.json`` and ``<out>/subwords.md``.
"""
from __future__ import annotations

import argparse
import datetime
import io
import json
import statistics
import sys
import time
from pathlib import Path

import sentencepiece as spm

from bench.baselines import SOLUTIONS
from bench.translate import load, machine
from utils import (SubwordVocabulary, Vocabulary, build_dataset, build_model, compare_systems, evaluate_model,
                   set_seed, smoke_mode, train)
from utils.data import PROJECT_ROOT
from utils.notebooks import from_notebook
from utils.recipes import DECODING, subword_comparison

#: Seconds for the reference trainer (train_bpe_fast) to learn 1,000 merges on 2 cores (reported, not enforced).
TARGET_SECONDS = 10.0
TARGET_MERGES = 1000


def training_texts(splits) -> list:
    """The training split's sentences as typed, French and English: what notebook 05 trains BPE on."""
    return [text for pair in splits.train for text in splits.originals[pair]]


def sentencepiece_trainer(model_type: str, vocab_size: int):
    def run(texts):
        model = io.BytesIO()
        spm.SentencePieceTrainer.train(sentence_iterator=iter(texts), model_writer=model, model_type=model_type,
                                       vocab_size=vocab_size, normalization_rule_name="identity",
                                       character_coverage=1.0, hard_vocab_limit=False, minloglevel=2)
        return spm.SentencePieceProcessor(model_proto=model.getvalue()).get_piece_size()
    return run


def timed(fn, texts, repeats: int):
    """(median seconds, every time, the last result)."""
    seconds, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(texts)
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), seconds, result


def compare_translators(splits, sizes, model_types=("bpe", "unigram")) -> dict:
    """Train the word-level and the subword translators of notebook 05 and score them."""
    Transformer = from_notebook("03-transformer", "Transformer", folder=SOLUTIONS)
    shift_targets, sequence_loss = from_notebook("04-translation", "shift_targets", "sequence_loss", folder=SOLUTIONS)
    recipe = subword_comparison(smoke_mode())
    raw = {name: [splits.originals[pair] for pair in split] for name, split in splits.items()}
    systems = [("words", Vocabulary(splits.train), None)]
    for model_type in model_types:
        for size in sizes:
            size = recipe["subwords"]["vocab_size"] if smoke_mode() else size
            systems.append((f"{model_type} {size}", None, dict(model_type=model_type, vocab_size=size)))
    rows, outputs = [], {"validation": {}, "test": {}}
    for name, vocabulary, subwords in systems:
        if subwords is None:
            data = (splits.train, splits.validation)
        else:
            vocabulary = SubwordVocabulary.train(raw["train"], **subwords)
            data = (vocabulary.tokenize_pairs(raw["train"]), vocabulary.tokenize_pairs(raw["validation"]))
        set_seed(0)
        model = build_model("transformer", vocabulary, transformer_class=Transformer, **recipe["model"])
        print(f"\n== translator on {name}: {vocabulary}, {model.num_parameters():,} parameters", flush=True)
        history = train(model, *data, shift_fn=shift_targets, loss_fn=sequence_loss, name=name, **recipe["train"])
        row = {"system": name, "parameters": model.num_parameters(), "epochs": history.epochs,
               "seconds_per_epoch": history.seconds_per_epoch,
               "tokens_per_sentence": [sum(len(pair[i]) if subwords else len(pair[i].split()) for pair in data[0])
                                       / len(data[0]) for i in range(2)]}
        for split in ("validation", "test"):
            result = evaluate_model(model, getattr(splits, split), **DECODING, originals=splits.originals,
                                    return_translations=True)
            outputs[split][name] = result["translations"]
            row[f"bleu_standard_{split}"] = result["bleu_standard"]
            row[f"chrf_standard_{split}"] = result["chrf_standard"]
        rows.append(row)
        print({k: v for k, v in row.items() if k.startswith(("bleu", "chrf"))}, flush=True)
    plain = [name for name, _, subwords in systems if subwords is not None]
    tests = {}
    for split in ("validation", "test"):
        comparison = compare_systems(outputs[split], getattr(splits, split), splits.originals, plain=plain)
        tests[split] = {"scores": comparison["scores"], "signature": comparison["signature"],
                        "p_values": [{"a": a, "b": b, "p": p} for (a, b), p in comparison["p_values"].items()]}
    return {"recipe": recipe, "decoding": DECODING, "rows": rows, "significance": tests}


def translator_markdown(result: dict) -> list:
    lines = ["", "## Translators: words against subwords (notebook 05, section 6)", "",
             f"The course-built Transformer, recipe `{result['recipe']['train']}`, model `{result['recipe']['model']}`; "
             f"decoding {result['decoding']}; standard BLEU (sacreBLEU, case-insensitive) with the 95% interval of "
             "the paired bootstrap. A setting is chosen on the validation split; the test split reports it.", "",
             "| system | tokens per sentence (fr / en) | s/epoch | validation BLEU | test BLEU (95% CI) | test chrF |",
             "|---|---|---:|---:|---:|---:|"]
    scores = result["significance"]["test"]["scores"]
    for row in result["rows"]:
        score = scores[row["system"]]
        fr, en = row["tokens_per_sentence"]
        lines.append(f"| {row['system']} | {fr:.1f} / {en:.1f} | {row['seconds_per_epoch']:.1f} | "
                     f"{row['bleu_standard_validation']:.1f} | {row['bleu_standard_test']:.1f} "
                     f"({score['mean'] - score['ci']:.1f}-{score['mean'] + score['ci']:.1f}) | {row['chrf_standard_test']:.1f} |")
    lines += ["", "Paired bootstrap p-values on the test split (small: the difference is real):", ""]
    for row in result["significance"]["test"]["p_values"]:
        if row["a"] < row["b"]:
            lines.append(f"- {row['a']} vs {row['b']}: p = {row['p']:.3f}")
    lines += ["", f"`{result['significance']['test']['signature']}`"]
    return lines


def markdown(report: dict) -> str:
    m, rows = report["machine"], report["rows"]
    lines = [
        "# Subwords: how fast BPE learns its merges",
        "",
        f"{report['date']}, `{report['command']}`" + (" -- **Smoke mode: not a benchmark.**" if report["smoke"] else ""),
        f"{m['cpu']}, {m['cores']} cores, Python {m['python']}, sentencepiece {report['sentencepiece']}; "
        f"load average {report['load_before']} before, {report['load_after']} after.",
        f"Data: {report['texts']:,} training sentences (French and English as typed, {report['characters']:,} "
        f"characters); {report['merges']} merges (vocabulary {256 + report['merges']}); median of {report['repeats']} runs.",
        "",
        "| trainer | seconds (median) | runs | vocabulary | same merges as train_bpe |",
        "|---|---:|---|---:|---|",
    ]
    for row in rows:
        same = "" if row["same_merges"] is None else ("yes" if row["same_merges"] else "**no**")
        runs = ", ".join(f"{s:.2f}" for s in row["seconds_all"])
        lines.append(f"| {row['trainer']} | {row['seconds']:.2f} | {runs} | {row['vocabulary']:,} | {same} |")
    fast = next(row for row in rows if row["trainer"].startswith("train_bpe_fast"))
    verdict = "met" if fast["seconds"] <= TARGET_SECONDS and report["merges"] >= TARGET_MERGES else (
        "not measured (fewer merges)" if report["merges"] < TARGET_MERGES else "**missed**")
    lines += ["", f"Target: the reference trainer (train_bpe_fast) learns {TARGET_MERGES:,} merges in <= "
              f"{TARGET_SECONDS:g} s on 2 cores: {verdict} ({fast['seconds']:.2f} s)."]
    if report.get("translators"):
        lines += translator_markdown(report["translators"])
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--merges", type=int, default=TARGET_MERGES, help="merges to learn (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs per trainer (median reported)")
    parser.add_argument("--setting", default="classic", help="dataset setting (default: classic)")
    parser.add_argument("--corpus", default=None, help="fra-eng.zip / fra.txt (default: FRA_ENG_CORPUS, data/, download)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench" / "results"), help="results folder")
    parser.add_argument("--no-translators", dest="translators", action="store_false",
                        help="only time the BPE trainers (the translators train for about 20 minutes)")
    parser.add_argument("--sizes", default="2000", help="SentencePiece vocabulary sizes per language (comma-separated)")
    args = parser.parse_args(argv)
    if args.merges < 1 or args.repeats < 1:
        parser.error("--merges and --repeats must be at least 1")

    train_bpe, train_bpe_fast = from_notebook("05-subwords", "train_bpe", "train_bpe_fast", folder=SOLUTIONS)
    splits = build_dataset(args.setting, corpus=args.corpus, write=False)
    texts = training_texts(splits)
    report = {"date": datetime.datetime.now().isoformat(timespec="seconds"),
              "command": "python -m bench.subwords " + " ".join(argv if argv is not None else sys.argv[1:]),
              "machine": machine(), "smoke": smoke_mode(), "sentencepiece": spm.__version__,
              "texts": len(texts), "characters": sum(map(len, texts)), "merges": args.merges,
              "repeats": args.repeats, "load_before": load(), "rows": []}
    trainers = [
        ("train_bpe (recounts every pair)", lambda t: train_bpe(t, args.merges)),
        ("train_bpe_fast (incremental counts, the reference)", lambda t: train_bpe_fast(t, args.merges)),
        ("SentencePiece BPE (C++)", sentencepiece_trainer("bpe", 256 + args.merges)),
        ("SentencePiece unigram (C++)", sentencepiece_trainer("unigram", 256 + args.merges)),
    ]
    reference = None
    for name, fn in trainers:
        seconds, every, result = timed(fn, texts, args.repeats)
        if isinstance(result, list):  # merges of a course trainer
            reference = result if reference is None else reference
            same, vocabulary = result == reference, 256 + len(result)
        else:
            same, vocabulary = None, result
        report["rows"].append({"trainer": name, "seconds": seconds, "seconds_all": every, "vocabulary": vocabulary,
                               "same_merges": same})
        print(f"{name:52s} {seconds:7.2f} s  (vocabulary {vocabulary:,})", flush=True)
    if args.translators:
        report["translators"] = compare_translators(splits, [int(size) for size in args.sizes.split(",")])
    report["load_after"] = load()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "subwords.json").write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    (out / "subwords.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
