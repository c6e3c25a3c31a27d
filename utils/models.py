"""Three French -> English translators behind one interface, plus saving and loading them.

Every model is a :class:`Seq2Seq`: it ``encode`` s the French sentence once and ``decode`` s the
English prefix it is given (teacher forcing during training, its own output while translating)::

    encoder_output = model.encode(source_tokens, source_mask)   # memory ~ (batch, src_len, d)
    logits = model.decode(decoder_input, encoder_output)        # (batch, tgt_len, target vocab)
    logits = model(source_tokens, source_mask, decoder_input)   # the same, in one call

``decoder_input`` is ``<start> y1 .. y(n-1)`` and the logits at position ``t`` are the model's guess
for ``y(t+1)``; how training builds it is in ``utils.training`` (``shift_targets``).

The models
----------
``LSTMSeq2Seq``          the seed notebook's model: a bidirectional LSTM encoder whose final state
                         starts an LSTM decoder. No attention: the whole sentence must fit in a
                         fixed-size vector.
``AttentionLSTMSeq2Seq`` the same plus Luong ("general") attention: at every step the decoder looks
                         at all encoder states. The fair RNN baseline.
``TransformerSeq2Seq``   an encoder-decoder Transformer (``torch.nn.TransformerEncoderLayer`` /
                         ``TransformerDecoderLayer``, ``batch_first=True``) with sinusoidal positions
                         and a causal mask in the decoder.

``build_model(name, vocab, **config)`` builds one by name; ``save_model`` / ``load_model`` store a
trained model with its vocabulary and constructor arguments, so one call brings it back anywhere.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Union

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .vocab import PAD_INDEX, Vocabulary


# ----------------------------------------------------------------------------------------------
# Masks


def causal_mask(size: int) -> torch.BoolTensor:
    """Which positions a decoder position may look at: ``mask[i, j]`` is True iff ``j <= i``.

    Position ``i`` predicts token ``i + 1``, so it must not see positions after ``i``; otherwise
    training would teach the model to copy the next input token instead of predicting it.
    True = may attend (the course's convention for masks: True = keep).

    >>> causal_mask(3).int()
    tensor([[1, 0, 0],
            [1, 1, 0],
            [1, 1, 1]], dtype=torch.int32)
    """
    return torch.ones(size, size, dtype=torch.bool).tril()


# ----------------------------------------------------------------------------------------------
# The shared interface

DecoderState = Tuple  # nested tuples of batch-first tensors, see Seq2Seq.decode_step


def select_state(state, index: torch.Tensor):
    """Reorder / repeat the sentences of a decoder state (batch-first tensors in nested tuples)."""
    if state is None:
        return None
    if isinstance(state, torch.Tensor):
        return state.index_select(0, index)
    return type(state)(select_state(part, index) for part in state)


class EncoderOutput(NamedTuple):
    """What the encoder hands the decoder. Every tensor is batch-first, so beam search can
    reorder or repeat sentences with :meth:`index_select`.

    memory : `torch.Tensor` ~ (batch, src_len, memory size) -- one vector per French token
    mask : `torch.BoolTensor` ~ (batch, src_len) -- True = real token, False = padding
    hidden, cell : `torch.Tensor` ~ (batch, num_layers, hidden size), optional
        Initial decoder state (LSTMs only).
    """

    memory: torch.Tensor
    mask: torch.Tensor
    hidden: Optional[torch.Tensor] = None
    cell: Optional[torch.Tensor] = None

    def index_select(self, index: torch.Tensor) -> "EncoderOutput":
        """The sentences ``index`` (a 1-d LongTensor of batch positions, repeats allowed)."""
        return EncoderOutput(*(None if t is None else t.index_select(0, index) for t in self))


class Seq2Seq(nn.Module):
    """Base class of the course's translators: ``encode`` once, ``decode`` any target prefix.

    Subclasses set ``self.config`` (their constructor arguments, without ``vocab``) so that
    :func:`save_model` / :func:`load_model` can rebuild them.

    Parameters
    ----------
    vocab : `Vocabulary`, required
        Built from the training pairs; gives the vocabulary sizes and turns words into indices.
    """

    name = "seq2seq"

    def __init__(self, vocab: Vocabulary) -> None:
        super().__init__()
        self.vocab = vocab
        self.config: Dict = {}

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        """source_tokens, source_mask ~ (batch, src_len) -> :class:`EncoderOutput`."""
        raise NotImplementedError

    def decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput) -> torch.Tensor:
        """decoder_input ~ (batch, tgt_len) -> logits ~ (batch, tgt_len, target vocabulary size)."""
        raise NotImplementedError

    def forward(self, source_tokens: torch.Tensor, source_mask: torch.Tensor,
                decoder_input: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits ~ (batch, tgt_len, target vocabulary size)."""
        return self.decode(decoder_input, self.encode(source_tokens, source_mask))

    def decode_step(self, tokens: torch.Tensor, encoder_output: EncoderOutput,
                    state: Optional[DecoderState] = None) -> Tuple[torch.Tensor, DecoderState]:
        """One step of generation: the logits of the word after ``tokens``.

        Parameters
        ----------
        tokens : `torch.LongTensor` ~ (batch,), the latest word of each prefix (``<start>`` first)
        state : what the previous call returned (None at the first step)

        Returns
        -------
        logits ~ (batch, target vocabulary size), and the new state. A state is a tuple of
        batch-first tensors, so beam search can reorder it with :func:`select_state`.

        This default keeps the whole prefix and re-runs :meth:`decode` on it (always correct, but
        the work grows with the length); subclasses remember what they computed instead.
        """
        prefix = tokens.unsqueeze(1) if state is None else torch.cat([state[0], tokens.unsqueeze(1)], dim=1)
        return self.decode(prefix, encoder_output)[:, -1], (prefix,)

    def attention(self, source_tokens: torch.Tensor, source_mask: torch.Tensor,
                  decoder_input: torch.Tensor) -> torch.Tensor:
        """Attention of every target position over the source ~ (batch, [heads,] tgt_len, src_len)."""
        raise NotImplementedError(f"{type(self).__name__} has no attention")

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def num_parameters(self) -> int:
        """Number of trainable parameters (a tied weight counted once)."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)

    def extra_repr(self) -> str:
        return f"parameters={self.num_parameters():,}"


# ----------------------------------------------------------------------------------------------
# LSTMs


class LSTMEncoder(nn.Module):
    """A bidirectional LSTM over the embedded French tokens.

    Parameters
    ----------
    vocab_size : `int`, required
    embedding_dim : `int`, required
    hidden_size : `int`, required
        Per direction: ``memory`` vectors have ``2 * hidden_size`` features.
    num_layers : `int`, optional (default = `1`)
    dropout : `float`, optional (default = `0.2`)
        On the embeddings and between LSTM layers.
    decoder_size : `int`, optional (default = `hidden_size`)
        Hidden size of the decoder that the final states initialise.
    """

    def __init__(self, vocab_size: int, embedding_dim: int, hidden_size: int,
                 num_layers: int = 1, dropout: float = 0.2, decoder_size: Optional[int] = None) -> None:
        super().__init__()
        self.num_layers, self.hidden_size = num_layers, hidden_size
        self.embedding = nn.Embedding(vocab_size, embedding_dim, padding_idx=PAD_INDEX)
        self.dropout = nn.Dropout(dropout)
        self.lstm = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True, bidirectional=True,
                            dropout=dropout if num_layers > 1 else 0.0)
        # The decoder runs in one direction: its initial state is a mix of both final states.
        self.bridge_hidden = nn.Linear(2 * hidden_size, decoder_size or hidden_size)
        self.bridge_cell = nn.Linear(2 * hidden_size, decoder_size or hidden_size)

    def forward(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        batch, src_len = source_tokens.shape
        x = self.dropout(self.embedding(source_tokens))  # x ~ (batch, src_len, embedding_dim)
        # Packing makes the LSTM skip the padding (else the backward direction would start on it).
        lengths = source_mask.sum(dim=1).cpu()
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        packed_memory, (hidden, cell) = self.lstm(packed)
        # memory ~ (batch, src_len, 2 * hidden_size), zeros at padding
        memory, _ = pad_packed_sequence(packed_memory, batch_first=True, total_length=src_len)

        def final_state(state: torch.Tensor, bridge: nn.Linear) -> torch.Tensor:
            # state ~ (num_layers * 2, batch, hidden) -> (batch, num_layers, 2 * hidden)
            state = state.view(self.num_layers, 2, batch, self.hidden_size).permute(2, 0, 1, 3)
            return bridge(state.reshape(batch, self.num_layers, 2 * self.hidden_size))

        # hidden, cell ~ (batch, num_layers, decoder_size)
        return EncoderOutput(memory, source_mask, torch.tanh(final_state(hidden, self.bridge_hidden)),
                             final_state(cell, self.bridge_cell))


def _run_lstm(lstm: nn.LSTM, x: torch.Tensor, encoder_output: EncoderOutput, state: Optional[DecoderState] = None):
    """Run a decoder LSTM from ``state`` (default: the encoder's final state); states are kept
    batch-first ~ (batch, num_layers, hidden) for beam search, nn.LSTM wants (num_layers, batch, hidden)."""
    hidden, cell = state if state is not None else (encoder_output.hidden, encoder_output.cell)
    output, (hidden, cell) = lstm(x, (hidden.transpose(0, 1).contiguous(), cell.transpose(0, 1).contiguous()))
    return output, (hidden.transpose(0, 1), cell.transpose(0, 1))


class LSTMSeq2Seq(Seq2Seq):
    """The seed notebook's translator: bidirectional LSTM encoder -> LSTM decoder, no attention.

    The decoder only sees the encoder's final state: the whole French sentence squeezed into one
    vector of ``hidden_size`` numbers per layer (the bottleneck attention removes). Same sizes
    as :class:`AttentionLSTMSeq2Seq`, so the two differ by the attention only.

    Parameters
    ----------
    vocab : `Vocabulary`, required
    embedding_dim : `int`, optional (default = `256`)
    hidden_size : `int`, optional (default = `512`)
        Decoder size; each encoder direction has ``hidden_size // 2`` units.
    num_layers : `int`, optional (default = `1`)
    dropout : `float`, optional (default = `0.2`)
    """

    name = "lstm"

    def __init__(self, vocab: Vocabulary, embedding_dim: int = 256, hidden_size: int = 512,
                 num_layers: int = 1, dropout: float = 0.2) -> None:
        super().__init__(vocab)
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (two encoder directions), got {hidden_size}")
        self.config = dict(embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
                           dropout=dropout)
        self.encoder = LSTMEncoder(vocab.get_size("source"), embedding_dim, hidden_size // 2, num_layers, dropout,
                                   decoder_size=hidden_size)
        self.target_embedding = nn.Embedding(vocab.get_size("target"), embedding_dim, padding_idx=PAD_INDEX)
        self.decoder = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)
        self.output_projection = nn.Linear(hidden_size, vocab.get_size("target"))

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        return self.encoder(source_tokens, source_mask)

    def _decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput,
                state: Optional[DecoderState] = None):
        y = self.dropout(self.target_embedding(decoder_input))  # y ~ (batch, tgt_len, embedding_dim)
        # An LSTM only looks back, so no mask is needed; padding at the end only affects positions
        # whose labels are padding (ignored by the loss).
        h, state = _run_lstm(self.decoder, y, encoder_output, state)  # h ~ (batch, tgt_len, hidden_size)
        return self.output_projection(self.dropout(h)), state  # (batch, tgt_len, target vocab)

    def decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput) -> torch.Tensor:
        return self._decode(decoder_input, encoder_output)[0]

    def decode_step(self, tokens, encoder_output, state=None):
        """The LSTM's state is all it needs to go on: one step costs the same at any length."""
        logits, state = self._decode(tokens.unsqueeze(1), encoder_output, state)
        return logits[:, -1], state


class AttentionLSTMSeq2Seq(Seq2Seq):
    """LSTM encoder-decoder with Luong attention ("general" score, Luong et al., 2015).

    At every target position ``t`` the decoder state ``h_t`` scores each encoder state ``m_s``
    with ``h_t W m_s``; the softmax of the scores (padding excluded) weights the encoder states
    into a context vector ``c_t``, and ``tanh(W_c [c_t; h_t])`` predicts the next word. Without
    Luong's "input feeding" the decoder LSTM does not depend on the attention, so all positions
    are computed at once during training (fast, like the Transformer).

    Parameters
    ----------
    vocab : `Vocabulary`, required
    embedding_dim : `int`, optional (default = `256`)
    hidden_size : `int`, optional (default = `512`)
        Decoder size; each encoder direction has ``hidden_size // 2`` units so that memory vectors
        also have ``hidden_size`` features.
    num_layers : `int`, optional (default = `1`)
    dropout : `float`, optional (default = `0.2`)
    """

    name = "lstm_attention"

    def __init__(self, vocab: Vocabulary, embedding_dim: int = 256, hidden_size: int = 512,
                 num_layers: int = 1, dropout: float = 0.2) -> None:
        super().__init__(vocab)
        if hidden_size % 2:
            raise ValueError(f"hidden_size must be even (two encoder directions), got {hidden_size}")
        self.config = dict(embedding_dim=embedding_dim, hidden_size=hidden_size, num_layers=num_layers,
                           dropout=dropout)
        self.encoder = LSTMEncoder(vocab.get_size("source"), embedding_dim, hidden_size // 2, num_layers, dropout,
                                   decoder_size=hidden_size)
        self.target_embedding = nn.Embedding(vocab.get_size("target"), embedding_dim, padding_idx=PAD_INDEX)
        self.decoder = nn.LSTM(embedding_dim, hidden_size, num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)
        self.attention_score = nn.Linear(hidden_size, hidden_size, bias=False)  # W in h W m
        self.attention_output = nn.Linear(2 * hidden_size, hidden_size)  # W_c
        self.dropout = nn.Dropout(dropout)
        self.output_projection = nn.Linear(hidden_size, vocab.get_size("target"))

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        return self.encoder(source_tokens, source_mask)

    def _attend(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput,
                state: Optional[DecoderState] = None):
        y = self.dropout(self.target_embedding(decoder_input))  # y ~ (batch, tgt_len, embedding_dim)
        h, state = _run_lstm(self.decoder, y, encoder_output, state)  # h ~ (batch, tgt_len, hidden)
        memory = encoder_output.memory  # memory ~ (batch, src_len, hidden)
        scores = self.attention_score(h) @ memory.transpose(1, 2)  # scores ~ (batch, tgt_len, src_len)
        scores = scores.masked_fill(~encoder_output.mask.unsqueeze(1), float("-inf"))
        weights = scores.softmax(dim=-1)  # weights ~ (batch, tgt_len, src_len), rows sum to 1
        context = weights @ memory  # context ~ (batch, tgt_len, hidden)
        attentional = torch.tanh(self.attention_output(torch.cat([context, h], dim=-1)))
        return attentional, weights, state  # attentional ~ (batch, tgt_len, hidden)

    def decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput) -> torch.Tensor:
        attentional, _, _ = self._attend(decoder_input, encoder_output)
        return self.output_projection(self.dropout(attentional))  # (batch, tgt_len, target vocab)

    def decode_step(self, tokens, encoder_output, state=None):
        attentional, _, state = self._attend(tokens.unsqueeze(1), encoder_output, state)
        return self.output_projection(attentional[:, -1]), state

    def attention(self, source_tokens: torch.Tensor, source_mask: torch.Tensor,
                  decoder_input: torch.Tensor) -> torch.Tensor:
        """Attention weights ~ (batch, tgt_len, src_len)."""
        return self._attend(decoder_input, self.encode(source_tokens, source_mask))[1]


# ----------------------------------------------------------------------------------------------
# Transformer


class PositionalEncoding(nn.Module):
    """Adds the sinusoidal positions of "Attention Is All You Need", then dropout.

    ``PE[t, 2i] = sin(t / 10000^(2i/d))``, ``PE[t, 2i+1] = cos(t / 10000^(2i/d))``.

    Parameters
    ----------
    d_model : `int`, required
    dropout : `float`, optional (default = `0.1`)
    max_len : `int`, optional (default = `512`)
        Longest sequence supported.
    """

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 512) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)  # (max_len, 1)
        frequency = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))  # (d/2,)
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * frequency)
        pe[:, 1::2] = torch.cos(position * frequency[: d_model // 2])
        self.register_buffer("pe", pe, persistent=False)  # not a parameter, not saved
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x ~ (batch, seq_len, d_model)
        if x.size(1) > self.pe.size(0):
            raise ValueError(f"sequence of {x.size(1)} tokens, longer than max_len={self.pe.size(0)}")
        return self.dropout(x + self.pe[: x.size(1)])


def _split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    # x ~ (batch, length, d_model) -> (batch, heads, length, head size)
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
    return attention.out_proj(out.transpose(1, 2).reshape(query.shape))  # (batch, 1, d_model)


class TransformerSeq2Seq(Seq2Seq):
    """Encoder-decoder Transformer built from ``torch.nn.TransformerEncoderLayer`` /
    ``TransformerDecoderLayer`` (``batch_first=True``).

    Parameters
    ----------
    vocab : `Vocabulary`, required
    d_model : `int`, optional (default = `256`)
    num_heads : `int`, optional (default = `4`)
    num_encoder_layers, num_decoder_layers : `int`, optional (default = `3`)
    dim_feedforward : `int`, optional (default = `1024`)
    dropout : `float`, optional (default = `0.1`)
    norm_first : `bool`, optional (default = `True`)
        Pre-LN (LayerNorm before each sub-layer, plus a final LayerNorm) trains more stably than
        the original post-LN.
    tie_embeddings : `bool`, optional (default = `True`)
        The output projection reuses the target embedding matrix (Press & Wolf, 2017).
    max_len : `int`, optional (default = `512`)
    causal_mask_fn : callable, optional (default = :func:`causal_mask`)
        ``causal_mask_fn(size) -> BoolTensor (size, size)``, True where a decoder position may look.
        Replace it (e.g. with your own implementation) to change what the decoder sees.
    """

    name = "transformer"

    def __init__(self, vocab: Vocabulary, d_model: int = 256, num_heads: int = 4, num_encoder_layers: int = 3,
                 num_decoder_layers: int = 3, dim_feedforward: int = 1024, dropout: float = 0.1,
                 norm_first: bool = True, tie_embeddings: bool = True, max_len: int = 512,
                 causal_mask_fn: Callable[[int], torch.Tensor] = causal_mask) -> None:
        super().__init__(vocab)
        self.config = dict(d_model=d_model, num_heads=num_heads, num_encoder_layers=num_encoder_layers,
                           num_decoder_layers=num_decoder_layers, dim_feedforward=dim_feedforward,
                           dropout=dropout, norm_first=norm_first, tie_embeddings=tie_embeddings, max_len=max_len)
        self.causal_mask_fn = causal_mask_fn
        self.d_model = d_model
        self.source_embedding = nn.Embedding(vocab.get_size("source"), d_model, padding_idx=PAD_INDEX)
        self.target_embedding = nn.Embedding(vocab.get_size("target"), d_model, padding_idx=PAD_INDEX)
        self.positional_encoding = PositionalEncoding(d_model, dropout, max_len)
        layer_args = dict(d_model=d_model, nhead=num_heads, dim_feedforward=dim_feedforward, dropout=dropout,
                          batch_first=True, norm_first=norm_first)
        self.encoder = nn.TransformerEncoder(nn.TransformerEncoderLayer(**layer_args), num_encoder_layers,
                                             norm=nn.LayerNorm(d_model) if norm_first else None,
                                             enable_nested_tensor=False)
        self.decoder = nn.TransformerDecoder(nn.TransformerDecoderLayer(**layer_args), num_decoder_layers,
                                             norm=nn.LayerNorm(d_model) if norm_first else None)
        self.output_projection = nn.Linear(d_model, vocab.get_size("target"))
        # Embeddings ~ N(0, 1/d) and multiplied by sqrt(d) on the way in: inputs of unit scale,
        # and logits of a sensible scale when the matrix is shared with the output projection.
        for embedding in (self.source_embedding, self.target_embedding):
            nn.init.normal_(embedding.weight, std=d_model ** -0.5)
            with torch.no_grad():
                embedding.weight[PAD_INDEX].zero_()
        if tie_embeddings:
            self.output_projection.weight = self.target_embedding.weight

    def _embed(self, embedding: nn.Embedding, tokens: torch.Tensor) -> torch.Tensor:
        # tokens ~ (batch, seq_len) -> (batch, seq_len, d_model)
        return self.positional_encoding(embedding(tokens) * math.sqrt(self.d_model))

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        x = self._embed(self.source_embedding, source_tokens)  # x ~ (batch, src_len, d_model)
        # PyTorch's padding masks are the other way round: True = ignore this key.
        memory = self.encoder(x, src_key_padding_mask=~source_mask)  # memory ~ (batch, src_len, d_model)
        return EncoderOutput(memory, source_mask)

    def decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput) -> torch.Tensor:
        tgt_len = decoder_input.size(1)
        y = self._embed(self.target_embedding, decoder_input)  # y ~ (batch, tgt_len, d_model)
        # PyTorch's attn_mask: True = may NOT attend, hence the ~. No target padding mask is
        # needed: padding only comes after the real tokens, and the causal mask hides later positions.
        blocked = ~self.causal_mask_fn(tgt_len).to(decoder_input.device)  # (tgt_len, tgt_len)
        h = self.decoder(y, encoder_output.memory, tgt_mask=blocked, tgt_is_causal=False,
                         memory_key_padding_mask=~encoder_output.mask)  # h ~ (batch, tgt_len, d_model)
        return self.output_projection(h)  # (batch, tgt_len, target vocab)

    def decode_step(self, tokens, encoder_output, state=None):
        """Generate with a key/value cache: only the newest position goes through the layers.

        Position ``t`` of a decoder layer attends to the keys and values of positions ``<= t``
        (the causal mask guarantees it in training), and those never change once computed. So
        each layer keeps them -- ``(self_keys, self_values, memory_keys, memory_values)``, each
        ~ (batch, heads, length, head size) -- and computes the new position's only. Same numbers
        as :meth:`decode` on the whole prefix (eval mode: no dropout here), much less work.
        """
        memory, memory_mask = encoder_output.memory, encoder_output.mask
        if state is None:  # first step: the cross-attention keys/values of every layer, once
            empty = memory.new_zeros(memory.size(0), self.config["num_heads"], 0, self.d_model // self.config["num_heads"])
            state = tuple((empty, empty, *_keys_values(layer.multihead_attn, memory)) for layer in self.decoder.layers)
        step = state[0][0].size(2)
        # y ~ (batch, 1, d_model): the new token, embedded at its position
        y = self.target_embedding(tokens).unsqueeze(1) * math.sqrt(self.d_model) + self.positional_encoding.pe[step]
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
        return self.output_projection(y[:, -1]), tuple(new_state)

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


# ----------------------------------------------------------------------------------------------
# Building, saving, loading

MODELS = {model.name: model for model in (LSTMSeq2Seq, AttentionLSTMSeq2Seq, TransformerSeq2Seq)}


def build_model(name: str, vocab: Vocabulary, **config) -> Seq2Seq:
    """``build_model("transformer", vocab, d_model=128)``: one of ``MODELS`` (``"lstm"``,
    ``"lstm_attention"``, ``"transformer"``) with its defaults, overridden by ``config``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](vocab, **config)


def save_model(model: Seq2Seq, path: Union[str, Path], **extra) -> Path:
    """Save ``model`` -- weights, vocabulary and constructor arguments -- to one file.

    ``extra`` (JSON-like values, e.g. a training history as a dict) is stored alongside and
    comes back as ``model.extra`` from :func:`load_model`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format": 1, "model": model.name, "config": model.config, "vocab": model.vocab.to_dict(),
                "state_dict": state, "extra": extra}, path)
    return path


def load_model(path: Union[str, Path], device: Union[str, torch.device, None] = None) -> Seq2Seq:
    """Load a model saved by :func:`save_model`, on ``device`` (default: ``get_device()``), in eval mode."""
    from .runtime import get_device

    device = torch.device(device) if device is not None else get_device()
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(checkpoint["model"], Vocabulary.from_dict(checkpoint["vocab"]), **checkpoint["config"])
    model.load_state_dict(checkpoint["state_dict"])
    model.extra = checkpoint.get("extra", {})
    return model.to(device).eval()
