"""Notebook 06 at full size: masked-LM pre-training of the course-built encoder, and what it buys.

    python -m bench.bert [--steps 4000] [--minutes 10] [--hidden 128] [--layers 4] [--out bench/results] [--corpus PATH]

Runs notebook 06's pipeline with the instructor's reference (``solutions/``: the encoder layers of 03,
the BPE of 05, ``mask_tokens``, ``MLMHead``, ``mlm_loss``, ``fill_mask`` and ``MaskedLanguageModel`` of 06)
and the course's framework (``utils.pretraining``):

1. every distinct English sentence of the corpus, the translation test split kept out, 2,000 held out
   for masked-token accuracy and 2,000 for the word-order task;
2. byte-level BPE (2,000 ordinary tokens) trained on the pre-training sentences;
3. pre-training for ``--steps`` steps (or ``--minutes``, whichever first): held-out masked-token accuracy
   against the most-frequent-token baseline; **target: >= 0.30 and >= 3x the baseline in <= 10 minutes of
   training on 2 cores**;
4. fill-in-the-blank examples before and after;
5. word order on held-out minimal pairs (a sentence as written, or with two neighbouring words
   swapped): the pre-trained masked LM alone (pseudo-log-likelihood, no labels), the untrained one, and
   classifiers fine-tuned alike from the pre-trained encoder and from scratch; accuracy with Wilson
   intervals, paired bootstrap tests.

Writes ``<out>/bert.json`` and ``<out>/bert.md``. With ``COURSE_SMOKE=1`` the sizes are tiny and the report
says so (``tests/test_bench.py`` runs it that way).
"""
from __future__ import annotations

import argparse
import datetime
import json
import time
from collections import Counter
from pathlib import Path

import torch

from bench.baselines import SOLUTIONS
from bench.translate import machine
from utils import set_seed, smoke_mode
from utils.data import PROJECT_ROOT
from utils.notebooks import from_notebook
from utils.pretraining import (IGNORE_INDEX, SPECIAL_TOKENS, accuracy_interval, encode_sentences, english_corpus,
                               fine_tune_classifier, fixed_masked_batches, masked_accuracy, paired_difference,
                               prefers_real_order, train_masked_lm, word_order_examples, word_order_pairs)

TARGET_ACCURACY, TARGET_RATIO, TARGET_MINUTES = 0.30, 3.0, 10.0
BLANKS = ["i am very [MASK] .", "he is a [MASK] .", "where is the [MASK] ?", "she [MASK] to school every day .",
          "i don ' t [MASK] what you mean .", "it ' s [MASK] today ."]


def reference():
    """The instructor's definitions of notebooks 05 and 06 (06 loads 03, which loads 01 and 02)."""
    names = ("MaskedLanguageModel", "mask_tokens", "mlm_loss", "fill_mask")
    loaded = dict(zip(names, from_notebook("06-bert", *names, folder=SOLUTIONS)))
    loaded.update(zip(("BPETokenizer", "train_bpe_fast"),
                      from_notebook("05-subwords", "BPETokenizer", "train_bpe_fast", folder=SOLUTIONS)))
    return loaded


def run(args) -> dict:
    smoke = smoke_mode()
    ref = reference()
    set_seed(args.seed)
    corpus = english_corpus(args.corpus, max_sentences=3000 if smoke else None, validation=300 if smoke else 2000,
                            task=600 if smoke else 2000, verbose=False)
    started = time.perf_counter()
    merges = ref["train_bpe_fast"](corpus.train, 300 if smoke else args.vocabulary - 256)
    tokenizer = ref["BPETokenizer"](merges, special_tokens=SPECIAL_TOKENS)
    bpe_seconds = time.perf_counter() - started
    num_ordinary = len(tokenizer) - len(SPECIAL_TOKENS)
    pad_id, mask_id = tokenizer.special_ids["[PAD]"], tokenizer.special_ids["[MASK]"]
    started = time.perf_counter()
    train_ids = encode_sentences(tokenizer, corpus.train)
    validation_ids = encode_sentences(tokenizer, corpus.validation)
    encode_seconds = time.perf_counter() - started

    def mask_fn(ids, special_mask, generator):
        return ref["mask_tokens"](ids, special_mask, generator, mask_id=mask_id, num_ordinary=num_ordinary)

    held_out = fixed_masked_batches(validation_ids, mask_fn, pad_id, num_ordinary, seed=1234)
    labels = torch.cat([b[2][b[2] != IGNORE_INDEX] for b in held_out])
    most_frequent = Counter(t for ids in train_ids for t in ids if t < num_ordinary).most_common(1)[0][0]
    baseline = (labels == most_frequent).float().mean().item()

    config = (dict(hidden_size=32, num_heads=2, num_layers=1, ffn_size=64) if smoke else
              dict(hidden_size=args.hidden, num_heads=args.heads, num_layers=args.layers, ffn_size=4 * args.hidden))
    set_seed(args.seed)
    model = ref["MaskedLanguageModel"](len(tokenizer), padding_index=pad_id, dropout=0.1, **config)
    untrained = masked_accuracy(model, held_out)
    blanks_before = {text: ref["fill_mask"](model, tokenizer, text, 3) for text in BLANKS}
    history = train_masked_lm(model, train_ids, mask_fn=mask_fn, loss_fn=ref["mlm_loss"], pad_id=pad_id,
                              num_ordinary=num_ordinary, steps=30 if smoke else args.steps,
                              minutes=None if smoke else args.minutes, batch_size=args.batch_size, lr=args.lr,
                              warmup_steps=10 if smoke else 300, evaluate=lambda: masked_accuracy(model, held_out),
                              eval_every=10 if smoke else 500, progress=args.progress)
    accuracy = history.eval_accuracy[-1]
    if args.checkpoint:
        torch.save({"model": model.state_dict(), "config": config, "merges": merges}, args.checkpoint)
    blanks_after = {text: ref["fill_mask"](model, tokenizer, text, 3) for text in BLANKS}

    half = len(corpus.task) // 2
    task_train = word_order_examples(corpus.task[:half], seed=0, both=True)
    task_test = word_order_pairs(corpus.task[half:], seed=1)
    fine_tune = dict(epochs=2 if smoke else 4, batch_size=32, lr=3e-4, progress=args.progress)
    set_seed(args.seed + 1)
    scratch = ref["MaskedLanguageModel"](len(tokenizer), padding_index=pad_id, dropout=0.1, **config)
    task = {
        "masked LM alone (no labels)": prefers_real_order(model, tokenizer, task_test),
        "untrained masked LM (no labels)": prefers_real_order(scratch, tokenizer, task_test),
        "pre-trained, fine-tuned": fine_tune_classifier(model, config["hidden_size"], tokenizer, task_train,
                                                        task_test, **fine_tune),
        "from scratch, fine-tuned": fine_tune_classifier(scratch, config["hidden_size"], tokenizer, task_train,
                                                         task_test, **fine_tune),
    }
    differences = {
        "pre-trained vs from scratch, fine-tuned": paired_difference(task["pre-trained, fine-tuned"]["correct"],
                                                                     task["from scratch, fine-tuned"]["correct"]),
        "masked LM alone vs from scratch, fine-tuned": paired_difference(
            task["masked LM alone (no labels)"]["correct"], task["from scratch, fine-tuned"]["correct"]),
    }
    for outcome in task.values():
        outcome["low"], outcome["high"] = accuracy_interval(outcome.pop("correct"))

    minutes = history.seconds / 60
    return {
        "date": datetime.date.today().isoformat(), "machine": machine(), "smoke": smoke,
        "sentences": {"train": len(corpus.train), "validation": len(corpus.validation), "task": len(corpus.task),
                      "excluded_test_split": corpus.excluded},
        "tokenizer": {"vocabulary": len(tokenizer), "ordinary": num_ordinary, "bpe_seconds": bpe_seconds,
                      "encode_seconds": encode_seconds,
                      "tokens_per_sentence": sum(map(len, train_ids)) / len(train_ids)},
        "model": {**config, "parameters": sum(p.numel() for p in model.parameters())},
        "training": {"steps": history.steps, "batch_size": args.batch_size, "lr": args.lr, "minutes": minutes,
                     "tokens_per_second": history.tokens / history.seconds if history.seconds else 0.0,
                     "epochs": history.steps * args.batch_size / len(train_ids),
                     "final_loss": sum(history.step_loss[-50:]) / len(history.step_loss[-50:]),
                     "eval_step": history.eval_step, "eval_minutes": history.eval_minutes,
                     "eval_accuracy": history.eval_accuracy},
        "masked_positions": len(labels), "most_frequent_token": tokenizer.decode([most_frequent]),
        "baseline_accuracy": baseline, "untrained_accuracy": untrained, "accuracy": accuracy,
        "target_met": accuracy >= TARGET_ACCURACY and accuracy >= TARGET_RATIO * baseline and minutes <= TARGET_MINUTES,
        "blanks_before": blanks_before, "blanks_after": blanks_after,
        "word_order": {"train_examples": len(task_train), "test_pairs": len(task_test), "models": task,
                       "differences": differences},
    }


def markdown(report: dict) -> str:
    t, w = report["training"], report["word_order"]
    lines = ["# Notebook 06: masked-LM pre-training of the course-built encoder", ""]
    if report["smoke"]:
        lines += ["**Smoke mode (COURSE_SMOKE=1): tiny data and model, a few steps. The numbers mean nothing.**", ""]
    s, m = report["sentences"], report["model"]
    lines += [
        f"{report['date']}, {report['machine']}. {s['train']:,} pre-training sentences "
        f"({s['excluded_test_split']:,} translation test sentences kept out), {s['validation']:,} held out. "
        f"BPE {report['tokenizer']['vocabulary']:,} ids ({report['tokenizer']['bpe_seconds']:.1f} s to train, "
        f"{report['tokenizer']['tokens_per_sentence']:.1f} tokens per sentence with [CLS]/[SEP]). Encoder: "
        f"{m['num_layers']} layers, d={m['hidden_size']}, {m['num_heads']} heads, {m['parameters']:,} parameters.",
        "",
        "| | held-out masked-token accuracy |",
        "|---|---:|",
        f"| most frequent token ({report['most_frequent_token']!r}) | {report['baseline_accuracy']:.1%} |",
        f"| untrained encoder | {report['untrained_accuracy']:.1%} |",
        f"| pre-trained, {t['steps']:,} steps ({t['epochs']:.1f} epochs), {t['minutes']:.1f} min | "
        f"**{report['accuracy']:.1%}** ({report['accuracy'] / report['baseline_accuracy']:.1f}x) |",
        "",
        f"Target: >= {TARGET_ACCURACY:.0%} and >= {TARGET_RATIO:.0f}x the baseline in <= {TARGET_MINUTES:.0f} minutes: "
        f"**{'met' if report['target_met'] else 'not met'}**. {report['masked_positions']:,} masked positions; "
        f"{t['tokens_per_second']:,.0f} tokens/s; final training loss {t['final_loss']:.2f}.",
        "",
        "Accuracy during training: " + ", ".join(f"{a:.1%} at {mi:.1f} min" for a, mi in zip(t["eval_accuracy"], t["eval_minutes"])),
        "",
        "## Fill in the blank (top 3, before -> after)",
        "",
    ]
    for text, after in report["blanks_after"].items():
        fmt = lambda guesses: ", ".join(f"{token!r} {p:.2f}" for token, p in guesses)
        lines.append(f"- `{text}`: {fmt(report['blanks_before'][text])} -> **{fmt(after)}**")
    lines += [
        "", "## Word order: the real sentence or two neighbouring words swapped?", "",
        f"{w['test_pairs']:,} held-out minimal pairs (a sentence as written, the same with two neighbouring words "
        f"swapped); chance 50%. Fine-tuning: {w['train_examples']:,} labelled examples (both versions of "
        f"{w['train_examples'] // 2:,} other held-out sentences).", "",
        "| model | pairs right | 95% interval | seconds |", "|---|---:|---|---:|",
        *[f"| {name} | {m['accuracy']:.1%} | {m['low']:.1%}–{m['high']:.1%} | {m['seconds']:.0f} |"
          for name, m in w["models"].items()],
        "",
        *[f"{name}: {d['difference']:+.1%} (paired bootstrap 95% interval {d['low']:+.1%} to {d['high']:+.1%}, "
          f"p = {d['p_value']:.3g})." for name, d in w["differences"].items()],
    ]
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=4000, help="pre-training steps at most (default 4000)")
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of pre-training at most (default 10)")
    parser.add_argument("--checkpoint", default=None, help="save the pre-trained model's state_dict there")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--vocabulary", type=int, default=2000, help="ordinary BPE tokens (256 bytes + merges)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", default=None, help="fra-eng.zip / fra.txt (default: FRA_ENG_CORPUS, data/, download)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench" / "results"), help="results folder")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    report = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bert.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "bert.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
