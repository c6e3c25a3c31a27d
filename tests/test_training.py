"""utils.training: the schedule, the batches and the loop itself, run with the reference shift and loss.

``shift_targets`` and ``sequence_loss`` are graded TODOs of notebook 04: their references live in
``solutions/04-translation`` only (the notebook's own tests check them); here they are loaded from
there, like the loop's users do, and the Transformer is the reference of notebook 03.
"""
import pytest
import torch

from utils import History, TrainConfig, Vocabulary, build_model, evaluate_loss, train, translate
from utils.notebooks import from_notebook
from utils.training import LengthBucketSampler, learning_rate

shift_targets, sequence_loss, greedy_decode = from_notebook("04-translation", "shift_targets", "sequence_loss",
                                                            "greedy_decode")
causal_mask = from_notebook("03-transformer", "causal_mask")
COURSE = dict(shift_fn=shift_targets, loss_fn=sequence_loss)
TINY_TRANSFORMER = dict(hidden_size=32, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, ffn_size=64,
                        dropout=0.0, norm_first=True)

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def test_learning_rate_schedule():
    config = TrainConfig(lr=1e-3, warmup_steps=10, schedule="cosine", min_lr_ratio=0.1)
    warmup = [learning_rate(config, step, 0.0) for step in range(10)]
    assert warmup == sorted(warmup) and warmup[-1] == pytest.approx(1e-3)
    assert learning_rate(config, 100, 0.5) == pytest.approx(1e-3 * (0.1 + 0.9 * 0.5))
    assert learning_rate(config, 100, 1.0) == pytest.approx(1e-4)
    inverse = TrainConfig(lr=1e-3, warmup_steps=10, schedule="inverse_sqrt")
    assert learning_rate(inverse, 39, 0.3) == pytest.approx(1e-3 * 0.5)


def test_length_buckets_cover_every_pair_once():
    lengths = [(n % 7, n % 5) for n in range(103)]
    sampler = LengthBucketSampler(lengths, batch_size=8, seed=1, chunk_batches=3)
    for _ in range(2):  # a new order every epoch
        batches = list(sampler)
        assert len(batches) == len(sampler) == 13
        assert sorted(i for b in batches for i in b) == list(range(103))


def test_train_and_evaluate_loss_require_the_shift_and_the_loss(pairs):
    model = build_model("lstm", Vocabulary(pairs), embedding_dim=8, hidden_size=8)
    with pytest.raises(TypeError, match=r"train\(\) needs shift_fn and loss_fn: .*shift_fn=shift_targets"):
        train(model, pairs, epochs=1, progress=False)
    with pytest.raises(TypeError, match=r"needs loss_fn"):
        train(model, pairs, epochs=1, progress=False, shift_fn=shift_targets)
    with pytest.raises(TypeError, match=r"evaluate_loss\(\) needs shift_fn"):
        evaluate_loss(model, pairs, loss_fn=sequence_loss)
    with pytest.raises(TypeError, match="loss_fn must be a function"):
        evaluate_loss(model, pairs, shift_fn=shift_targets, loss_fn="cross-entropy")


def test_train_uses_the_given_shift_loss_and_mask(pairs):
    """Student implementations passed to train() are the ones that run."""
    calls = {"shift": 0, "loss": 0, "mask": 0}

    def my_shift(target_tokens):
        calls["shift"] += 1
        return shift_targets(target_tokens)

    def my_loss(logits, labels, pad_index):
        calls["loss"] += 1
        return sequence_loss(logits, labels, pad_index)

    def my_mask(size):
        calls["mask"] += 1
        return causal_mask(size)

    torch.manual_seed(0)
    model = build_model("transformer", Vocabulary(pairs), causal_mask_fn=my_mask, **TINY_TRANSFORMER)
    assert type(model.core).__module__ == "notebook_03_transformer"
    history = train(model, pairs, pairs[:8], epochs=1, batch_size=16, shift_fn=my_shift, loss_fn=my_loss,
                    label_smoothing=0.0, progress=False, device="cpu")
    steps = len(history.step_loss)
    assert steps == 3  # 43 pairs in batches of 16
    assert calls["shift"] == calls["loss"] == steps + 1  # + one validation batch
    assert calls["mask"] == steps + 1


def test_label_smoothing_reaches_the_given_loss(pairs):
    """Training passes label_smoothing to loss_fn; validation asks for the plain loss."""
    seen = []

    def my_loss(logits, labels, pad_index, label_smoothing=0.0):
        seen.append(label_smoothing)
        return sequence_loss(logits, labels, pad_index, label_smoothing)

    def no_smoothing_loss(logits, labels, pad_index):
        return sequence_loss(logits, labels, pad_index)

    torch.manual_seed(0)
    model = build_model("lstm", Vocabulary(pairs), embedding_dim=16, hidden_size=16)
    train(model, pairs, pairs[:8], epochs=1, batch_size=16, shift_fn=shift_targets, loss_fn=my_loss,
          label_smoothing=0.1, progress=False)
    assert seen == [0.1, 0.1, 0.1, 0.0]
    with pytest.warns(UserWarning, match="without label smoothing"):
        train(model, pairs, epochs=1, batch_size=64, shift_fn=shift_targets, loss_fn=no_smoothing_loss,
              label_smoothing=0.1, progress=False)


def test_history_and_time_budget(pairs):
    torch.manual_seed(0)
    model = build_model("lstm", Vocabulary(pairs), embedding_dim=16, hidden_size=16)
    history = train(model, pairs, pairs, epochs=3, batch_size=8, progress=False, device="cpu", name="tiny", **COURSE)
    assert isinstance(history, History) and history.name == "tiny"
    assert len(history.step_loss) == len(history.step_lr) == 3 * 6
    assert history.epoch_step == [6, 12, 18] and history.epochs == 3
    assert len(history.train_loss) == len(history.validation_loss) == len(history.epoch_seconds) == 3
    assert history.final_validation_loss == history.validation_loss[-1]
    assert history.final_validation_loss == pytest.approx(evaluate_loss(model, pairs, **COURSE))
    assert history.tokens_per_second > 0 and history.seconds >= history.train_seconds > 0
    assert History.from_dict(history.to_dict()) == history
    assert not model.training  # left ready for translation
    # A budget of ~0 minutes stops after the first step, whatever the number of epochs.
    quick = train(model, pairs, epochs=None, minutes=1e-6, batch_size=8, progress=False, device="cpu", **COURSE)
    assert len(quick.step_loss) == 1 and 0 < quick.epochs < 1


def test_checkpoint_averaging(pairs):
    torch.manual_seed(0)
    model = build_model("lstm", Vocabulary(pairs), embedding_dim=16, hidden_size=16)
    history = train(model, pairs, pairs, epochs=3, batch_size=8, average_last=2, progress=False, device="cpu",
                    **COURSE)
    assert history.final_validation_loss == pytest.approx(evaluate_loss(model, pairs, **COURSE))


def test_a_tiny_transformer_learns_to_translate_a_few_pairs(pairs):
    """The whole recipe works: shifted teacher forcing, masks, loss, decoding."""
    # A dozen short pairs, one English sentence per French one.
    few = list({source: (source, target) for source, target in reversed(pairs) if len(source.split()) <= 5}.values())
    few = few[:12]
    torch.manual_seed(0)
    model = build_model("transformer", Vocabulary(few), hidden_size=64, num_heads=2, num_encoder_layers=1,
                        num_decoder_layers=1, ffn_size=128, dropout=0.0, norm_first=True)
    history = train(model, few, epochs=60, batch_size=12, lr=1e-2, warmup_steps=10, label_smoothing=0.0,
                    progress=False, device="cpu", **COURSE)
    assert history.step_loss[-1] < 0.5 * history.step_loss[0]
    # The model reads <start> y1 .. and predicts y1 .. <end>: it translates, it does not copy.
    sources = [source for source, _ in few]
    expected = [target for _, target in few]
    assert translate(model, sources) == expected
    assert translate(model, sources, beam_size=3) == expected
    assert translate(model, sources, decode_fn=greedy_decode) == expected


def test_word_dropout_replaces_ordinary_words_only_at_the_given_rate():
    from utils.training import drop_to_unk
    from utils.vocab import EOS_INDEX, PAD_INDEX, UNK_INDEX

    tokens = torch.randint(4, 50, (400, 30))
    tokens[:, -5:] = PAD_INDEX
    tokens[:, -6] = EOS_INDEX
    dropped = drop_to_unk(tokens, 0.1, torch.Generator().manual_seed(0))
    changed = dropped.ne(tokens)
    assert dropped[changed].eq(UNK_INDEX).all(), "a dropped word becomes <unk>, nothing else"
    assert not changed[:, -6:].any(), "<end> and padding are never dropped"
    rate, n = changed[:, :-6].float().mean().item(), changed[:, :-6].numel()
    assert abs(rate - 0.1) < 5 * (0.1 * 0.9 / n) ** 0.5, f"rate {rate:.4f}, expected 0.1"
    again = drop_to_unk(tokens, 0.1, torch.Generator().manual_seed(0))
    assert torch.equal(again, dropped), "the passed generator makes it reproducible"
    assert torch.equal(drop_to_unk(tokens, 0.0, torch.Generator()), tokens)


def test_train_with_word_dropout_sees_unk(pairs, monkeypatch):
    vocab = Vocabulary(pairs)
    seen = []
    torch.manual_seed(0)
    model = build_model("transformer", vocab, **TINY_TRANSFORMER)
    original = model.forward
    monkeypatch.setattr(model, "forward", lambda s, m, d: seen.append(s.clone()) or original(s, m, d))
    train(model, pairs, epochs=1, progress=False, unk_dropout=0.5, **COURSE)
    from utils.vocab import UNK_INDEX
    assert any(batch.eq(UNK_INDEX).any() for batch in seen), "with unk_dropout=0.5 some source words become <unk>"


def test_step_cost_measures_time_and_activation_memory(pairs):
    from utils.training import step_cost

    vocab = Vocabulary(pairs)
    torch.manual_seed(0)
    model = build_model("transformer", vocab, **TINY_TRANSFORMER)
    short, long = step_cost(model, 4, batch_size=4, repeats=1), step_cost(model, 16, batch_size=4, repeats=1)
    assert short["seconds"] > 0 and long["length"] == 16
    assert long["activation_mb"] > 3 * short["activation_mb"] > 0, "activations grow with the length"
    assert all(p.grad is None for p in model.parameters()), "no gradients are left behind"
