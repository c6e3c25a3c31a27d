"""utils.training: the shift, the padding-aware loss, the schedule and the loop itself."""
from pathlib import Path

import pytest
import torch

from utils import (History, TrainConfig, Vocabulary, build_model, causal_mask, evaluate_loss, normalize,
                   sequence_loss, shift_targets, train, translate)
from utils.data import read_raw_pairs
from utils.training import LengthBucketSampler, learning_rate
from utils.vocab import EOS_INDEX, PAD_INDEX, SOS_INDEX

TINY = Path(__file__).resolve().parent / "data" / "tiny_fra_eng.txt"
TINY_TRANSFORMER = dict(d_model=32, num_heads=2, num_encoder_layers=1, num_decoder_layers=1, dim_feedforward=64,
                        dropout=0.0)

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


def test_shift_targets():
    # <start> a b <end>  and a shorter  <start> c <end> <pad>
    target = torch.tensor([[SOS_INDEX, 7, 8, EOS_INDEX], [SOS_INDEX, 9, EOS_INDEX, PAD_INDEX]])
    decoder_input, labels = shift_targets(target)
    assert decoder_input.tolist() == [[SOS_INDEX, 7, 8], [SOS_INDEX, 9, EOS_INDEX]]
    assert labels.tolist() == [[7, 8, EOS_INDEX], [9, EOS_INDEX, PAD_INDEX]]
    # label t is the token after input t
    assert torch.equal(labels[:, :-1], decoder_input[:, 1:])


def test_sequence_loss_ignores_padding():
    torch.manual_seed(0)
    logits = torch.randn(2, 4, 10)
    labels = torch.tensor([[5, 6, 7, EOS_INDEX], [8, EOS_INDEX, PAD_INDEX, PAD_INDEX]])
    loss = sequence_loss(logits, labels, PAD_INDEX)
    changed = logits.clone()
    changed[1, 2:] = 100 * torch.randn(2, 10)  # whatever the model says at padded positions
    assert torch.allclose(loss, sequence_loss(changed, labels, PAD_INDEX))
    # ... it is the mean over the 6 real tokens, not over the 8 positions
    log_probs = logits.log_softmax(-1)
    real = labels.ne(PAD_INDEX)
    nll = -log_probs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    assert torch.allclose(loss, nll[real].sum() / real.sum())
    # ... and changing a real position's logits does change it
    changed[0, 0] += 5 * torch.randn(10)
    assert not torch.allclose(loss, sequence_loss(changed, labels, PAD_INDEX))


def test_label_smoothing_penalises_overconfidence():
    labels = torch.tensor([[3, 4]])
    confident = torch.full((1, 2, 6), -20.0)
    confident[0, 0, 3] = confident[0, 1, 4] = 20.0
    assert sequence_loss(confident, labels) < 1e-6
    assert sequence_loss(confident, labels, label_smoothing=0.1) > 1.0


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
    train(model, pairs, pairs[:8], epochs=1, batch_size=16, loss_fn=my_loss, label_smoothing=0.1, progress=False)
    assert seen == [0.1, 0.1, 0.1, 0.0]
    with pytest.warns(UserWarning, match="without label smoothing"):
        train(model, pairs, epochs=1, batch_size=64, loss_fn=no_smoothing_loss, label_smoothing=0.1, progress=False)


def test_history_and_time_budget(pairs):
    torch.manual_seed(0)
    model = build_model("lstm", Vocabulary(pairs), embedding_dim=16, hidden_size=16)
    history = train(model, pairs, pairs, epochs=3, batch_size=8, progress=False, device="cpu", name="tiny")
    assert isinstance(history, History) and history.name == "tiny"
    assert len(history.step_loss) == len(history.step_lr) == 3 * 6
    assert history.epoch_step == [6, 12, 18] and history.epochs == 3
    assert len(history.train_loss) == len(history.validation_loss) == len(history.epoch_seconds) == 3
    assert history.final_validation_loss == history.validation_loss[-1]
    assert history.final_validation_loss == pytest.approx(evaluate_loss(model, pairs))
    assert history.tokens_per_second > 0 and history.seconds >= history.train_seconds > 0
    assert History.from_dict(history.to_dict()) == history
    assert not model.training  # left ready for translation
    # A budget of ~0 minutes stops after the first step, whatever the number of epochs.
    quick = train(model, pairs, epochs=None, minutes=1e-6, batch_size=8, progress=False, device="cpu")
    assert len(quick.step_loss) == 1 and 0 < quick.epochs < 1


def test_checkpoint_averaging(pairs):
    torch.manual_seed(0)
    model = build_model("lstm", Vocabulary(pairs), embedding_dim=16, hidden_size=16)
    history = train(model, pairs, pairs, epochs=3, batch_size=8, average_last=2, progress=False, device="cpu")
    assert history.final_validation_loss == pytest.approx(evaluate_loss(model, pairs))


def test_a_tiny_transformer_learns_to_translate_a_few_pairs(pairs):
    """The whole recipe works: shifted teacher forcing, masks, loss, decoding."""
    # A dozen short pairs, one English sentence per French one.
    few = list({source: (source, target) for source, target in reversed(pairs) if len(source.split()) <= 5}.values())
    few = few[:12]
    torch.manual_seed(0)
    model = build_model("transformer", Vocabulary(few), d_model=64, num_heads=2, num_encoder_layers=1,
                        num_decoder_layers=1, dim_feedforward=128, dropout=0.0)
    history = train(model, few, epochs=60, batch_size=12, lr=1e-2, warmup_steps=10, label_smoothing=0.0,
                    progress=False, device="cpu")
    assert history.step_loss[-1] < 0.5 * history.step_loss[0]
    # The model reads <start> y1 .. and predicts y1 .. <end>: it translates, it does not copy.
    sources = [source for source, _ in few]
    expected = [target for _, target in few]
    assert translate(model, sources) == expected
    assert translate(model, sources, beam_size=3) == expected
