"""Train every translator of the course in full mode on the real corpus, score it, write the results.

    python -m bench.translate [--minutes M] [--setting classic] [--out bench/results]
                              [--models transformer,transformer_pytorch,lstm_attention,lstm] [--corpus PATH]

Each model is built and trained with ``utils.recipes()`` (the settings notebook 04 uses; its time
budget unless ``--minutes`` gives every model the same one), then scored on the held-out test
split: BLEU and chrF, greedy and beam search, single- and multi-reference (see
``utils.evaluation``). Writes ``<out>/results.json`` and ``<out>/results.md`` and saves the trained
models as ``checkpoints/<model>.pt`` (git-ignored) for the notebook to reuse with ``load_model``.

The course's own pieces come from the instructor's reference notebooks in ``solutions/``: the
Transformer of notebook 03 (``"transformer"``, the course-built one), and the ``shift_targets``,
``sequence_loss`` and ``greedy_decode`` of notebook 04 that train and decode every model.
``"transformer_pytorch"`` (``bench/baselines.py``) is the same Transformer built from PyTorch's
layers, trained with the same recipe on the same data from the same initial weights: the report
compares the two (seconds per epoch, BLEU).
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

from bench.baselines import SOLUTIONS
from utils import (Vocabulary, build_dataset, build_model, compare_systems, evaluate_model, get_device, recipes,
                   save_model, set_seed, smoke_mode, train, translate)
from utils.recipes import DECODING
from utils.data import PROJECT_ROOT
from utils.notebooks import from_notebook

MODELS = ("transformer", "transformer_pytorch", "lstm_attention", "lstm")
LABELS = {"transformer": "Transformer (course-built)", "transformer_pytorch": "Transformer (PyTorch layers)",
          "lstm_attention": "LSTM + attention", "lstm": "LSTM (no attention)"}
#: The baseline trains with the recipe of the model it is the baseline of.
RECIPE_OF = {"transformer_pytorch": "transformer"}
TYPED = "Je suis très fatigué ce soir."  # a sentence as a person types it (capitals, accents)
BEAM = DECODING["beam_size"]
LENGTH_PENALTY = DECODING["length_penalty"]
#: The beam-size / length-penalty sweep (validation split, course-built Transformer) that chose DECODING.
SWEEP_BEAMS, SWEEP_PENALTIES = (1, 2, 4, 8), (0.0, 0.6, 1.0)
#: Targets of the course-built Transformer against the PyTorch-layer one (reported, not enforced).
TARGET_SPEED_RATIO = 1.3  # seconds per epoch, course-built / PyTorch
TARGET_BLEU_POINTS = 1.0  # |BLEU difference|, greedy and beam


def course_pieces():
    """The reference solutions the bench trains and decodes with (never copies in utils/)."""
    pieces = dict(zip(("shift_targets", "sequence_loss", "greedy_decode"),
                      from_notebook("04-translation", "shift_targets", "sequence_loss", "greedy_decode",
                                    folder=SOLUTIONS)))
    pieces["Transformer"] = from_notebook("03-transformer", "Transformer", folder=SOLUTIONS)
    return pieces


def build(name: str, vocab: Vocabulary, config: dict, seed: int, pieces: dict):
    """``name`` built from ``config``; the course's Transformer from solutions/, the PyTorch one from
    the same initial weights (the course-built model the same seed gives)."""
    set_seed(seed)
    if name == "transformer":
        return build_model(name, vocab, transformer_class=pieces["Transformer"], **config)
    if name == "transformer_pytorch":
        course = build_model("transformer", vocab, transformer_class=pieces["Transformer"], **config)
        return build_model(name, vocab, **config).load_course_weights(course.core)
    return build_model(name, vocab, **config)


def machine() -> dict:
    """What the numbers were measured on."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as file:
            cpu = next(line.split(":", 1)[1].strip() for line in file if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "device": str(get_device()), "python": platform.python_version(), "platform": platform.platform()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def load() -> list:
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def run_model(name: str, splits, args, recipe: dict, pieces: dict) -> dict:
    train_kwargs = dict(recipe["train"])
    if args.minutes is not None:
        train_kwargs.update(minutes=args.minutes, epochs=None)
    min_freq = train_kwargs.pop("min_freq", 1)
    vocab = Vocabulary(splits.train, min_freq=min_freq)
    model = build(name, vocab, recipe["model"], args.seed, pieces)
    print(f"\n== {LABELS[name]}: {model.num_parameters():,} parameters, {train_kwargs}", flush=True)
    load_before = load()
    history = train(model, splits.train, splits.validation, name=name, seed=args.seed,
                    shift_fn=pieces["shift_targets"], loss_fn=pieces["sequence_loss"], **train_kwargs)
    load_after = load()
    greedy = pieces["greedy_decode"]
    scores = {beam: evaluate_model(model, splits.test, beam_size=beam, length_penalty=LENGTH_PENALTY,
                                   return_translations=True, decode_fn=greedy, originals=splits.originals)
              for beam in (1, BEAM)}
    checkpoint = save_model(model, Path(args.checkpoints) / f"{name}.pt", history=history.to_dict())
    test_sources = list(scores[1]["translations"])  # distinct French test sentences, in split order
    sources = test_sources[:: max(1, len(test_sources) // max(1, args.examples))][: args.examples]
    references = {}
    for source, target in splits.test:
        references.setdefault(source, []).append(target)
    examples = [{"french": s, "references": references[s], "greedy": scores[1]["translations"][s],
                 f"beam{BEAM}": scores[BEAM]["translations"][s]} for s in sources]
    examples.append({"french": TYPED, "references": [], "greedy": translate(model, TYPED, decode_fn=greedy),
                     f"beam{BEAM}": translate(model, TYPED, beam_size=BEAM)})
    result = {
        "model": name, "label": LABELS[name], "parameters": model.num_parameters(),
        "bleu_greedy": scores[1]["bleu"], f"bleu_beam{BEAM}": scores[BEAM]["bleu"],
        "bleu_multi_greedy": scores[1]["bleu_multi"], f"bleu_multi_beam{BEAM}": scores[BEAM]["bleu_multi"],
        "chrf_greedy": scores[1]["chrf"], f"chrf_beam{BEAM}": scores[BEAM]["chrf"],
        "chrf_multi_greedy": scores[1]["chrf_multi"], f"chrf_multi_beam{BEAM}": scores[BEAM]["chrf_multi"],
        "bleu_standard_greedy": scores[1]["bleu_standard"], f"bleu_standard_beam{BEAM}": scores[BEAM]["bleu_standard"],
        "chrf_standard_greedy": scores[1]["chrf_standard"], f"chrf_standard_beam{BEAM}": scores[BEAM]["chrf_standard"],
        "budget_minutes": train_kwargs.get("minutes"), "epochs": history.epochs,
        "seconds_per_epoch": history.seconds_per_epoch, "tokens_per_second": history.tokens_per_second,
        "train_seconds": history.train_seconds, "wall_seconds": history.seconds,
        "final_validation_loss": history.final_validation_loss,
        "decode_seconds_greedy": scores[1]["decode_seconds"], f"decode_seconds_beam{BEAM}": scores[BEAM]["decode_seconds"],
        "load_average_before": load_before, "load_average_after": load_after,
        "model_config": model.config, "train_config": {**train_kwargs, "min_freq": min_freq},
        "checkpoint": str(checkpoint), "examples": examples,
        "bleu_signature": scores[1]["bleu_signature"], "bleu_multi_signature": scores[1]["bleu_multi_signature"],
        "bleu_standard_signature": scores[1]["bleu_standard_signature"],
    }
    if args.sweep and name == "transformer":
        result["beam_sweep"] = beam_sweep(model, splits)
    result["_translations"] = {beam: scores[beam]["translations"] for beam in (1, BEAM)}
    print(f"{LABELS[name]}: BLEU {result['bleu_greedy']:.1f} greedy / {result[f'bleu_beam{BEAM}']:.1f} beam-{BEAM} "
          f"(standard {result['bleu_standard_greedy']:.1f} / {result[f'bleu_standard_beam{BEAM}']:.1f}), "
          f"{history.epochs:.1f} epochs in {history.train_seconds / 60:.1f} min, "
          f"val loss {history.final_validation_loss:.3f}", flush=True)
    return result


def beam_sweep(model, splits) -> dict:
    """Standard BLEU (95% CI, paired bootstrap against greedy) and time per sentence on the validation
    split for every beam size and length penalty of the sweep."""
    outputs, seconds = {}, {}
    for beam in SWEEP_BEAMS:
        for penalty in SWEEP_PENALTIES[:1] if beam == 1 else SWEEP_PENALTIES:
            key = f"beam {beam}, alpha {penalty}"
            result = evaluate_model(model, splits.validation, beam_size=beam, length_penalty=penalty,
                                    return_translations=True)
            outputs[key], seconds[key] = result["translations"], result["seconds_per_sentence"]
    tested = compare_systems(outputs, splits.validation, splits.originals, baseline="beam 1, alpha 0.0")
    rows = []
    for key in outputs:
        beam, penalty = key.replace("beam ", "").split(", alpha ")
        rows.append({"beam": int(beam), "length_penalty": float(penalty), **_plain(tested["scores"][key]),
                     "p_vs_greedy": tested["p_values"].get(("beam 1, alpha 0.0", key)),
                     "ms_per_sentence": 1000 * seconds[key]})
    return {"split": "validation", "signature": tested["signature"], "rows": rows}


def _plain(score: dict) -> dict:
    return {key: float(value) for key, value in score.items()}


def significance(results: list, splits) -> dict:
    """Paired bootstrap between every two models: standard BLEU with beam search (DECODING)."""
    if len(results) < 2:
        return {}
    tested = compare_systems({r["label"]: r["_translations"][BEAM] for r in results}, splits.test, splits.originals)
    return {"decoding": DECODING, "signature": tested["signature"],
            "scores": {label: _plain(score) for label, score in tested["scores"].items()},
            "p_values": [{"a": a, "b": b, "p": p} for (a, b), p in tested["p_values"].items()]}


def significance_markdown(tested: dict) -> list:
    if not tested:
        return []
    labels = list(tested["scores"])
    p = {(row["a"], row["b"]): row["p"] for row in tested["p_values"]}
    lines = ["## Is the difference real?", "",
             f"Standard BLEU with beam {tested['decoding']['beam_size']} (length penalty "
             f"{tested['decoding']['length_penalty']}), its 95% confidence interval and the paired-bootstrap p-value of "
             f"every two models (sacreBLEU, `{tested['signature']}`): below 0.05 the test set shows a real "
             "difference; above it cannot tell the two apart.", "",
             "| model | standard BLEU | 95% CI | " + " | ".join(f"p vs {label}" for label in labels) + " |",
             "|---|---:|---:|" + "---:|" * len(labels)]
    for label in labels:
        score = tested["scores"][label]
        cells = ["-" if other == label else f"{p[(other, label)]:.3f}" for other in labels]
        lines.append(f"| {label} | {score['bleu']:.1f} | {score['mean'] - score['ci']:.1f} - {score['mean'] + score['ci']:.1f} "
                     f"| " + " | ".join(cells) + " |")
    return lines + [""]


def sweep_markdown(results: list) -> list:
    sweep = next((r["beam_sweep"] for r in results if "beam_sweep" in r), None)
    if not sweep:
        return []
    lines = ["## Beam size and length penalty (course-built Transformer, validation split)", "",
             f"Standard BLEU with 95% CI, p-value against greedy decoding, decoding time (batches of 256) "
             f"(`{sweep['signature']}`). The course decodes with {DECODING} (`utils.recipes.DECODING`).", "",
             "| beam | length penalty | standard BLEU | 95% CI | p vs greedy | ms / sentence |",
             "|---:|---:|---:|---:|---:|---:|"]
    for row in sweep["rows"]:
        p = "-" if row["p_vs_greedy"] is None else f"{row['p_vs_greedy']:.3f}"
        lines.append(f"| {row['beam']} | {row['length_penalty']:g} | {row['bleu']:.1f} "
                     f"| {row['mean'] - row['ci']:.1f} - {row['mean'] + row['ci']:.1f} | {p} | {row['ms_per_sentence']:.1f} |")
    return lines + [""]


def compare(results: list) -> dict:
    """Course-built Transformer against the PyTorch-layer one: speed ratio and BLEU differences."""
    by_model = {r["model"]: r for r in results}
    if not {"transformer", "transformer_pytorch"} <= set(by_model):
        return {}
    ours, theirs = by_model["transformer"], by_model["transformer_pytorch"]
    ratio = ours["seconds_per_epoch"] / theirs["seconds_per_epoch"] if theirs["seconds_per_epoch"] else float("nan")
    differences = {key: ours[key] - theirs[key] for key in ("bleu_greedy", f"bleu_beam{BEAM}")}
    return {
        "seconds_per_epoch_ratio": ratio,
        "tokens_per_second_ratio": (ours["tokens_per_second"] / theirs["tokens_per_second"]
                                    if theirs["tokens_per_second"] else float("nan")),
        "decode_seconds_ratio_greedy": (ours["decode_seconds_greedy"] / theirs["decode_seconds_greedy"]
                                        if theirs["decode_seconds_greedy"] else float("nan")),
        f"decode_seconds_ratio_beam{BEAM}": (ours[f"decode_seconds_beam{BEAM}"] / theirs[f"decode_seconds_beam{BEAM}"]
                                             if theirs[f"decode_seconds_beam{BEAM}"] else float("nan")),
        **{f"{key}_difference": value for key, value in differences.items()},
        "targets": {"seconds_per_epoch_ratio_at_most": TARGET_SPEED_RATIO, "bleu_within": TARGET_BLEU_POINTS},
        "meets_speed_target": ratio <= TARGET_SPEED_RATIO,
        "meets_bleu_target": all(abs(d) <= TARGET_BLEU_POINTS for d in differences.values()),
    }


def comparison_markdown(comparison: dict) -> list:
    if not comparison:
        return []
    yes = {True: "yes", False: "**no**"}
    return [
        "## Course-built Transformer vs PyTorch's layers", "",
        "Same model (embeddings, positions, pre/post-norm, dropout, tied output), same recipe, same data, same "
        "initial weights; only the layers' code differs: notebook 03's reference (built on notebook 01's "
        "attention) against `torch.nn.TransformerEncoderLayer` / `TransformerDecoderLayer`.", "",
        "| | course-built / PyTorch | target | met |", "|---|---:|---:|---:|",
        f"| seconds per epoch | {comparison['seconds_per_epoch_ratio']:.2f}x "
        f"| <= {comparison['targets']['seconds_per_epoch_ratio_at_most']}x | {yes[comparison['meets_speed_target']]} |",
        f"| BLEU greedy | {comparison['bleu_greedy_difference']:+.1f} points "
        f"| within {comparison['targets']['bleu_within']:g} | {yes[abs(comparison['bleu_greedy_difference']) <= TARGET_BLEU_POINTS]} |",
        f"| BLEU beam-{BEAM} | {comparison[f'bleu_beam{BEAM}_difference']:+.1f} points "
        f"| within {comparison['targets']['bleu_within']:g} "
        f"| {yes[abs(comparison[f'bleu_beam{BEAM}_difference']) <= TARGET_BLEU_POINTS]} |",
        f"| decoding time, greedy / beam-{BEAM} | {comparison['decode_seconds_ratio_greedy']:.2f}x / "
        f"{comparison[f'decode_seconds_ratio_beam{BEAM}']:.2f}x | - | - |", "",
        "Decoding: the PyTorch baseline caches projected keys/values; the course-built model caches the "
        "self-attention inputs and re-projects them at every step (see `utils.models.TransformerTranslator`).", "",
    ]


def markdown(report: dict) -> str:
    m, data = report["machine"], report["data"]
    lines = [
        "# Translation benchmark (French -> English)", "",
        f"Run {report['date']} with `{report['command']}`.", "",
        *(["**Smoke mode** (`COURSE_SMOKE=1`): tiny models, a few steps. These numbers measure nothing.", ""]
          if report.get("smoke") else []),
        f"Machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']} with {m['threads']} threads, device {m['device']}"
        + (f" ({m['gpu']})" if "gpu" in m else "") + ".",
        f"Data: setting `{data['setting']}`, {data['train']:,} training / {data['validation']:,} validation / "
        f"{data['test']:,} test pairs ({data['test_sentences']:,} distinct French test sentences), split by "
        f"connected components: no French and no English sentence in two splits.", "",
        f"| model | params | BLEU greedy | BLEU beam-{BEAM} | standard BLEU greedy | standard BLEU beam-{BEAM} "
        f"| multi-ref BLEU beam-{BEAM} | chrF beam-{BEAM} | epochs | train (min) | s/epoch | tokens/s | val loss | load avg |",
        "|---|" + "---:|" * 13,
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['label']} | {r['parameters'] / 1e6:.1f}M | {r['bleu_greedy']:.1f} | {r[f'bleu_beam{BEAM}']:.1f} "
            f"| {r['bleu_standard_greedy']:.1f} | {r[f'bleu_standard_beam{BEAM}']:.1f} "
            f"| {r[f'bleu_multi_beam{BEAM}']:.1f} | {r[f'chrf_standard_beam{BEAM}']:.1f} "
            f"| {r['epochs']:.1f} | {r['train_seconds'] / 60:.1f} | {r['seconds_per_epoch']:.1f} | {r['tokens_per_second']:,.0f} "
            f"| {r['final_validation_loss']:.3f} | {r['load_average_before'][0] if r['load_average_before'] else '-'}"
            f"->{r['load_average_after'][0] if r['load_average_after'] else '-'} |")
    lines += [
        "",
        "* **BLEU** (sacrebleu on the course's normalised, lower-case tokens, e.g. `i ' m tired .`): every test "
        "pair against its own English sentence; **multi-ref** translates each distinct French sentence once and "
        "scores it against all its English translations in the test split.",
        "* **standard BLEU** / **chrF**: the output detokenised (`i'm tired.`) against the corpus's own English "
        "sentences, sacreBLEU's `13a` tokenisation, case-insensitive -- how papers report BLEU (but on this test "
        "set, which is held out on both sides; not comparable with published figures on other test sets).",
        f"* Signatures: normalised `{report['results'][0]['bleu_signature']}`, multi-ref "
        f"`{report['results'][0]['bleu_multi_signature']}`, standard `{report['results'][0]['bleu_standard_signature']}`."
        if report["results"] else "",
        f"* Decoding: greedy is notebook 04's reference `greedy_decode`; beam search uses beam {BEAM}, length penalty "
        f"{LENGTH_PENALTY} (`utils.recipes.DECODING`).",
        "* **train (min)**: training steps only; **tokens/s**: target tokens (labels) per second of training steps; "
        "**s/epoch**: training seconds per full epoch; **val loss**: plain NLL per target token on the validation split "
        "(no label smoothing; of the returned, possibly averaged, weights); **load avg**: 1-minute load average of the "
        "machine before -> after training (other jobs share the cores).",
        "", *significance_markdown(report.get("significance", {})), *sweep_markdown(report["results"]),
        *comparison_markdown(report.get("comparison", {})), "## Example translations", "",
    ]
    for r in report["results"]:
        lines += [f"### {r['label']}", "", f"| French | reference(s) | greedy | beam-{BEAM} |", "|---|---|---|---|"]
        for e in r["examples"]:
            lines.append(f"| {e['french']} | {' / '.join(e['references']) or '-'} | {e['greedy']} | {e[f'beam{BEAM}']} |")
        lines.append("")
    return "\n".join(lines)


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=None,
                        help="training budget of every model (default: each recipe's own)")
    parser.add_argument("--setting", default="classic", help="dataset setting (default: classic)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench" / "results"), help="results folder")
    parser.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    parser.add_argument("--corpus", default=None, help="fra-eng.zip / fra.txt (default: FRA_ENG_CORPUS, data/, download)")
    parser.add_argument("--checkpoints", default=str(PROJECT_ROOT / "checkpoints"), help="where trained models go")
    parser.add_argument("--max-pairs", type=int, default=None, help="subsample the corpus (quick checks only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=5, help="example test translations per model")
    parser.add_argument("--no-sweep", dest="sweep", action="store_false",
                        help="skip the beam-size / length-penalty sweep of the course-built Transformer")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.models.split(",") if n.strip()]
    unknown = set(names) - set(MODELS)
    if unknown:
        parser.error(f"unknown models {sorted(unknown)}; choose from {MODELS}")

    splits = build_dataset(args.setting, corpus=args.corpus, max_pairs=args.max_pairs)
    report = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "command": "python -m bench.translate " + " ".join(argv if argv is not None else sys.argv[1:]),
        "machine": machine(),
        "smoke": smoke_mode(),
        "data": {"setting": args.setting, "max_pairs": args.max_pairs, "train": len(splits.train),
                 "validation": len(splits.validation), "test": len(splits.test),
                 "test_sentences": len({s for s, _ in splits.test})},
        "results": [],
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    all_recipes = recipes(smoke=report["smoke"])
    pieces = course_pieces()
    for name in names:
        report["results"].append(run_model(name, splits, args, all_recipes[RECIPE_OF.get(name, name)], pieces))
        report["comparison"] = compare(report["results"])
        report["significance"] = significance(report["results"], splits)
        report["total_seconds"] = time.perf_counter() - start
        # Written after every model: a long run interrupted later still leaves its results.
        saved = {**report, "results": [{k: v for k, v in r.items() if not k.startswith("_")} for r in report["results"]]}
        (out / "results.json").write_text(json.dumps(saved, indent=2) + "\n")
        (out / "results.md").write_text(markdown(report) + "\n")
    print(f"\nWrote {out / 'results.json'} and {out / 'results.md'} in {report['total_seconds'] / 60:.1f} minutes")
    return report


if __name__ == "__main__":
    main()
