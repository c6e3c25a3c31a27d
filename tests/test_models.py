"""The three translators of utils.models: shapes, masks, incremental decoding, save/load."""
from pathlib import Path

import pytest
import torch

from utils import (MODELS, CollateBatch, NMTDataset, Vocabulary, build_model, causal_mask, load_model, normalize,
                   save_model, shift_targets, translate)
from utils.data import read_raw_pairs
from utils.vocab import PAD_INDEX

TINY = Path(__file__).resolve().parent / "data" / "tiny_fra_eng.txt"
SMALL = {
    "lstm": dict(embedding_dim=16, hidden_size=24, dropout=0.0),
    "lstm_attention": dict(embedding_dim=16, hidden_size=24, dropout=0.0),
    "transformer": dict(d_model=32, num_heads=2, num_encoder_layers=2, num_decoder_layers=2, dim_feedforward=48,
                        dropout=0.0),
}

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def vocab(pairs):
    return Vocabulary(pairs)


@pytest.fixture(scope="module")
def batch(pairs, vocab):
    dataset = NMTDataset(pairs[:6]).index_with(vocab)
    return vars(CollateBatch([dataset[i] for i in range(len(dataset))]))


def small_model(name, vocab, seed=0, **overrides):
    torch.manual_seed(seed)
    return build_model(name, vocab, **{**SMALL[name], **overrides}).eval()


ALL = sorted(MODELS) + ["transformer-postln"]


def make(name, vocab, **kwargs):
    if name == "transformer-postln":
        return small_model("transformer", vocab, norm_first=False, **kwargs)
    return small_model(name, vocab, **kwargs)


def test_causal_mask():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool and mask.shape == (4, 4)
    assert torch.equal(mask, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool))


@pytest.mark.parametrize("name", ALL)
def test_shapes(name, vocab, batch):
    model = make(name, vocab)
    decoder_input, labels = shift_targets(batch["target_tokens"])
    encoder_output = model.encode(batch["source_tokens"], batch["source_mask"])
    assert encoder_output.memory.shape[:2] == batch["source_tokens"].shape
    logits = model.decode(decoder_input, encoder_output)
    assert logits.shape == (*labels.shape, vocab.get_size("target"))
    assert torch.equal(model(batch["source_tokens"], batch["source_mask"], decoder_input), logits)
    assert model.num_parameters() > 0


@pytest.mark.parametrize("name", ALL)
def test_decoder_cannot_look_ahead(name, vocab, batch):
    """Changing the decoder input at position t must not change the logits before t."""
    model = make(name, vocab)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    t = 2
    changed = decoder_input.clone()
    changed[:, t:] = torch.randint(4, vocab.get_size("target"), changed[:, t:].shape)
    args = (batch["source_tokens"], batch["source_mask"])
    before, after = model(*args, decoder_input), model(*args, changed)
    torch.testing.assert_close(before[:, :t], after[:, :t])
    assert not torch.allclose(before[:, t:], after[:, t:])


def test_transformer_really_uses_its_causal_mask(vocab, batch):
    """Without the mask (every position sees everything) earlier logits DO change: the test above bites."""
    model = make("transformer", vocab)
    model.causal_mask_fn = lambda size: torch.ones(size, size, dtype=torch.bool)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    changed = decoder_input.clone()
    changed[:, 2:] = torch.randint(4, vocab.get_size("target"), changed[:, 2:].shape)
    args = (batch["source_tokens"], batch["source_mask"])
    assert not torch.allclose(model(*args, decoder_input)[:, :2], model(*args, changed)[:, :2])


@pytest.mark.parametrize("name", ALL)
def test_source_padding_is_ignored(name, vocab, batch):
    """A sentence gets the same logits alone and padded inside a batch with longer ones."""
    model = make(name, vocab)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    lengths = batch["source_mask"].sum(1)
    i = int(lengths.argmin())
    assert lengths[i] < batch["source_tokens"].size(1), "the batch should pad this sentence"
    together = model(batch["source_tokens"], batch["source_mask"], decoder_input)[i]
    n = int(lengths[i])
    alone = model(batch["source_tokens"][i:i + 1, :n], batch["source_mask"][i:i + 1, :n], decoder_input[i:i + 1])[0]
    torch.testing.assert_close(together, alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", ALL)
def test_decode_step_matches_decode(name, vocab, batch):
    """Generation one token at a time (with caches) gives the logits of the full teacher-forced pass."""
    model = make(name, vocab)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    with torch.no_grad():
        encoder_output = model.encode(batch["source_tokens"], batch["source_mask"])
        full = model.decode(decoder_input, encoder_output)
        state, steps = None, []
        for t in range(decoder_input.size(1)):
            logits, state = model.decode_step(decoder_input[:, t], encoder_output, state)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-4)


def test_attention_weights(vocab, batch):
    decoder_input, _ = shift_targets(batch["target_tokens"])
    args = (batch["source_tokens"], batch["source_mask"], decoder_input)
    batch_size, src_len = batch["source_tokens"].shape
    lstm = make("lstm_attention", vocab).attention(*args)
    transformer = make("transformer", vocab).attention(*args)
    assert lstm.shape == (batch_size, decoder_input.size(1), src_len)
    assert transformer.shape == (batch_size, 2, 2, decoder_input.size(1), src_len)  # layers, heads
    for weights in (lstm, transformer):
        torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
        padding = ~batch["source_mask"]
        padding = padding.view(batch_size, *([1] * (weights.dim() - 2)), src_len).expand_as(weights)
        assert weights[padding].abs().max() == 0
    with pytest.raises(NotImplementedError):
        make("lstm", vocab).attention(*args)


def test_tied_embeddings(vocab):
    model = make("transformer", vocab)
    assert model.output_projection.weight is model.target_embedding.weight
    untied = make("transformer", vocab, tie_embeddings=False)
    assert untied.output_projection.weight is not untied.target_embedding.weight
    assert untied.num_parameters() > model.num_parameters()


def test_build_model_rejects_unknown_names(vocab):
    with pytest.raises(ValueError, match="unknown model"):
        build_model("gru", vocab)


@pytest.mark.parametrize("name", ALL)
def test_save_load_round_trip(name, vocab, batch, tmp_path):
    model = make(name, vocab, seed=3)
    path = save_model(model, tmp_path / "sub" / f"{name}.pt", note="hello", history={"loss": [1.0, 0.5]})
    loaded = load_model(path, device="cpu")
    assert type(loaded) is type(model) and loaded.config == model.config and not loaded.training
    assert loaded.vocab.to_dict() == vocab.to_dict()
    assert loaded.extra == {"note": "hello", "history": {"loss": [1.0, 0.5]}}
    decoder_input, _ = shift_targets(batch["target_tokens"])
    args = (batch["source_tokens"], batch["source_mask"], decoder_input)
    assert torch.equal(model(*args), loaded(*args))
    sentences = ["Je suis très fatigué ce soir.", "Il est grand."]
    assert translate(model, sentences, beam_size=3) == translate(loaded, sentences, beam_size=3)
    if name.startswith("transformer"):
        assert loaded.output_projection.weight is loaded.target_embedding.weight  # still tied


def test_load_model_defaults_to_an_available_device(vocab, tmp_path):
    path = save_model(make("lstm", vocab), tmp_path / "m.pt")
    model = load_model(path)
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_padding_embeddings_start_at_zero(vocab):
    for name in MODELS:
        model = make(name, vocab)
        embeddings = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
        assert embeddings and all(e.weight[PAD_INDEX].abs().sum() == 0 for e in embeddings)
