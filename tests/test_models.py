"""The translators of utils.models: shapes, masks, incremental decoding, attention, save/load.

The Transformer is the reference solution of notebook 03 (``COURSE_NOTEBOOKS`` points at
``solutions/`` in every test, see the root conftest.py), wrapped by ``TransformerTranslator``;
``transformer_pytorch`` is the PyTorch-layer baseline of ``bench/``.
"""
import types

import pytest
import torch

import bench.baselines  # noqa: F401  (registers "transformer_pytorch")
from utils import (MODELS, CollateBatch, NMTDataset, TransformerTranslator, Vocabulary, build_model, load_model,
                   save_model, translate)
from utils.models import EncoderOutput, select_state
from utils.notebooks import from_notebook
from utils.vocab import PAD_INDEX

# The references of graded TODOs, from the instructor's notebooks (never from utils/).
shift_targets = from_notebook("04-translation", "shift_targets")
Transformer = from_notebook("03-transformer", "Transformer")

TRANSFORMER = dict(hidden_size=32, num_heads=2, num_encoder_layers=2, num_decoder_layers=2, ffn_size=48,
                   dropout=0.0, norm_first=True)
SMALL = {
    "lstm": dict(embedding_dim=16, hidden_size=24, dropout=0.0),
    "lstm_attention": dict(embedding_dim=16, hidden_size=24, dropout=0.0),
    "transformer": TRANSFORMER,
    "transformer-postln": {**TRANSFORMER, "norm_first": False},
    "transformer_pytorch": TRANSFORMER,
}
ALL = sorted(SMALL)
TRANSFORMERS = ["transformer", "transformer-postln", "transformer_pytorch"]

pytestmark = pytest.mark.usefixtures("one_thread")  # see tests/conftest.py


@pytest.fixture(scope="module")
def vocab(pairs):
    return Vocabulary(pairs)


@pytest.fixture(scope="module")
def batch(pairs, vocab):
    dataset = NMTDataset(pairs[:6]).index_with(vocab)
    return vars(CollateBatch([dataset[i] for i in range(len(dataset))]))


def make(name, vocab, seed=0, **overrides):
    torch.manual_seed(seed)
    model_name = "transformer" if name == "transformer-postln" else name
    return build_model(model_name, vocab, **{**SMALL[name], **overrides}).eval()


def test_transformer_is_the_notebook_class(vocab):
    model = make("transformer", vocab)
    assert isinstance(model, TransformerTranslator) and MODELS["transformer"] is TransformerTranslator
    assert type(model.core) is Transformer, "the default core is the Transformer of notebook 03"
    assert model.config == {**TRANSFORMER, "tie_embeddings": True, "max_len": 512, "activation": "relu"}

    built = []

    class Counting(Transformer):
        def __init__(self, *args, **kwargs):
            built.append((args, kwargs))
            super().__init__(*args, **kwargs)

    model = build_model("transformer", vocab, transformer_class=Counting, hidden_size=16, num_heads=2)
    assert type(model.core) is Counting
    (args, kwargs), = built
    assert args == (vocab.get_size("source"), vocab.get_size("target")) and kwargs["hidden_size"] == 16


def test_old_argument_names_are_refused(vocab):
    with pytest.raises(TypeError, match="d_model"):
        build_model("transformer", vocab, d_model=32)


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


def test_causal_mask_fn_reaches_the_decoder(vocab, batch):
    """An all-True causal_mask_fn (the seed's bug) lets earlier positions see later ones: the test above bites."""
    model = make("transformer", vocab, causal_mask_fn=lambda size: torch.ones(size, size, dtype=torch.bool))
    decoder_input, _ = shift_targets(batch["target_tokens"])
    changed = decoder_input.clone()
    changed[:, 2:] = torch.randint(4, vocab.get_size("target"), changed[:, 2:].shape)
    args = (batch["source_tokens"], batch["source_mask"])
    assert not torch.allclose(model(*args, decoder_input)[:, :2], model(*args, changed)[:, :2])
    # ... and a causal mask given explicitly is the core's default one.
    default = make("transformer", vocab)
    causal = make("transformer", vocab, causal_mask_fn=lambda size: torch.ones(size, size, dtype=torch.bool).tril())
    torch.testing.assert_close(causal(*args, decoder_input), default(*args, decoder_input))


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


# ----------------------------------------------------------------------------------------------
# Incremental decoding


@pytest.mark.parametrize("name", ALL)
def test_decode_step_matches_decode(name, vocab, batch):
    """One token at a time (with the state) gives the logits of the full teacher-forced pass, at every step."""
    model = make(name, vocab)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    assert decoder_input.size(0) > 1
    with torch.no_grad():
        encoder_output = model.encode(batch["source_tokens"], batch["source_mask"])
        full = model.decode(decoder_input, encoder_output)
        state, steps = None, []
        for t in range(decoder_input.size(1)):
            logits, state = model.decode_step(decoder_input[:, t], encoder_output, state)
            steps.append(logits)
            # ... and equal to decode() on the prefix so far, at every step
            torch.testing.assert_close(logits, model.decode(decoder_input[:, :t + 1], encoder_output)[:, -1],
                                       atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("name", TRANSFORMERS)
def test_decode_step_survives_beam_reordering(name, vocab, batch):
    """Beam search reorders and repeats the state's sentences (select_state): the cache must follow."""
    model = make(name, vocab)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        encoder_output = model.encode(batch["source_tokens"], batch["source_mask"])
        prefix, state = decoder_input[:, :0], None
        for t in range(decoder_input.size(1)):
            tokens = decoder_input[:, t]
            logits, state = model.decode_step(tokens, encoder_output, state)
            prefix = torch.cat([prefix, tokens.unsqueeze(1)], dim=1)
            expected = model.decode(prefix, encoder_output)[:, -1]
            torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-4)
            # A beam-search-like shuffle: rows picked (with repeats) from the current ones.
            rows = torch.randint(prefix.size(0), (prefix.size(0),), generator=generator)
            state, prefix = select_state(state, rows), prefix[rows]
            encoder_output = encoder_output.index_select(rows)
            decoder_input = decoder_input[rows]


def test_decode_step_runs_the_decoder_on_the_newest_position_only(vocab, batch):
    """Every sub-layer of every decoder layer sees one position; the self-attention's keys/values all t."""
    model = make("transformer", vocab)
    seen = []

    def record(name):
        def hook(module, args, kwargs):
            seen.append((name, tuple(a.size(1) for a in [*args, *kwargs.values()]
                                     if isinstance(a, torch.Tensor) and a.dim() == 3)))
        return hook

    hooks = []
    for layer in model.core.decoder_layers:
        modules = {"feed_forward": layer.feed_forward, "norm1": layer.norm1, "norm2": layer.norm2,
                   "norm3": layer.norm3, **{f"self {k}": layer.self_attention.projections[k] for k in ("query", "key", "value")},
                   **{f"cross {k}": layer.cross_attention.projections[k] for k in ("query", "key", "value")}}
        for name, module in modules.items():
            hooks.append(module.register_forward_pre_hook(record(name), with_kwargs=True))
    hooks.append(model.core.output.register_forward_pre_hook(record("output"), with_kwargs=True))
    decoder_input, _ = shift_targets(batch["target_tokens"])
    src_len = batch["source_tokens"].size(1)
    try:
        with torch.no_grad():
            encoder_output = model.encode(batch["source_tokens"], batch["source_mask"])
            state = None
            for t in range(4):
                seen.clear()
                _, state = model.decode_step(decoder_input[:, t], encoder_output, state)
                assert len(seen) == 2 * 10 + 1, "every hooked module ran once per layer"
                lengths = dict(seen)
                assert lengths["self query"] == (1,), "the self-attention's query: the newest position only"
                assert lengths["self key"] == lengths["self value"] == (t + 1,), "its keys/values: all t positions"
                assert lengths["cross query"] == (1,) and lengths["cross key"] == (src_len,)
                assert all(lengths[n] == (1,) for n in ("feed_forward", "norm1", "norm2", "norm3", "output"))
                prefix, cache = state
                assert prefix.shape == (batch["source_tokens"].size(0), t + 1)
                assert len(cache) == 2 and all(k.shape == v.shape == (prefix.size(0), t + 1, 32) for k, v in cache)
    finally:
        for hook in hooks:
            hook.remove()


def test_decode_step_binds_arguments_passed_by_keyword(vocab, batch):
    """The hooks find x / key / value by name, however a layer passes them (by position or keyword)."""
    model = make("transformer", vocab)
    for layer in model.core.decoder_layers:
        def forward(self, x, memory, memory_mask=None, attn_mask=None):
            h = self.norm1(x)
            x = x + self.self_attention(query=h, key=h, value=h, attn_mask=attn_mask).values
            h = self.norm2(x)
            x = x + self.cross_attention(h, memory, memory, mask=memory_mask).values
            return x + self.feed_forward(self.norm3(x))
        layer.forward = types.MethodType(forward, layer)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    with torch.no_grad():
        encoder_output = model.encode(batch["source_tokens"], batch["source_mask"])
        full = model.decode(decoder_input, encoder_output)
        state, steps = None, []
        for t in range(decoder_input.size(1)):
            logits, state = model.decode_step(decoder_input[:, t], encoder_output, state)
            steps.append(logits)
    torch.testing.assert_close(torch.stack(steps, dim=1), full, atol=1e-5, rtol=1e-4)


def test_decode_step_leaves_no_hooks_behind(vocab, batch):
    model = make("transformer", vocab)
    with torch.no_grad():
        encoder_output = model.encode(batch["source_tokens"], batch["source_mask"])
        model.decode_step(batch["target_tokens"][:, 0], encoder_output)
    for module in model.modules():
        assert not module._forward_pre_hooks and not module._forward_hooks, f"a hook left on {type(module).__name__}"


# ----------------------------------------------------------------------------------------------
# Attention, embeddings


@pytest.mark.parametrize("name", ["lstm_attention", "transformer", "transformer_pytorch"])
def test_attention_weights(name, vocab, batch):
    decoder_input, _ = shift_targets(batch["target_tokens"])
    args = (batch["source_tokens"], batch["source_mask"], decoder_input)
    batch_size, src_len = batch["source_tokens"].shape
    model = make(name, vocab)
    weights = model.attention(*args)
    if name == "lstm_attention":
        assert weights.shape == (batch_size, decoder_input.size(1), src_len)
    else:
        assert weights.shape == (batch_size, 2, 2, decoder_input.size(1), src_len)  # layers, heads
        assert torch.equal(model.attention(*args, layer=-1), weights[:, -1])
    torch.testing.assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]))
    padding = ~batch["source_mask"]
    padding = padding.view(batch_size, *([1] * (weights.dim() - 2)), src_len).expand_as(weights)
    assert weights[padding].abs().max() == 0


def test_transformer_attention_is_what_cross_attention_returns(vocab, batch):
    model = make("transformer", vocab)
    decoder_input, _ = shift_targets(batch["target_tokens"])
    with torch.no_grad():
        weights = model.attention(batch["source_tokens"], batch["source_mask"], decoder_input, layer=0)
        memory = model.core.encode(batch["source_tokens"], batch["source_mask"])
        layer = model.core.decoder_layers[0]
        y = model.core.positional_encoding(model.core.target_embedding(decoder_input) * 32 ** 0.5)
        mask = torch.ones(decoder_input.size(1), decoder_input.size(1), dtype=torch.bool).tril()
        h = layer.norm1(y)
        y = y + layer.self_attention(h, h, h, attn_mask=mask).values
        h = layer.norm2(y)
        expected = layer.cross_attention(h, memory, memory, mask=batch["source_mask"]).attention
    torch.testing.assert_close(weights, expected)
    with pytest.raises(NotImplementedError):
        make("lstm", vocab).attention(batch["source_tokens"], batch["source_mask"], decoder_input)


@pytest.mark.parametrize("name", ["transformer", "transformer_pytorch"])
def test_tied_embeddings(name, vocab):
    def parts(model):
        core = model.core if name == "transformer" else model
        return core.output.weight, core.target_embedding.weight

    output, embedding = parts(make(name, vocab))
    assert output is embedding
    untied = make(name, vocab, tie_embeddings=False)
    assert parts(untied)[0] is not parts(untied)[1]
    assert untied.num_parameters() > make(name, vocab).num_parameters()


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
    if name.startswith("transformer") and name != "transformer_pytorch":
        assert type(loaded.core) is Transformer, "load_model builds the core from notebook 03 again"
        assert loaded.core.output.weight is loaded.core.target_embedding.weight  # still tied


def test_load_model_passes_build_arguments(vocab, tmp_path):
    path = save_model(make("transformer", vocab), tmp_path / "t.pt")

    class Mine(Transformer):
        pass

    assert type(load_model(path, device="cpu", transformer_class=Mine).core) is Mine


def test_load_model_defaults_to_an_available_device(vocab, tmp_path):
    path = save_model(make("lstm", vocab), tmp_path / "m.pt")
    model = load_model(path)
    assert model.device.type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_padding_embeddings_start_at_zero(vocab):
    for name in ALL:
        model = make(name, vocab)
        embeddings = [m for m in model.modules() if isinstance(m, torch.nn.Embedding)]
        assert embeddings and all(e.weight[PAD_INDEX].abs().sum() == 0 for e in embeddings)


def test_encoder_output_reorders_every_tensor():
    output = EncoderOutput(torch.arange(6.).view(3, 2, 1), torch.ones(3, 2, dtype=torch.bool))
    picked = output.index_select(torch.tensor([2, 2, 0]))
    assert picked.memory[:, 0, 0].tolist() == [4.0, 4.0, 0.0] and picked.hidden is None
