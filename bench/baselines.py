"""Baselines for the benchmark: the course's Transformer built from PyTorch's own layers.

``PyTorchTransformerTranslator`` (model name ``"transformer_pytorch"``) is the same model as
``utils.models.TransformerTranslator`` around the Transformer of notebook 03 -- same embeddings
(N(0, 1/d), scaled by sqrt(d), zero padding row), same sinusoidal positions (the *reference*
``PositionalEncoding`` of notebook 02, loaded from ``solutions/``), same pre-/post-norm layers with
dropout in the same places, same final LayerNorms, same tied output projection, same
constructor arguments -- except that the layers are ``torch.nn.TransformerEncoderLayer`` /
``TransformerDecoderLayer`` (``batch_first=True``). Trained with the same recipe on the same data,
the two differ by the layers only: how fast the course-built layers are, and whether they learn
as well, is what ``python -m bench.translate`` measures.

It is a baseline, not course material: PyTorch's ready-made layers appear nowhere else in the
course except as the reference the notebooks' tests compare against. Importing this module
registers the model with ``utils.models`` (``build_model`` / ``load_model`` then know it).
"""
from __future__ import annotations

import math
from typing import Dict, List, Optional

import torch
from torch import nn

from utils.data import PROJECT_ROOT
from utils.models import EncoderOutput, Seq2Seq, register_model
from utils.notebooks import from_notebook
from utils.vocab import PAD_INDEX, Vocabulary

#: The instructor's notebooks: the baseline's positions are the reference PositionalEncoding.
SOLUTIONS = PROJECT_ROOT / "solutions"


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    # x ~ (batch, length, hidden) -> (batch, heads, length, head size)
    return x.view(x.size(0), x.size(1), num_heads, -1).transpose(1, 2)


def _keys_values(attention: nn.MultiheadAttention, x: torch.Tensor):
    """Keys and values ~ (batch, heads, length, head size) that ``attention`` computes from ``x``."""
    _, w_k, w_v = attention.in_proj_weight.chunk(3)
    _, b_k, b_v = attention.in_proj_bias.chunk(3)
    return (_split_heads(nn.functional.linear(x, w_k, b_k), attention.num_heads),
            _split_heads(nn.functional.linear(x, w_v, b_v), attention.num_heads))


def _attend(attention: nn.MultiheadAttention, query: torch.Tensor, keys: torch.Tensor, values: torch.Tensor,
            mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """What ``attention(query, ., .)`` returns, given its keys and values already projected."""
    w_q, _, _ = attention.in_proj_weight.chunk(3)
    b_q, _, _ = attention.in_proj_bias.chunk(3)
    q = _split_heads(nn.functional.linear(query, w_q, b_q), attention.num_heads)  # (batch, heads, 1, head size)
    out = nn.functional.scaled_dot_product_attention(q, keys, values, attn_mask=mask)  # (batch, heads, 1, head size)
    return attention.out_proj(out.transpose(1, 2).reshape(query.shape))  # (batch, 1, hidden)


def course_state_dict(core: nn.Module, num_encoder_layers: int, num_decoder_layers: int) -> Dict[str, torch.Tensor]:
    """The weights of the Transformer of notebook 03 (reference structure) under this baseline's names.

    PyTorch keeps an attention's three projections in one ``in_proj_weight`` (rows: query, key,
    value) and calls its output projection ``out_proj``; the rest maps one to one.
    """
    weights = core.state_dict()
    out = {name: weights[name] for name in ("source_embedding.weight", "target_embedding.weight",
                                            "positional_encoding.pe", "output.weight", "output.bias")}

    def attention(to: str, source: str) -> None:
        for kind in ("weight", "bias"):
            out[f"{to}.in_proj_{kind}"] = torch.cat([weights[f"{source}.projections.{name}.{kind}"]
                                                     for name in ("query", "key", "value")])
            out[f"{to}.out_proj.{kind}"] = weights[f"{source}.output.{kind}"]

    def copy(to: str, source: str) -> None:
        for kind in ("weight", "bias"):
            out[f"{to}.{kind}"] = weights[f"{source}.{kind}"]

    stacks = (("encoder", "encoder_layers", num_encoder_layers, {"self_attn": "self_attention"}, 2),
              ("decoder", "decoder_layers", num_decoder_layers,
               {"self_attn": "self_attention", "multihead_attn": "cross_attention"}, 3))
    for stack, layers, count, attentions, norms in stacks:
        for i in range(count):
            for to, source in attentions.items():
                attention(f"{stack}.layers.{i}.{to}", f"{layers}.{i}.{source}")
            for linear in ("linear1", "linear2"):
                copy(f"{stack}.layers.{i}.{linear}", f"{layers}.{i}.feed_forward.{linear}")
            for n in range(1, norms + 1):
                copy(f"{stack}.layers.{i}.norm{n}", f"{layers}.{i}.norm{n}")
        if f"{stack}_norm.weight" in weights:
            copy(f"{stack}.norm", f"{stack}_norm")
    return out


@register_model
class PyTorchTransformerTranslator(Seq2Seq):
    """The course's Transformer with ``torch.nn.TransformerEncoderLayer`` / ``TransformerDecoderLayer``.

    Parameters
    ----------
    vocab : `Vocabulary`, required
    hidden_size, num_heads, num_encoder_layers, num_decoder_layers, ffn_size, dropout, norm_first,
    tie_embeddings, max_len, activation :
        As ``utils.models.TransformerTranslator`` (the Transformer of notebook 03), same defaults.
    """

    name = "transformer_pytorch"

    def __init__(self, vocab: Vocabulary, hidden_size: int = 256, num_heads: int = 4, num_encoder_layers: int = 3,
                 num_decoder_layers: int = 3, ffn_size: int = 1024, dropout: Optional[float] = 0.1,
                 norm_first: bool = False, tie_embeddings: bool = True, max_len: int = 512,
                 activation: str = "relu") -> None:
        super().__init__(vocab)
        self.config = dict(hidden_size=hidden_size, num_heads=num_heads, num_encoder_layers=num_encoder_layers,
                           num_decoder_layers=num_decoder_layers, ffn_size=ffn_size, dropout=dropout,
                           norm_first=norm_first, tie_embeddings=tie_embeddings, max_len=max_len,
                           activation=activation)
        self.hidden_size = hidden_size
        self.num_heads = num_heads
        self.source_embedding = nn.Embedding(vocab.get_size("source"), hidden_size, padding_idx=PAD_INDEX)
        self.target_embedding = nn.Embedding(vocab.get_size("target"), hidden_size, padding_idx=PAD_INDEX)
        positional_encoding = from_notebook("02-positional-encoding", "PositionalEncoding", folder=SOLUTIONS)
        self.positional_encoding = positional_encoding(hidden_size, dropout, max_len)
        layer_args = dict(d_model=hidden_size, nhead=num_heads, dim_feedforward=ffn_size, dropout=dropout or 0.0,
                          activation=activation, batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer_args), num_encoder_layers,
                                             norm=nn.LayerNorm(hidden_size) if norm_first else None,
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer_args), num_decoder_layers,
                                             norm=nn.LayerNorm(hidden_size) if norm_first else None)
        self.output = nn.Linear(hidden_size, vocab.get_size("target"))
        # Embeddings ~ N(0, 1/d) and multiplied by sqrt(d) on the way in, as in notebook 03.
        for embedding in (self.source_embedding, self.target_embedding):
            nn.init.normal_(embedding.weight, std=hidden_size ** -0.5)
            with torch.no_grad():
                embedding.weight[PAD_INDEX].zero_()
        if tie_embeddings:
            self.output.weight = self.target_embedding.weight

    def load_course_weights(self, core: nn.Module) -> "PyTorchTransformerTranslator":
        """Take the weights of a course-built Transformer (notebook 03's, e.g. ``model.core``).

        The bench starts both Transformers from the same initial weights this way, so that they
        differ by their layers' code only; the tests use it to check the two compute the same.
        """
        self.load_state_dict(course_state_dict(core, len(self.encoder.layers), len(self.decoder.layers)))
        return self

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        # tokens ~ (batch, seq_len) -> (batch, seq_len, hidden)
        return self.positional_encoding(embedding(tokens) * math.sqrt(self.hidden_size))

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        x = self._embed(self.source_embedding, source_tokens)  # x ~ (batch, src_len, hidden)
        # PyTorch's padding masks are the other way round: True = ignore this key.
        memory = self.encoder(x, src_key_padding_mask=~source_mask)  # memory ~ (batch, src_len, hidden)
        return EncoderOutput(memory, source_mask)

    def decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput) -> torch.Tensor:
        tgt_len = decoder_input.size(1)
        y = self._embed(self.target_embedding, decoder_input)  # y ~ (batch, tgt_len, hidden)
        # PyTorch's attn_mask: True = may NOT attend, i.e. the positions above the diagonal.
        blocked = torch.ones(tgt_len, tgt_len, dtype=torch.bool, device=decoder_input.device).triu(1)
        h = self.decoder(y, encoder_output.memory, tgt_mask=blocked, tgt_is_causal=False,
                         memory_key_padding_mask=~encoder_output.mask)  # h ~ (batch, tgt_len, hidden)
        return self.output(h)  # (batch, tgt_len, target vocab)

    def decode_step(self, tokens, encoder_output, state=None):
        """Generate with a key/value cache: only the newest position goes through the layers.

        Position ``t`` of a decoder layer attends to the keys and values of positions ``<= t``
        (the causal mask guarantees it in training), and those never change once computed. So
        each layer keeps them -- ``(self_keys, self_values, memory_keys, memory_values)``, each
        ~ (batch, heads, length, head size) -- and computes the new position's only. Same numbers
        as :meth:`decode` on the whole prefix (eval mode: no dropout here), much less work.
        """
        memory, memory_mask = encoder_output.memory, encoder_output.mask
        head_size = self.hidden_size // self.num_heads
        if state is None:  # first step: the cross-attention keys/values of every layer, once
            empty = memory.new_zeros(memory.size(0), self.num_heads, 0, head_size)
            state = tuple((empty, empty, *_keys_values(layer.multihead_attn, memory)) for layer in self.decoder.layers)
        step = state[0][0].size(2)
        # y ~ (batch, 1, hidden): the new token, embedded at its position
        y = (self.target_embedding(tokens).unsqueeze(1) * math.sqrt(self.hidden_size)
             + self.positional_encoding.pe[:, step])
        attend_to_source = memory_mask[:, None, None, :]  # (batch, 1, 1, src_len), True = real token
        new_state = []
        for layer, (self_keys, self_values, memory_keys, memory_values) in zip(self.decoder.layers, state):
            x = layer.norm1(y) if layer.norm_first else y
            keys, values = _keys_values(layer.self_attn, x)  # this position's, ~ (batch, heads, 1, head size)
            self_keys, self_values = torch.cat([self_keys, keys], dim=2), torch.cat([self_values, values], dim=2)
            new_state.append((self_keys, self_values, memory_keys, memory_values))
            if layer.norm_first:
                y = y + _attend(layer.self_attn, x, self_keys, self_values)
                y = y + _attend(layer.multihead_attn, layer.norm2(y), memory_keys, memory_values, attend_to_source)
                y = y + layer.linear2(layer.activation(layer.linear1(layer.norm3(y))))
            else:
                y = layer.norm1(y + _attend(layer.self_attn, x, self_keys, self_values))
                y = layer.norm2(y + _attend(layer.multihead_attn, y, memory_keys, memory_values, attend_to_source))
                y = layer.norm3(y + layer.linear2(layer.activation(layer.linear1(y))))
        if self.decoder.norm is not None:
            y = self.decoder.norm(y)
        return self.output(y[:, -1]), tuple(new_state)

    def attention(self, source_tokens: torch.Tensor, source_mask: torch.Tensor,
                  decoder_input: torch.Tensor, layer: Optional[int] = None) -> torch.Tensor:
        """Cross-attention weights of the decoder ~ (batch, layers, heads, tgt_len, src_len).

        ``layer`` picks one layer: ~ (batch, heads, tgt_len, src_len). PyTorch's decoder layers do not
        return their attention, so forward hooks ask each ``multihead_attn`` for its weights.
        """
        captured: List[torch.Tensor] = []

        def ask_for_weights(module, args, kwargs):
            kwargs.update(need_weights=True, average_attn_weights=False)
            return args, kwargs

        def keep_weights(module, args, output):
            captured.append(output[1])  # (batch, heads, tgt_len, src_len)

        hooks = []
        for decoder_layer in self.decoder.layers:
            hooks.append(decoder_layer.multihead_attn.register_forward_pre_hook(ask_for_weights, with_kwargs=True))
            hooks.append(decoder_layer.multihead_attn.register_forward_hook(keep_weights))
        try:
            self(source_tokens, source_mask, decoder_input)
        finally:
            for hook in hooks:
                hook.remove()
        weights = torch.stack(captured, dim=1)  # (batch, layers, heads, tgt_len, src_len)
        return weights if layer is None else weights[:, layer]
