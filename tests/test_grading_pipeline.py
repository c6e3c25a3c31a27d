"""End to end: release each assignment, submit fake students, autograde them with nbgrader.

For every assignment of ``solutions/`` one nbgrader course is built in a temporary folder and ONE
``nbgrader autograde`` run grades all of its fake students:

- ``solution``: the release with the instructor's solution typed into the solution cells;
- ``release``: the release handed in untouched;
- one student per variant file ``tests/submissions/<assignment>/<variant>.py`` (see
  ``tests/grading_harness.py``): realistic wrong implementations must lose points, correct alternative
  implementations must get full marks.

A wrong variant that gets full marks means the notebook's tests have a hole: strengthen the tests,
never the variant. Run with ``-s`` to see the table of scores (also written to the pytest tmp dir).
"""
from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

import grading_harness as grading

pytestmark = pytest.mark.slow

#: Variants an assignment must have, by expected outcome: name -> what it gets wrong / does instead.
REQUIRED_VARIANTS = {
    "01-attention": {
        "loses points": {
            "no_scale": "no 1/sqrt(d) scaling of the scores",
            "softmax_over_queries": "softmax over the queries axis instead of the keys axis",
            "key_transpose_1_2": "key.transpose(1, 2): a shape error with 4-D inputs",
            "mask_ignored": "the mask is ignored",
            "mask_inverted": "the mask is inverted (True = padding)",
            "mask_after_softmax": "the weights are masked after the softmax",
            "fill_value_ignored": "masked scores always -inf, whatever fill_value says",
            "dropout_weights_returned": "the weights are returned after dropout",
            "sdpa_dropout_ignored": "scaled_dot_product_attention ignores its dropout",
            "seed_fill_value": "the seed's fill value 1e-32 instead of -inf",
            "attention_fill_value_ignored": "the module does not pass attention_fill_value on",
            "heads_by_reshape": "heads split with a bare reshape, no transpose",
            "no_output_projection": "no output projection",
            "values_from_key": "the values projected from key",
            "mask_not_reshaped": "the (batch, src_len) mask not reshaped: a shape error",
            "attn_mask_ignored": "attn_mask is ignored",
            "attn_mask_no_heads_axis": "a 3-D attn_mask without its heads axis: a shape error",
            "attn_mask_always_unsqueezed": "a (tgt_len, src_len) attn_mask given a heads axis too",
            "masks_not_combined": "with both masks, attn_mask replaces the padding mask",
            "dropout_not_passed": "self.dropout never passed to scaled_dot_product_attention",
            "dropout_in_eval": "dropout applied in eval mode",
            "dropout_on_values": "dropout on the values instead of the weights",
            "bias_ignored": "bias=True always",
        },
        "full marks": {
            "einsum": "scores and values with torch.einsum",
            "scaled_queries": "queries scaled before the product",
            "sdpa_where": "masked scores replaced with torch.where",
            "fill_minus_1e9": "fill value -1e9 instead of -inf",
            "permute_order": "another reshape/permute order",
            "masks_logical_and": "masks expanded to the scores' shape and combined with torch.logical_and",
            "dropout_always": "attention without dropout, the weighted sum redone with self.dropout(attention)",
        },
    },
    "02-positional-encoding": {
        "loses points": {
            "sin_cos_swapped": "sin on odd and cos on even dimensions",
            "wrong_exponent": "wrong exponent in the frequencies",
            "positions_from_one": "positions start at 1",
            "halves_not_interleaved": "sines in the first half, cosines in the second",
            "rotary_half_split": "RoPE pairs feature i with i + d/2 instead of 2i with 2i+1",
            "rotary_same_angle": "RoPE angles not scaled per pair",
            "rotary_positions_from_one": "RoPE positions off by one",
            "pe_parameter": "the table stored as an nn.Parameter",
            "pe_plain_attribute": "the table a plain tensor attribute, not a buffer",
            "table_not_persistent": "the buffer registered with persistent=False (not in state_dict)",
            "float64_table": "the table built in float64: float32 tokens come out float64",
            "dropout_ignored": "dropout never applied",
            "dropout_none_crashes": "torch.nn.Dropout(None) raises inside __init__",
            "positions_not_column": "positions not a column: a broadcasting error inside __init__",
            "table_not_sliced": "the whole table added: a shape error inside forward",
        },
        "full marks": {
            "pow_frequencies": "frequencies as 1 / 10000 ** (2i / d)",
            "stacked_interleave": "sin/cos interleaved with torch.stack(...).flatten(1)",
            "table_2d_buffer": "a (max_len, hidden_size) buffer",
            "float64_then_float32": "the table computed in float64, registered as float32",
            "rotary_complex": "RoPE as a product of complex numbers",
            "rotary_slice_assignment": "RoPE written pair by pair with slice assignment",
        },
    },
    "03-transformer": {
        "loses points": {
            "ffn_no_activation": "no activation between linear1 and linear2",
            "ffn_activation_ignored": "ReLU always, activation='gelu' ignored",
            "ffn_no_dropout": "the FFN's dropout never applied",
            "ffn_dropout_on_output": "dropout after linear2 instead of on the hidden activations",
            "encoder_no_residual": "no residual connections",
            "encoder_norm_wrong_side": "norm_first inverted: pre-norm for post-norm and back",
            "encoder_mask_not_passed": "the padding mask not passed to the self-attention",
            "encoder_attn_mask_not_passed": "attn_mask not passed to the self-attention",
            "encoder_no_residual_dropout": "no dropout on the sub-layers' outputs",
            "decoder_cross_from_x": "cross-attention keys and values from x instead of memory",
            "decoder_no_attn_mask": "the causal attn_mask not passed to the self-attention",
            "decoder_memory_mask_not_passed": "memory_mask not passed to the cross-attention",
            "decoder_memory_normalized": "pre-norm normalizes the memory with norm2",
            "causal_mask_inverted": "causal_mask True above the diagonal",
            "causal_mask_zero_diagonal": "causal_mask with a False diagonal",
            "transformer_no_sqrt_d": "embeddings not multiplied by sqrt(d)",
            "transformer_no_final_norm": "pre-norm without the final LayerNorms",
            "transformer_untied": "tie_embeddings ignored",
            "transformer_no_positions": "the positional encoding never added",
            "transformer_no_default_causal": "no causal mask when target_mask is None",
            "transformer_memory_mask_not_passed": "the source mask not passed to the decoder layers",
            "transformer_default_init": "embeddings left at N(0, 1)",
        },
        "full marks": {
            "ffn_sequential": "the FFN as an nn.Sequential of the same modules",
            "encoder_sublayer_helper": "one residual helper, two dropout modules",
            "causal_mask_arange": "causal_mask by comparing positions, decoder sub-layers in a loop",
            "transformer_alternative": "init through .data, ** 0.5, torch.tril mask",
        },
    },
    "04-translation": {
        "loses points": {
            "no_shift": "labels equal the decoder input (the seed's bug)",
            "loss_counts_padding": "the loss averages over padding too",
            "greedy_no_stop_at_end": "greedy decoding does not stop a sentence at <end>",
            "greedy_end_kept": "<end> kept in the translation",
            "greedy_batch_as_one_sentence": "every sentence stops when the first one ends",
            "greedy_argmax_wrong_axis": "argmax over the batch axis instead of the vocabulary",
            "greedy_state_not_passed": "the decoder state is not passed back",
        },
        "full marks": {
            "cross_entropy_ignore_index": "F.cross_entropy with ignore_index",
            "greedy_tensor_loop": "greedy decoding with one token tensor and a finished mask",
        },
    },
    "05-subwords": {
        "loses points": {
            "count_pairs_unweighted": "each distinct pre-token counted once, whatever its count",
            "merge_overlapping": "merge moves one place after a match: overlapping merges",
            "tie_break_first_seen": "ties broken by the first pair counted, not the greatest",
            "train_without_pretokens": "BPE trained on whole texts: merges cross pre-tokens",
            "apply_longest_match": "encoding by the longest known token, not by rank",
            "apply_leftmost_first": "encoding merges the leftmost mergeable pair first",
            "decode_strict": "strict UTF-8 decoding: half a character raises",
            "decode_per_token": "each token decoded on its own: characters split across tokens lost",
            "special_tokens_split": "special tokens encoded as ordinary text",
            "special_tokens_not_longest_first": "special tokens matched in the order given, not longest first",
        },
        "full marks": {
            "train_incremental": "train_bpe with incremental pair counts",
            "apply_merges_in_order": "merges applied one by one in training order; a regex-scanning encode",
        },
    },
    "06-bert": {
        "loses points": {
            "mask_padding": "special_mask ignored: padding and [CLS]/[SEP] can be chosen",
            "split_inverted": "80/10/10 inverted: 10% [MASK], 80% random",
            "labels_everywhere": "labels on every position instead of -100 where nothing was chosen",
            "random_includes_specials": "random replacements may be special tokens",
            "global_random_state": "the choice drawn from the global generator, not the one passed in",
            "head_untied": "the head's decoder not tied to the embeddings",
            "head_without_norm": "no LayerNorm in the head",
            "loss_over_all_positions": "the loss divided by every position, -100 ones included",
            "fill_mask_logits": "fill_mask returns logits, not probabilities",
            "fill_mask_without_cls": "the [MASK] position looked up without [CLS]: one place off",
            "fill_mask_train_mode": "fill_mask runs the model in training mode with gradients",
        },
        "full marks": {
            "mask_tokens_bernoulli": "Bernoulli draws one after the other (the Hugging Face collator's way)",
            "alternative_loss_and_fill": "loss from log_softmax and gather; fill_mask with sorted log-probabilities",
        },
    },
    "07-gpt": {
        "loses points": {
            "labels_unshifted": "labels are the inputs, not the next tokens",
            "labels_padded_with_pad_id": "padding labelled with pad_id instead of -100",
            "no_end_boundary": "no boundary at the end of a sentence: the end is never learnt",
            "forward_without_causal_mask": "the layers run without the causal mask",
            "loss_counts_padding": "the loss averaged over every position, -100 ones included",
            "temperature_multiplies": "logits multiplied by the temperature",
            "top_k_off_by_one": "top-k keeps k + 1 tokens",
            "top_p_drops_crossing_token": "nucleus without the token that reaches p",
            "top_p_unsorted": "nucleus decided in vocabulary order, not from the most likely token",
            "cache_recomputes_keys": "the cache keeps inputs and projects every position again",
            "cache_mask_without_offset": "the new positions' mask ignores the cached ones",
            "generate_global_rng": "sampling from the global generator, not the one passed in",
            "generate_no_crop": "the context never cropped to block_size",
            "generate_filters_before_temperature": "top-k/top-p applied before the temperature",
            "generate_cache_reprefills": "with use_cache the whole text is re-run every step",
        },
        "full marks": {
            "alternatives": "pad_sequence batching; nucleus by sorted logits and argsort",
        },
    },
}
RESERVED = {"solution", "release"}  # student ids of the reference submissions
#: Per-cell time limit for the test run (the course config allows 30 minutes for real training).
CELL_TIMEOUT_S = 600
ASSIGNMENTS = sorted(set(grading.assignments()) | set(REQUIRED_VARIANTS))
#: The kernels of several assignments run at once on few cores: one math thread each (unless the
#: caller chose otherwise) avoids oversubscription; the test tensors are tiny anyway.
KERNEL_ENV = {name: os.environ.get(name, "1") for name in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
#: A later notebook uses the instructor's reference of the earlier ones (as `python -m grading` does):
#: a wrong answer in 01 must cost points in 01 only.
KERNEL_ENV["COURSE_NOTEBOOKS"] = str(grading.ROOT / "solutions")


@dataclass
class Graded:
    assignment: str
    grades: dict[str, grading.StudentGrades]
    variants: dict[str, grading.Variant]
    expected: dict[str, str]  # student -> "full marks" | "loses points" | "zero"
    table: str

    def __repr__(self) -> str:  # keeps pytest's tracebacks short; the table is in the messages
        return f"Graded({self.assignment!r}, {len(self.grades)} submissions)"

    def line(self, student: str) -> str:
        variant = self.variants.get(student)
        what = f" ({variant.description})" if variant else ""
        return (
            f"- {student}{what}: expected {self.expected[student]}, "
            f"got {self.grades[student].describe()}"
        )

    def report(self, title: str, students: list[str]) -> str:
        return "\n".join([f"{self.assignment}: {title}", *map(self.line, students), "", self.table])


def prepare(assignment: str, folder: Path) -> tuple[grading.AutogradeRun, dict[str, grading.Variant]]:
    """Release the assignment in a temporary course, submit every fake student, start autograde."""
    variants = {v.name: v for v in grading.load_variants(assignment)}
    clash = RESERVED & set(variants)
    assert not clash, f"variant files may not be named {sorted(clash)}: those are reserved student ids"
    course = grading.Course(folder, [assignment], env=KERNEL_ENV)
    course.generate_assignment(assignment)
    course.submit_cells(assignment, "solution")
    course.submit_release(assignment, "release")
    for variant in variants.values():
        course.submit_cells(assignment, variant.name, variant.cells)
    return course.start_autograde(assignment, f"--Execute.timeout={CELL_TIMEOUT_S}"), variants


@pytest.fixture(scope="session")
def autograde_runs(request, tmp_path_factory):
    """One background ``nbgrader autograde`` per selected assignment, all started at once (the
    kernels of different assignments then share the CPU cores); each test waits for its own."""
    selected = sorted({
        item.callspec.params["graded"]
        for item in request.session.items
        if hasattr(item, "callspec") and "graded" in item.callspec.params
    })
    runs = {}
    for assignment in selected:
        try:
            runs[assignment] = prepare(assignment, tmp_path_factory.mktemp(f"course-{assignment}"))
        except Exception as error:  # reported by the tests of that assignment
            runs[assignment] = error
    yield runs
    for run in runs.values():
        if isinstance(run, tuple):
            run[0].kill()


@pytest.fixture(scope="module", params=ASSIGNMENTS)
def graded(request, autograde_runs, tmp_path_factory) -> Graded:
    assignment = request.param
    run = autograde_runs.get(assignment)
    if run is None:  # not started by autograde_runs (e.g. selected in an unusual way): start now
        run = prepare(assignment, tmp_path_factory.mktemp(f"course-{assignment}"))
    if isinstance(run, BaseException):
        raise run
    run, variants = run
    grades = run.wait()

    expected = {"solution": "full marks", "release": "zero"}
    expected |= {name: v.expected for name, v in variants.items()}
    order = ["solution", "release", *sorted(variants, key=lambda n: (variants[n].full_marks, n))]
    grades = {s: grades[s] for s in order}
    table = grading.format_table(grades, expected)
    reasons = [
        f"  {student}: {grades[student].lost[0]}"
        for student in order if student != "release" and grades[student].lost
    ]
    if reasons:  # why each submission lost points (its first failing test cell): a sanity check
        table += "\n\nfirst lost cell of each submission:\n" + "\n".join(reasons)
    report = tmp_path_factory.getbasetemp() / f"grading-{assignment}.txt"
    report.write_text(table + "\n", encoding="utf-8")
    print(f"\n{assignment}: points per test cell (also in {report})\n{table}")
    return Graded(assignment, grades, variants, expected, table)


@pytest.mark.parametrize("assignment", sorted(REQUIRED_VARIANTS))
def test_required_variants_exist(assignment):
    """The variants this test promises (see REQUIRED_VARIANTS) exist, with the right expectation."""
    variants = {v.name: v for v in grading.load_variants(assignment)}
    problems = []
    for expected, names in REQUIRED_VARIANTS[assignment].items():
        for name, what in names.items():
            if name not in variants:
                problems.append(f"- missing tests/submissions/{assignment}/{name}.py ({what}; expected: {expected})")
            elif variants[name].expected != expected:
                problems.append(f"- {name}.py says `Expected: {variants[name].expected}`, should be {expected}")
    assert not problems, "variants missing or mislabelled:\n" + "\n".join(problems)


def _code(source: str) -> str:
    """The code of a cell, without comments, docstrings and formatting (to compare two versions)."""
    tree = ast.parse(source)
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return ast.dump(tree)


@pytest.mark.parametrize("assignment", [a for a in ASSIGNMENTS if grading.load_variants(a)])
def test_variants_are_edits_of_solution_cells(assignment, repo_root):
    """Every section of a variant names a solution cell, parses, and changes the solution's code."""
    solutions = {}
    for path in sorted((repo_root / "solutions" / assignment).glob("*.ipynb")):
        solutions |= grading.solution_cells(grading.read_notebook(path))
    problems = []
    for variant in grading.load_variants(assignment):
        for gid, source in variant.cells.items():
            where = f"{variant.name}.py [{gid}]"
            if gid not in solutions:
                problems.append(f"{where}: no solution cell {gid!r} (there are {sorted(solutions)})")
                continue
            try:
                same = _code(source) == _code(solutions[gid])
            except SyntaxError as error:
                problems.append(f"{where}: does not parse: {error}")
                continue
            if same:
                problems.append(f"{where}: the same code as the solution (only comments/docstrings differ)")
    assert not problems, "\n".join(problems)


def test_variant_counts():
    """At least 10 wrong implementations and 3 correct alternatives over the graded assignments."""
    variants = [v for a in REQUIRED_VARIANTS for v in grading.load_variants(a)]
    wrong = [v.name for v in variants if not v.full_marks]
    right = [v.name for v in variants if v.full_marks]
    assert len(wrong) >= 10 and len(right) >= 3, f"wrong: {wrong}; correct: {right}"


def test_solution_gets_full_marks(graded):
    """The instructor's solution gets every point of every test cell (no error, nothing on stderr)."""
    grades = graded.grades["solution"]
    assert grades.full_marks, graded.report("the solution lost points", ["solution"])


def test_untouched_release_scores_zero(graded):
    grades = graded.grades["release"]
    assert grades.score == 0, graded.report("the untouched release got points", ["release"])


def test_wrong_variants_lose_points(graded):
    wrong = [n for n, v in graded.variants.items() if not v.full_marks]
    holes = [n for n in wrong if graded.grades[n].full_marks]
    assert not holes, graded.report(
        "wrong implementations got full marks (a hole in the notebook's tests: strengthen the tests)", holes
    )


def _normalized(text: str) -> str:
    return " ".join(text.split())


def test_wrong_variants_fail_with_their_messages(graded):
    """Every failing test teaches (issue 18): a wrong variant that names ``Message:`` lines fails
    first in a test cell whose error -- its full text, not only PyTorch's part -- contains each line."""
    problems = []
    for name, variant in sorted(graded.variants.items()):
        if variant.full_marks or not variant.messages:
            continue
        lost = graded.grades[name].lost
        if not lost:
            problems.append(f"- {name}: lost no points, so no error to check (expected {list(variant.messages)})")
            continue
        first = lost[0]
        missing = [m for m in variant.messages if _normalized(m) not in _normalized(first.error)]
        if missing:
            error = first.error or f"(no error output: {first.problem or 'the cell gave partial credit or nothing'})"
            problems.append(f"- {name} ({variant.description}): its first lost cell {first.name} failed with an "
                            f"error that lacks {missing}.\n  The full error:\n    " + error.replace("\n", "\n    "))
    assert not problems, (
        f"{graded.assignment}: wrong variants whose first failing test does not say what the variant file "
        "expects (fix the test's message or hint, or the variant's Message: lines):\n" + "\n".join(problems))


def test_variant_messages_are_parsed(tmp_path):
    """``Message:`` lines of a variant's header become ``Variant.messages``, not part of its description;
    a full-marks variant may not have any."""
    path = tmp_path / "wrong.py"
    path.write_text('"""Wrong: a typo. Expected: loses points.\n\nMessage: key.transpose(-2, -1)\n'
                    'Message:   (batch, 1, 1, src_len)  \n"""\n# %% [sdpa]\nx = 1\n', encoding="utf-8")
    variant = grading.Variant.from_file(path, "01-attention")
    assert variant.messages == ("key.transpose(-2, -1)", "(batch, 1, 1, src_len)")
    assert variant.description == "Wrong: a typo." and not variant.full_marks
    path.write_text('"""Correct. Expected: full marks.\nMessage: nothing\n"""\n# %% [sdpa]\nx = 1\n', encoding="utf-8")
    with pytest.raises(grading.GradingError, match="Message"):
        grading.Variant.from_file(path, "01-attention")


def test_correct_variants_get_full_marks(graded):
    right = [n for n, v in graded.variants.items() if v.full_marks]
    failed = [n for n in right if not graded.grades[n].full_marks]
    assert not failed, graded.report("correct alternative implementations lost points", failed)


#: Errors that mean the submission is broken (a typo in a variant file), not wrong on purpose.
BROKEN = ("SyntaxError", "IndentationError", "NameError", "UnboundLocalError")


def test_submissions_are_not_broken(graded):
    """Every submission but the release runs its answer cells without an error, and no test cell
    fails on a NameError/SyntaxError: a variant must lose points for what it gets wrong on purpose,
    not because its file is broken."""
    broken = []
    for student, grades in graded.grades.items():
        if student == "release":
            continue
        errors = [f"answer cell {gid}: {problem}" for gid, problem in grades.answer_errors.items()]
        errors += [f"{cell.name}: {cell.problem}" for cell in grades.lost if cell.problem.startswith(BROKEN)]
        if errors:
            broken.append(f"- {student}: " + "; ".join(errors))
    assert not broken, f"{graded.assignment}: broken submissions (fix the variant file):\n" + "\n".join(broken)
