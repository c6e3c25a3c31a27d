"""Scoring translators honestly, and looking inside them.

* :func:`evaluate_model` -- BLEU and chrF (sacrebleu) on a held-out split, two ways:

  - **single-reference** (``bleu``, ``chrf``): every test pair is scored against its own English
    sentence only -- the usual corpus BLEU of a test file with one reference per line. A French
    sentence with three English translations appears three times, each time with one of them.
  - **multi-reference** (``bleu_multi``, ``chrf_multi``): each distinct French sentence is
    translated once and scored against *all* its English translations in the split. Fairer to
    a correct translation that happens to differ from one reference, so higher.

* :func:`results_table` -- a pandas table of several results;
* :func:`plot_loss_curves` -- training and validation losses of several runs on one figure;
* :func:`attention_weights`, :func:`plot_attention` -- where the decoder looks (Transformer
  cross-attention, or the attention LSTM's Luong attention).
"""
from __future__ import annotations

import inspect
import time
from collections import OrderedDict
from typing import Dict, List, Mapping, Optional, Sequence, Tuple, Union

import sacrebleu
import torch

from .data import Pair, detokenize, normalize
from .decoding import DecodeFn, encode_sentences, translate
from .vocab import EOS, SOS_INDEX

Pairs = Sequence[Tuple[str, str]]


def group_references(pairs: Pairs) -> "OrderedDict[str, List[str]]":
    """``{french: [all its english translations in pairs]}``, in order of first appearance."""
    references: "OrderedDict[str, List[str]]" = OrderedDict()
    for source, target in pairs:
        references.setdefault(source, []).append(target)
    return references


def _references_of(pairs: Pairs, originals: Optional[Mapping[Pair, Pair]]) -> List[str]:
    """The corpus's own English sentence of every pair (``originals`` from ``build_dataset``)."""
    missing = [pair for pair in pairs if pair not in originals]
    if missing:
        raise KeyError(f"{len(missing)} pairs have no original sentence, e.g. {missing[0]!r}: pass the "
                       f"`originals` of the DatasetSplits these pairs come from (splits.originals)")
    return [originals[pair][1] for pair in pairs]


def standard_bleu() -> "sacrebleu.metrics.BLEU":
    """sacreBLEU as papers report it: its own ``13a`` tokenisation of plain text; lower-cased here,
    because the course's models write lower-case English."""
    return sacrebleu.metrics.BLEU(lowercase=True)


def _lines(hypotheses: Mapping[str, str], pairs: Pairs, originals: Optional[Mapping[Pair, Pair]],
           plain: bool) -> Tuple[List[str], List[str]]:
    """One hypothesis per pair, twice: normalised tokens and plain text (for standard BLEU).

    A word-level translator's hypotheses are keyed by the normalised French of a pair and written in
    normalised tokens (detokenised for plain text); a ``plain`` one (subwords) translates the original
    French sentence (``originals``) and writes plain text (normalised with ``utils.normalize``)."""
    if not plain:
        tokens = [hypotheses[source] for source, _ in pairs]
        return tokens, [detokenize(text) for text in tokens]
    if originals is None:
        raise ValueError("a plain-text translator is scored against the original sentences: pass `originals` "
                         "(splits.originals)")
    _references_of(pairs, originals)  # a clear error when a pair has no original
    text = [hypotheses[originals[pair][0]] for pair in pairs]
    return [normalize(line) for line in text], text


def score_translations(hypotheses: Mapping[str, str], pairs: Pairs,
                       originals: Optional[Mapping[Pair, Pair]] = None, plain: bool = False) -> Dict[str, float]:
    """BLEU and chrF of ``hypotheses`` (``{french: english translation}``) against ``pairs``.

    Returns ``bleu`` / ``chrf`` (single reference: each pair against its own English) and
    ``bleu_multi`` / ``chrf_multi`` (each distinct French sentence once, against all its English
    translations), on the course's normalised text, plus the sacrebleu signatures. With
    ``originals`` (``splits.originals``), also ``bleu_standard`` / ``chrf_standard``: the
    hypotheses detokenised (``utils.data.detokenize``) against the corpus's own English
    sentences, scored by sacreBLEU's standard tokenisation, case-insensitive.

    ``plain=True``: the hypotheses are plain text keyed by the *original* French sentences (a
    subword translator, notebook 05); they are scored as they are for the standard scores and
    normalised (``utils.normalize``) for the others. Needs ``originals``.
    """
    tokens, text = _lines(hypotheses, pairs, originals, plain)
    first = {}  # normalised French -> the hypothesis of its first pair
    for (source, _), line in zip(pairs, tokens):
        first.setdefault(source, line)
    # Single reference: one line per pair.
    single_hypotheses = tokens
    single_references = [[target for _, target in pairs]]
    # Multi reference: one line per distinct source; sacrebleu wants one stream per reference
    # number, padded with None where a sentence has fewer references.
    grouped = group_references(pairs)
    multi_hypotheses = [first[source] for source in grouped]
    most = max(len(refs) for refs in grouped.values())
    multi_references = [[refs[i] if i < len(refs) else None for refs in grouped.values()] for i in range(most)]

    # force=True: the text is tokenised on purpose (normalize() splits punctuation off), so
    # sacrebleu need not warn about it; its own 13a tokenisation then changes nothing.
    bleu, chrf = sacrebleu.metrics.BLEU(force=True), sacrebleu.metrics.CHRF()
    scores = {"bleu": bleu.corpus_score(single_hypotheses, single_references).score,
              "chrf": chrf.corpus_score(single_hypotheses, single_references).score,
              "bleu_signature": str(bleu.get_signature())}
    bleu, chrf = sacrebleu.metrics.BLEU(force=True), sacrebleu.metrics.CHRF()
    scores.update({"bleu_multi": bleu.corpus_score(multi_hypotheses, multi_references).score,
                   "chrf_multi": chrf.corpus_score(multi_hypotheses, multi_references).score,
                   "bleu_multi_signature": str(bleu.get_signature())})
    if originals is not None:
        references = [_references_of(pairs, originals)]
        bleu, chrf = standard_bleu(), sacrebleu.metrics.CHRF(lowercase=True)
        scores.update({"bleu_standard": bleu.corpus_score(text, references).score,
                       "chrf_standard": chrf.corpus_score(text, references).score,
                       "bleu_standard_signature": str(bleu.get_signature())})
    scores.update({"pairs": len(pairs), "sentences": len(grouped), "max_references": most})
    return scores


def evaluate_model(model, pairs: Pairs, beam_size: int = 1, batch_size: int = 256, length_penalty: float = 0.6,
                   return_translations: bool = False, decode_fn: Optional[DecodeFn] = None,
                   originals: Optional[Mapping[Pair, Pair]] = None) -> Dict:
    """Translate every distinct source sentence of ``pairs`` (e.g. ``splits.test``) and score it.

    ``beam_size=1`` decodes greedily, with ``decode_fn`` when given (e.g. your ``greedy_decode`` of
    notebook 04), else with :func:`~utils.decoding.beam_search` and one beam (the same thing).
    ``originals`` (``splits.originals``) adds the standard, detokenised scores. A model with a
    ``SubwordVocabulary`` translates the original French sentences and needs ``originals``.

    Returns
    -------
    dict with ``bleu``, ``chrf`` (single reference), ``bleu_multi``, ``chrf_multi`` (multi reference),
    ``bleu_standard``, ``chrf_standard`` (with ``originals``), ``beam_size``, ``decode_seconds``,
    ``seconds_per_sentence`` and, with ``return_translations``, ``translations`` (``{french: english}``,
    the original French for a subword model).
    """
    plain = model.vocab.writes_plain_text
    if plain and originals is None:
        raise ValueError(f"{type(model.vocab).__name__} translates the original sentences: pass "
                         f"`originals` (splits.originals)")
    # Distinct French sentences: normalised (a word-level model), or as in the corpus (subwords).
    sources = list(dict.fromkeys(originals[pair][0] for pair in pairs)) if plain else list(group_references(pairs))
    start = time.perf_counter()
    outputs = translate(model, sources, beam_size=beam_size, batch_size=batch_size, length_penalty=length_penalty,
                        decode_fn=decode_fn)
    seconds = time.perf_counter() - start
    hypotheses = dict(zip(sources, outputs))
    result = {"beam_size": beam_size, **score_translations(hypotheses, pairs, originals, plain=plain),
              "decode_seconds": seconds,
              "seconds_per_sentence": seconds / max(len(sources), 1)}
    if return_translations:
        result["translations"] = hypotheses
    return result


def compare_systems(systems: Mapping[str, Mapping[str, str]], pairs: Pairs,
                    originals: Optional[Mapping[Pair, Pair]] = None, n_samples: int = 1000,
                    baseline: Optional[str] = None, plain: Sequence[str] = ()) -> Dict:
    """Is the difference real? sacreBLEU's paired bootstrap between every two systems.

    Parameters
    ----------
    systems : ``{name: {french: english translation}}`` (e.g. ``evaluate_model(...)["translations"]``)
    pairs : the test pairs the translations are of (one line per pair, as ``bleu``)
    originals : optional
        ``splits.originals``: test the standard, detokenised BLEU (else the normalised one).
    n_samples : bootstrap resamples (sacreBLEU's default 1000; seeded by ``SACREBLEU_SEED``, default 12345)
    baseline : optional
        Test every system against this one only (e.g. greedy decoding in a sweep of beam sizes);
        default: every two systems.
    plain : names of the systems that translate the original sentences into plain text (subword
        models, see :func:`score_translations`); needs ``originals``.

    Returns
    -------
    dict with ``scores`` ``{name: {"bleu", "mean", "ci"}}`` -- the score, the bootstrap mean and the
    half-width of its 95% confidence interval -- ``p_values`` ``{(a, b): p}`` for every ordered pair
    (paired bootstrap: how often resampled test sets do *not* show the observed difference; small =
    real; with ``baseline``, only the pairs ``(baseline, name)``), ``metric`` (``"standard"`` or
    ``"normalised"``) and ``signature``.
    """
    from sacrebleu.significance import PairedTest

    names = list(systems)
    if len(names) < 2:
        raise ValueError("compare_systems needs at least two systems")
    if baseline is not None and baseline not in systems:
        raise KeyError(f"baseline {baseline!r} is not one of the systems {names}")
    unknown = sorted(set(plain) - set(names))
    if unknown:
        raise KeyError(f"plain names {unknown} are not systems ({names})")
    both = {name: _lines(systems[name], pairs, originals, name in plain) for name in names}
    if originals is not None:
        references = [_references_of(pairs, originals)]
        lines = {name: both[name][1] for name in names}
        make_metric, metric = standard_bleu, "standard"
    else:
        references = [[target for _, target in pairs]]
        lines = {name: both[name][0] for name in names}
        make_metric, metric = (lambda: sacrebleu.metrics.BLEU(force=True)), "normalised"
    scores, p_values, signature = {}, {}, ""
    for reference in [baseline] if baseline is not None else names:  # each system the baseline once
        order = [reference] + [name for name in names if name != reference]
        test = PairedTest([(name, lines[name]) for name in order], {"BLEU": make_metric()}, references,
                          test_type="bs", n_samples=n_samples)
        signatures, results = test()
        signature = str(next(iter(signatures.values())))
        for name, result in zip(order, next(v for k, v in results.items() if k != "System")):
            if name == reference or name not in scores:
                scores[name] = {"bleu": result.score, "mean": result.mean, "ci": result.ci}
            if name != reference:
                # sacreBLEU's test degenerates when the scores are equal (p = 1 / (n + 1)): no difference, p = 1.
                same = lines[name] == lines[reference] or result.score == scores[reference]["bleu"]
                p_values[(reference, name)] = 1.0 if same else result.p_value
    scores = {name: scores[name] for name in names}
    return {"scores": scores, "p_values": p_values, "metric": metric, "signature": signature}


def significance_table(comparison: Mapping) -> "pd.DataFrame":
    """:func:`compare_systems` as a table: BLEU with its 95% interval, then the p-value against every other."""
    import pandas as pd

    names = list(comparison["scores"])
    rows = {}
    for name in names:
        score = comparison["scores"][name]
        row = {"BLEU": round(score["bleu"], 1),
               "95% CI": f"{score['mean'] - score['ci']:.1f} - {score['mean'] + score['ci']:.1f}"}
        for other in names:
            if (other, name) in comparison["p_values"]:
                row[f"p vs {other}"] = round(comparison["p_values"][(other, name)], 4)
            elif any(pair[0] == other for pair in comparison["p_values"]):
                row[f"p vs {other}"] = ""
        rows[name] = row
    frame = pd.DataFrame.from_dict(rows, orient="index")
    frame.index.name = f"model ({comparison['metric']} BLEU)"
    return frame


def results_table(results: Union[Mapping[str, Mapping], Sequence[Mapping]], columns: Optional[Sequence[str]] = None):
    """A pandas DataFrame with one row per model: ``{name: {column: value}}`` or a list of dicts with
    a ``"model"`` key. Floats are rounded to 1 decimal for display by the caller if wanted."""
    import pandas as pd

    if isinstance(results, Mapping):
        frame = pd.DataFrame.from_dict(results, orient="index")
        frame.index.name = "model"
    else:
        frame = pd.DataFrame(list(results)).set_index("model")
    if columns is not None:
        frame = frame[[c for c in columns if c in frame.columns]]
    return frame


def plot_loss_curves(histories: Union[Mapping[str, object], Sequence[object]], x: str = "minutes",
                     ax=None, smooth: int = 50):
    """Training (thin, per step, smoothed) and validation (thick, per epoch) losses of several runs.

    Parameters
    ----------
    histories : `{name: History}` or a list of `History`
    x : `"minutes"` or `"epochs"`, optional (default = `"minutes"`)
        Training time makes runs of different speeds comparable; epochs show data efficiency.
    smooth : `int`, optional (default = `50`)
        Moving average window of the per-step training loss.
    """
    import matplotlib.pyplot as plt
    import numpy as np

    if not isinstance(histories, Mapping):
        histories = {h.name: h for h in histories}
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 4.5))
    for color, (name, history) in zip(plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4, histories.items()):
        steps = np.arange(1, len(history.step_loss) + 1)
        epoch_ends = np.asarray(history.epoch_step, dtype=float)
        if x == "minutes":
            end_minutes = np.cumsum(history.epoch_seconds) / 60
            # Step times: linear within each epoch.
            step_x = np.interp(steps, np.concatenate([[0], epoch_ends]), np.concatenate([[0], end_minutes]))
            epoch_x, label = end_minutes, "training time (minutes)"
        elif x == "epochs":
            epoch_x = np.asarray(history.epoch_fraction)
            step_x = np.interp(steps, np.concatenate([[0], epoch_ends]), np.concatenate([[0], epoch_x]))
            label = "epochs"
        else:
            raise ValueError(f"x must be 'minutes' or 'epochs', got {x!r}")
        losses = np.asarray(history.step_loss)
        if smooth > 1 and len(losses) >= smooth:
            losses = np.convolve(losses, np.ones(smooth) / smooth, mode="valid")
            step_x = step_x[smooth - 1:]
        ax.plot(step_x, losses, color=color, linewidth=0.8, alpha=0.6, label=f"{name} train")
        if history.validation_loss:
            ax.plot(epoch_x[: len(history.validation_loss)], history.validation_loss, color=color, linewidth=2,
                    marker="o", markersize=3, label=f"{name} validation")
    ax.set_xlabel(label)
    ax.set_ylabel("loss per target token")
    ax.set_title("Training (label-smoothed) and validation (plain NLL) loss")
    ax.grid(alpha=0.3)
    ax.legend()
    return ax


def attention_weights(model, sentence: str, translation: Optional[str] = None, layer: int = -1):
    """Where the decoder looked while writing ``translation`` of ``sentence``.

    Parameters
    ----------
    model : `AttentionLSTMSeq2Seq` or `TransformerTranslator` (any model whose ``attention`` works)
    sentence : `str`
        French, raw or normalised.
    translation : `str`, optional
        English to force (teacher forcing); default: the model's own greedy translation.
    layer : `int`, optional (default = `-1`)
        Transformer decoder layer.

    Returns
    -------
    source_words, target_words : lists of `str` (``<end>`` included on both sides)
    weights : `torch.Tensor` ~ (target words, source words) for the LSTM, or
        ~ (heads, target words, source words) for the Transformer. Row ``t`` is the attention
        used to predict ``target_words[t]``.
    """
    if translation is None:
        translation = translate(model, sentence)
    source_indices = encode_sentences(model, [sentence])[0]
    target_words = normalize(translation).split()
    decoder_input = [SOS_INDEX] + model.vocab.encode(target_words, "target")
    device = model.device
    source_tokens = torch.tensor([source_indices], device=device)
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        arguments = (source_tokens, source_tokens.ne(0), torch.tensor([decoder_input], device=device))
        if "layer" in inspect.signature(model.attention).parameters:  # Transformers: one layer of several
            weights = model.attention(*arguments, layer=layer)[0]
        else:
            weights = model.attention(*arguments)[0]
    model.train(was_training)
    source_words = model.vocab.decode(source_indices, "source")
    return source_words, target_words + [EOS], weights.cpu()


def plot_attention(model, sentence: str, translation: Optional[str] = None, layer: int = -1,
                   head: Union[int, str, None] = None, ax=None):
    """Heatmap of :func:`attention_weights`: rows = English words produced, columns = French words.

    ``head``: for the Transformer, ``None`` averages the heads of ``layer``, an int picks one,
    ``"all"`` draws one panel per head. Returns the matplotlib axes (an array for ``"all"``).
    """
    import matplotlib.pyplot as plt

    source_words, target_words, weights = attention_weights(model, sentence, translation, layer)
    if weights.dim() == 3:  # Transformer: (heads, tgt, src)
        where = "last decoder layer" if layer == -1 else f"decoder layer {layer}"
        if head == "all":
            heads = weights.size(0)
            fig, axes = plt.subplots(1, heads, figsize=(3.2 * heads, 3.2), squeeze=False)
            for h, axis in enumerate(axes[0]):
                _heatmap(axis, weights[h], source_words, target_words, f"{where}, head {h}")
            fig.tight_layout()
            return axes[0]
        title = (f"Transformer cross-attention\n{where}, "
                 + (f"mean of {weights.size(0)} heads" if head is None else f"head {head}"))
        weights = weights.mean(0) if head is None else weights[head]
    else:
        title = "LSTM + attention (Luong)"
    if ax is None:
        _, ax = plt.subplots(figsize=(0.6 * len(source_words) + 2, 0.5 * len(target_words) + 1.5))
    _heatmap(ax, weights, source_words, target_words, title)
    return ax


def _heatmap(ax, weights, source_words, target_words, title):
    ax.imshow(weights.numpy(), cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_words)), source_words, rotation=60, ha="right")
    ax.set_yticks(range(len(target_words)), target_words)
    ax.set_xlabel("French (source)")
    ax.set_ylabel("English (produced)")
    ax.set_title(title)
