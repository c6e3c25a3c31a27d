"""Notebook 07 at full size: the course-built GPT as a language model, its cache, and as a translator.

    python -m bench.gpt [--steps 5000] [--minutes 8] [--no-bpe] [--no-translator] [--out bench/results] [--corpus PATH]

Runs notebook 07's pipeline with the instructor's reference (``solutions/``: the layers of 01 and 03, the
shift and loss of 04, the BPE of 05, and ``next_token_batch``, ``GPT``, the sampling filters,
``cached_self_attention`` and ``generate`` of 07) and the course's framework (``utils.language_model``):

1. every distinct English sentence of the corpus, the translation test split kept out, 2,000 held out;
2. a character-level GPT trained for ``--steps`` steps (or ``--minutes``, whichever first): held-out nats per
   character against the unigram baseline; **target: <= 1.45 nats per character in <= 10 minutes of training
   on 2 cores**; samples before and after at several temperatures; real against word-shuffled sentences;
3. the same model on byte-level BPE tokens (notebook 05's tokenizer, 2,000 ordinary tokens), same budget,
   scored per token and per character (the same text: every character and each sentence's end);
4. generation of 200 new tokens with and without the key/value cache, for one sequence and for 8
   (**target: >= 3x faster**);
5. the decoder-only GPT as a translator (``french <end> <start> english``) against the encoder-decoder of
   notebook 04, same width, same epochs, same strict split, greedy decoding: standard BLEU with sacreBLEU's
   paired bootstrap.

Writes ``<out>/gpt.json`` and ``<out>/gpt.md``. With ``COURSE_SMOKE=1`` the sizes are tiny and the report says
so (``tests/test_bench.py`` runs it that way).
"""
from __future__ import annotations

import argparse
import copy
import datetime
import functools
import json
import math
import random
import time
from pathlib import Path

import torch

from bench.baselines import SOLUTIONS
from bench.translate import machine
from utils import Vocabulary, build_dataset, build_model, compare_systems, evaluate_model, recipes, set_seed, smoke_mode, train
from utils.data import PROJECT_ROOT
from utils.language_model import (CharacterVocabulary, first_sentence, held_out_loss, sentence_log_likelihoods,
                                  shuffle_words, time_generation, train_language_model, unigram_loss)
from utils.notebooks import from_notebook
from utils.pretraining import accuracy_interval, english_corpus

TARGET_NATS, TARGET_MINUTES, TARGET_SPEEDUP = 1.45, 10.0, 3.0
TEMPERATURES = (0.0, 0.5, 1.0, 1.5)


def reference():
    """The instructor's definitions of notebooks 03, 04, 05 and 07."""
    names = ("GPT", "next_token_batch", "generate")
    loaded = dict(zip(names, from_notebook("07-gpt", *names, folder=SOLUTIONS)))
    loaded["Transformer"] = from_notebook("03-transformer", "Transformer", folder=SOLUTIONS)
    loaded.update(zip(("shift_targets", "sequence_loss"),
                      from_notebook("04-translation", "shift_targets", "sequence_loss", folder=SOLUTIONS)))
    loaded.update(zip(("BPETokenizer", "train_bpe_fast"),
                      from_notebook("05-subwords", "BPETokenizer", "train_bpe_fast", folder=SOLUTIONS)))
    return loaded


def train_lm(ref, vocab_size, boundary_id, pad_id, train_ids, validation_ids, validation_characters, config, args,
             smoke, desc):
    """One language model trained on id lists; its history and held-out nats per token and per character."""
    batch_fn = functools.partial(ref["next_token_batch"], boundary_id=boundary_id, pad_id=pad_id,
                                 block_size=args.block_size)
    set_seed(args.seed)
    model = ref["GPT"](vocab_size, block_size=args.block_size, dropout=0.0, **config)
    evaluate = lambda: held_out_loss(model, validation_ids, batch_fn, characters=validation_characters)
    before = evaluate()
    history = train_language_model(model, train_ids, batch_fn=batch_fn, steps=30 if smoke else args.steps,
                                   minutes=None if smoke else args.minutes, batch_size=args.batch_size, lr=args.lr,
                                   warmup_steps=10 if smoke else 200, evaluate=evaluate,
                                   eval_every=10 if smoke else 500, progress=args.progress, desc=desc)
    result = {
        "vocabulary": vocab_size, "parameters": sum(p.numel() for p in model.parameters()),
        "tokens_per_sentence": sum(map(len, train_ids)) / len(train_ids) + 1,
        "steps": history.steps, "minutes": history.seconds / 60,
        "epochs": history.steps * args.batch_size / len(train_ids),
        "tokens_per_second": history.tokens / history.seconds if history.seconds else 0.0,
        "untrained_nats_per_char": before, "nats_per_char": history.eval_loss[-1],
        "nats_per_token": held_out_loss(model, validation_ids, batch_fn),
        "eval_minutes": history.eval_minutes, "eval_nats_per_char": history.eval_loss,
    }
    return model, batch_fn, result


def run(args) -> dict:
    smoke = smoke_mode()
    ref = reference()
    device = torch.device("cpu")
    corpus = english_corpus(args.corpus, max_sentences=3000 if smoke else None, validation=300 if smoke else 2000,
                            task=10 if smoke else 2000, verbose=False)
    characters = [len(s) + 1 for s in corpus.validation]
    config = (dict(hidden_size=32, num_heads=2, num_layers=1, ffn_size=64) if smoke else
              dict(hidden_size=args.hidden, num_heads=args.heads, num_layers=args.layers, ffn_size=4 * args.hidden))

    # 1. characters
    chars = CharacterVocabulary(corpus.train)
    train_ids = [chars.encode(s) for s in corpus.train]
    validation_ids = [chars.encode(s) for s in corpus.validation]
    unigram = unigram_loss(train_ids, validation_ids, chars.boundary_id, len(chars))
    generator = lambda seed: torch.Generator().manual_seed(seed)
    prompt = torch.full((4, 1), chars.boundary_id)

    def write(model, temperature, seed=1, **options):
        ids = ref["generate"](model, prompt, 100, temperature=temperature, generator=generator(seed), **options)
        return [first_sentence(chars.decode(row)) for row in ids.tolist()]

    set_seed(args.seed)
    untrained = ref["GPT"](len(chars), block_size=args.block_size, dropout=0.0, **config)
    samples_before = write(untrained, 1.0)
    model, batch_fn, char_result = train_lm(ref, len(chars), chars.boundary_id, chars.pad_id, train_ids, validation_ids,
                                            characters, config, args, smoke, "characters")
    samples_after = {str(t): write(model, t) for t in TEMPERATURES}
    samples_after["top-p 0.9"] = write(model, 1.0, top_p=0.9)

    rng = random.Random(0)
    real = [s for s in corpus.validation if len(set(s.split())) >= 2][:1000]
    shuffled = [shuffle_words(s, rng) for s in real]
    likelihood = {name: sentence_log_likelihoods(model, [chars.encode(s) for s in texts], batch_fn)
                  for name, texts in (("real", real), ("shuffled", shuffled))}
    n_chars = sum(len(s) + 1 for s in real)
    prefers = [a > b for a, b in zip(likelihood["real"], likelihood["shuffled"])]
    low, high = accuracy_interval(prefers)
    real_vs_shuffled = {"sentences": len(real), "real_nats_per_char": -sum(likelihood["real"]) / n_chars,
                        "shuffled_nats_per_char": -sum(likelihood["shuffled"]) / n_chars,
                        "real_preferred": sum(prefers) / len(prefers), "low": low, "high": high}

    # 2. the key/value cache: 200 new tokens, greedy, for one sequence and for a batch of 8
    new_tokens = 20 if smoke else 200
    long_model = ref["GPT"](len(chars), block_size=256, dropout=0.0, **config)
    state = copy.deepcopy(model.state_dict())
    state["position_embedding.weight"] = torch.cat([state["position_embedding.weight"],
                                                    long_model.position_embedding.weight.detach()[args.block_size:]])
    long_model.load_state_dict(state)
    long_model.eval()
    cache = {"new_tokens": new_tokens, "batches": {}}
    for batch in (1, 8):
        start = torch.tensor([[chars.boundary_id] + chars.encode("i am")] * batch)
        same = torch.equal(ref["generate"](long_model, start, new_tokens, temperature=0),
                           ref["generate"](long_model, start, new_tokens, temperature=0, use_cache=True))
        seconds = {c: time_generation(lambda: ref["generate"](long_model, start, new_tokens, temperature=0,
                                                              use_cache=c), repeats=1 if smoke else 3)
                   for c in (False, True)}
        cache["batches"][str(batch)] = {"same_text": same, "seconds_without": seconds[False],
                                        "seconds_with": seconds[True], "speedup": seconds[False] / seconds[True]}

    # 3. BPE tokens, the same budget
    bpe_result = None
    if args.bpe:
        started = time.perf_counter()
        merges = ref["train_bpe_fast"](corpus.train, 300 if smoke else args.vocabulary - 256)
        tokenizer = ref["BPETokenizer"](merges, special_tokens=["<pad>", "\n"])
        bpe_seconds = time.perf_counter() - started
        bpe_train = [tokenizer.encode(s) for s in corpus.train]
        bpe_validation = [tokenizer.encode(s) for s in corpus.validation]
        _, _, bpe_result = train_lm(ref, len(tokenizer), tokenizer.special_ids["\n"], tokenizer.special_ids["<pad>"],
                                    bpe_train, bpe_validation, characters, config, args, smoke, "BPE tokens")
        bpe_result["bpe_seconds"] = bpe_seconds
        bpe_result["cut_sentences"] = sum(len(ids) + 2 > args.block_size + 1 for ids in bpe_train)

    # 4. the translator
    translator = None
    if args.translator:
        splits = build_dataset("classic", corpus=args.corpus, max_pairs=600 if smoke else None, verbose=False)
        vocab = Vocabulary(splits.train)
        recipe = recipes(smoke)["transformer"]
        # notebook 07's short version of notebook 04's recipe: warm-up 100 steps, dropout 0.1
        budget = {**recipe["train"], "epochs": 1 if smoke else args.translator_epochs, "warmup_steps": 100,
                  "average_last": 1 if smoke else 2, "progress": args.progress}
        recipe["model"]["dropout"] = 0.1
        width = recipe["model"]
        decoder_only = dict(hidden_size=width["hidden_size"], num_heads=width["num_heads"],
                            num_layers=width["num_encoder_layers"] + width["num_decoder_layers"],
                            ffn_size=width["ffn_size"], dropout=width.get("dropout", 0.1))
        builders = {
            "encoder-decoder (notebook 04)": lambda: build_model("transformer", vocab, transformer_class=ref["Transformer"],
                                                                 **recipe["model"]),
            "decoder-only GPT": lambda: build_model("decoder_only", vocab, lm_class=ref["GPT"], block_size=64,
                                                    **decoder_only),
        }
        outputs, systems = {}, {}
        for name, build in builders.items():
            set_seed(args.seed)
            model_t = build()
            history = train(model_t, splits.train, splits.validation, shift_fn=ref["shift_targets"],
                            loss_fn=ref["sequence_loss"], name=name, device=device, **budget)
            result = evaluate_model(model_t, splits.test, beam_size=1, originals=splits.originals,
                                    return_translations=True)
            outputs[name] = result.pop("translations")
            systems[name] = {"parameters": model_t.num_parameters(), "epochs": history.epochs,
                             "minutes": history.train_seconds / 60, "validation_loss": history.final_validation_loss,
                             "bleu_standard": result["bleu_standard"], "chrf_standard": result["chrf_standard"],
                             "decode_seconds": result["decode_seconds"]}
        comparison = compare_systems(outputs, splits.test, splits.originals, baseline="encoder-decoder (notebook 04)")
        baseline = next(iter(builders))
        for name in systems:
            systems[name]["p_value"] = comparison["p_values"].get((baseline, name))
        translator = {"systems": systems, "scores": comparison["scores"], "signature": comparison["signature"],
                      "test_pairs": len(splits.test), "decoding": "greedy"}

    return {
        "date": datetime.date.today().isoformat(), "machine": machine(), "smoke": smoke,
        "sentences": {"train": len(corpus.train), "validation": len(corpus.validation),
                      "excluded_test_split": corpus.excluded},
        "model": {**config, "block_size": args.block_size, "batch_size": args.batch_size, "lr": args.lr},
        "unigram_nats_per_char": unigram, "uniform_nats_per_char": math.log(len(chars)),
        "characters": char_result,
        "target_met": char_result["nats_per_char"] <= TARGET_NATS and char_result["minutes"] <= TARGET_MINUTES,
        "samples_before": samples_before, "samples_after": samples_after,
        "real_vs_shuffled": real_vs_shuffled, "cache": cache, "bpe": bpe_result, "translator": translator,
    }


def markdown(report: dict) -> str:
    c, m = report["characters"], report["model"]
    lines = ["# Notebook 07: the course-built GPT", ""]
    if report["smoke"]:
        lines += ["**Smoke mode (COURSE_SMOKE=1): tiny data and model, a few steps. The numbers mean nothing.**", ""]
    lines += [
        f"{report['date']}, {report['machine']}. {report['sentences']['train']:,} training sentences "
        f"({report['sentences']['excluded_test_split']:,} translation test sentences kept out), "
        f"{report['sentences']['validation']:,} held out. GPT: {m['num_layers']} layers, d={m['hidden_size']}, "
        f"{m['num_heads']} heads, block {m['block_size']}, batch {m['batch_size']} sentences, lr {m['lr']}.",
        "",
        "## Language model: held-out nats per character (every character and each sentence's end)",
        "",
        "| model | tokens | parameters | steps | epochs | minutes | tokens/s | nats/token | **nats/char** |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| uniform over characters | | | | | | | | {report['uniform_nats_per_char']:.3f} |",
        f"| unigram (character frequencies) | | | | | | | | {report['unigram_nats_per_char']:.3f} |",
    ]
    for name, r in (("GPT on characters", c), ("GPT on BPE tokens", report["bpe"])):
        if r:
            lines.append(f"| {name} | {r['vocabulary']:,} ids, {r['tokens_per_sentence']:.1f}/sentence | "
                         f"{r['parameters']:,} | {r['steps']:,} | {r['epochs']:.1f} | {r['minutes']:.1f} | "
                         f"{r['tokens_per_second']:,.0f} | {r['nats_per_token']:.3f} | **{r['nats_per_char']:.3f}** |")
    lines += [
        "",
        f"Target: <= {TARGET_NATS} nats per character in <= {TARGET_MINUTES:.0f} minutes (characters): "
        f"**{'met' if report['target_met'] else 'not met'}**. During training: "
        + ", ".join(f"{v:.3f} at {t:.1f} min" for v, t in zip(c["eval_nats_per_char"], c["eval_minutes"])),
        "",
    ]
    r = report["real_vs_shuffled"]
    lines += [f"Real against word-shuffled held-out sentences ({r['sentences']:,}): {r['real_nats_per_char']:.3f} against "
              f"{r['shuffled_nats_per_char']:.3f} nats per character; the real order more likely in "
              f"**{r['real_preferred']:.1%}** ({r['low']:.1%}–{r['high']:.1%}).", ""]
    k = report["cache"]
    lines += [f"Key/value cache, {k['new_tokens']} new tokens, greedy (target >= {TARGET_SPEEDUP:.0f}x):", "",
              "| sequences | without cache | with cache | speed-up | same text |", "|---:|---:|---:|---:|---|"]
    lines += [f"| {b} | {v['seconds_without']:.2f} s | {v['seconds_with']:.2f} s | **{v['speedup']:.1f}x** | {v['same_text']} |"
              for b, v in k["batches"].items()]
    lines += ["",
              "## Samples", "", f"- untrained, temperature 1: " + " / ".join(repr(s[:60]) for s in report["samples_before"])]
    for name, texts in report["samples_after"].items():
        label = f"temperature {name}" if not name.startswith("top") else name
        lines.append(f"- trained, {label}: " + " / ".join(repr(s[:70]) for s in texts))
    t = report["translator"]
    if t:
        lines += ["", "## Decoder-only against encoder-decoder, as translators", "",
                  f"{t['test_pairs']:,} test pairs of the strict split; {t['decoding']}; {t['signature']}", "",
                  "| model | parameters | epochs | training minutes | validation loss | standard BLEU (95% CI) | p | chrF |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for name, s in t["systems"].items():
            score = t["scores"][name]
            ci = f"{score['bleu']:.1f} ({score['mean'] - score['ci']:.1f}–{score['mean'] + score['ci']:.1f})"
            p = s.get("p_value")
            lines.append(f"| {name} | {s['parameters']:,} | {s['epochs']:.0f} | {s['minutes']:.1f} | "
                         f"{s['validation_loss']:.3f} | {ci} | {'' if p is None else f'{p:.3g}'} | {s['chrf_standard']:.1f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=5000, help="training steps at most (default 5000)")
    parser.add_argument("--minutes", type=float, default=8.0, help="minutes of training at most (default 8)")
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--block-size", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--vocabulary", type=int, default=2000, help="ordinary BPE tokens (256 bytes + merges)")
    parser.add_argument("--no-bpe", dest="bpe", action="store_false", help="skip the BPE-token language model")
    parser.add_argument("--no-translator", dest="translator", action="store_false", help="skip the translators")
    parser.add_argument("--translator-epochs", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--corpus", default=None, help="fra-eng.zip / fra.txt (default: FRA_ENG_CORPUS, data/, download)")
    parser.add_argument("--out", default=str(PROJECT_ROOT / "bench" / "results"), help="results folder")
    parser.add_argument("--no-progress", dest="progress", action="store_false")
    args = parser.parse_args(argv)
    report = run(args)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpt.json").write_text(json.dumps(report, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    (out / "gpt.md").write_text(markdown(report), encoding="utf-8")
    print(markdown(report))
    return report


if __name__ == "__main__":
    main()
