"""Three French -> English translators behind one interface, plus saving and loading them.

Every model is a :class:`Seq2Seq`: it ``encode`` s the French sentence once and ``decode`` s the
English prefix it is given (teacher forcing during training, its own output while translating)::

    encoder_output = model.encode(source_tokens, source_mask)   # memory ~ (batch, src_len, d)
    logits = model.decode(decoder_input, encoder_output)        # (batch, tgt_len, target vocab)
    logits = model(source_tokens, source_mask, decoder_input)   # the same, in one call
    logits, state = model.decode_step(tokens, encoder_output, state)   # one word at a time

``decoder_input`` is ``<start> y1 .. y(n-1)`` and the logits at position ``t`` are the model's guess
for ``y(t+1)``; notebook 04 writes the shift that builds it (``shift_targets``).

The models
----------
``LSTMSeq2Seq``            the seed notebook's model: a bidirectional LSTM encoder whose final state
                           starts an LSTM decoder. No attention: the whole sentence must fit in a
                           fixed-size vector.
``AttentionLSTMSeq2Seq``   the same plus Luong ("general") attention: at every step the decoder looks
                           at all encoder states. The fair RNN baseline.
``TransformerTranslator``  the encoder-decoder ``Transformer`` *you* wrote in notebook 03 (loaded from
                           that notebook with :func:`utils.notebooks.from_notebook`), wrapped in this
                           interface so that the training loop, beam search, attention heatmaps and
                           save/load work with it. None of its layers is re-implemented here.

``DecoderOnlyTranslator``  notebook 07's ``GPT`` (yours): no encoder, the French sentence is the start of
                           the text it continues (``french <end> <start> english``).

(``bench/baselines.py`` adds the same Transformer built from PyTorch's own layers, as a baseline.)

``build_model(name, vocab, **config)`` builds one by name; ``save_model`` / ``load_model`` store a
trained model with its vocabulary and constructor arguments, so one call brings it back anywhere.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Callable, Dict, List, NamedTuple, Optional, Tuple, Type, Union

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from .vocab import PAD_INDEX, Vocabulary

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
# Transformer: the student's own, from notebook 03


class TransformerTranslator(Seq2Seq):
    """The ``Transformer`` of notebook 03 (yours) as a :class:`Seq2Seq`.

    The wrapper builds the core with ``transformer_class(source vocabulary size, target vocabulary
    size, **config)`` and only passes calls on: ``encode`` -> ``core.encode``, ``decode`` ->
    ``core.decode``. Every layer that runs is the core's.

    Parameters
    ----------
    vocab : `Vocabulary`, required
    hidden_size, num_heads, num_encoder_layers, num_decoder_layers, ffn_size, dropout, norm_first,
    tie_embeddings, max_len, activation :
        The ``Transformer``'s own arguments (same defaults as notebook 03), stored in ``self.config``
        so that :func:`save_model` / :func:`load_model` rebuild the same model.
    transformer_class : type, optional (default = ``from_notebook("03-transformer", "Transformer")``)
        The class of the core, looked up when the model is built: your notebook 03 (or the notebooks
        ``COURSE_NOTEBOOKS`` points at; see :mod:`utils.notebooks`). Not saved: :func:`load_model`
        looks it up again.
    causal_mask_fn : callable, optional (default = None: the core's own causal mask)
        ``causal_mask_fn(size) -> BoolTensor (size, size)``, True where a decoder position may look;
        passed to ``core.decode`` as ``target_mask`` (e.g. an all-True mask, to show what goes wrong
        without one). :meth:`decode_step` never needs a mask (see there).

    Attributes
    ----------
    core : the ``Transformer`` (``core.encoder_layers``, ``core.decoder_layers``, ``core.output``, ...)

    Incremental decoding
    --------------------
    :meth:`decode_step` gives the logits of ``decode(prefix)[:, -1]`` with every sub-layer of the
    decoder running on the *newest position only*. It calls ``core.decode(prefix, memory, mask)``
    with temporary forward pre-hooks:

    * on each decoder layer: its input ``x`` ~ (batch, t, hidden) is cut to the newest position
      ``x[:, -1:]`` and its self-attention mask (``attn_mask``) is dropped -- the newest position may
      look at every earlier one, so its row of the causal mask is all True anyway;
    * on each decoder layer's ``self_attention``: its ``key`` and ``value`` (the newest position's,
      ~ (batch, 1, hidden)) are replaced by the cached inputs of the earlier steps with the new one
      appended, ~ (batch, t, hidden).

    **What is cached** (the ``state``): the *inputs* of every decoder layer's self-attention, i.e.
    the ``key`` and ``value`` tensors it was called with at every earlier step (post-norm: the
    layer's input; pre-norm: its ``norm1`` output) -- ``state = (prefix ~ (batch, t), ((keys_l,
    values_l) ~ (batch, t, hidden) for every layer l))``, all batch-first, so beam search reorders
    them with :func:`select_state`. The projected keys and values are *not* cached: your attention
    re-projects all ``t`` cached inputs at every step (and the cross-attention its memory), and the
    embedding and positional encoding run on the whole prefix (a lookup and an addition). That
    costs more than a true key/value cache (the PyTorch baseline of ``bench/`` has one), but it
    needs nothing from your attention beyond its ordinary ``forward``. In eval mode (no dropout)
    the logits equal those of :meth:`decode` on the whole prefix.
    """

    name = "transformer"

    def __init__(self, vocab: Vocabulary, hidden_size: int = 256, num_heads: int = 4, num_encoder_layers: int = 3,
                 num_decoder_layers: int = 3, ffn_size: int = 1024, dropout: Optional[float] = 0.1,
                 norm_first: bool = False, tie_embeddings: bool = True, max_len: int = 512,
                 activation: str = "relu", transformer_class: Optional[Type[nn.Module]] = None,
                 causal_mask_fn: Optional[Callable[[int], torch.Tensor]] = None) -> None:
        super().__init__(vocab)
        self.config = dict(hidden_size=hidden_size, num_heads=num_heads, num_encoder_layers=num_encoder_layers,
                           num_decoder_layers=num_decoder_layers, ffn_size=ffn_size, dropout=dropout,
                           norm_first=norm_first, tie_embeddings=tie_embeddings, max_len=max_len,
                           activation=activation)
        if transformer_class is None:
            from .notebooks import from_notebook

            transformer_class = from_notebook("03-transformer", "Transformer")
        self.transformer_class = transformer_class
        self.causal_mask_fn = causal_mask_fn
        self.core = transformer_class(vocab.get_size("source"), vocab.get_size("target"), **self.config)

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        memory = self.core.encode(source_tokens, source_mask)  # memory ~ (batch, src_len, hidden)
        return EncoderOutput(memory, source_mask)

    def decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput) -> torch.Tensor:
        memory, mask = encoder_output.memory, encoder_output.mask
        if self.causal_mask_fn is None:
            return self.core.decode(decoder_input, memory, mask)  # (batch, tgt_len, target vocab)
        target_mask = self.causal_mask_fn(decoder_input.size(1)).to(decoder_input.device)  # (tgt_len, tgt_len)
        return self.core.decode(decoder_input, memory, mask, target_mask)

    def decode_step(self, tokens, encoder_output, state=None):
        """The logits of the word after ``tokens`` ~ (batch,), the decoder running on that position only.

        See "Incremental decoding" in the class docstring for how, and for what ``state`` holds.
        """
        layers = list(self.core.decoder_layers)
        memory = encoder_output.memory
        if state is None:
            prefix = tokens.unsqueeze(1)  # (batch, 1)
            empty = memory.new_zeros(memory.size(0), 0, memory.size(-1))  # (batch, 0, hidden)
            cache = tuple((empty, empty) for _ in layers)
        else:
            prefix = torch.cat([state[0], tokens.unsqueeze(1)], dim=1)  # (batch, t)
            cache = state[1]
        new_cache: List[Optional[Tuple[torch.Tensor, torch.Tensor]]] = [None] * len(layers)

        def newest_position_only(signature, args, kwargs):
            bound = signature.bind(*args, **kwargs)
            x = next(iter(bound.arguments))  # the first parameter: the layer's input ~ (batch, t, hidden)
            bound.arguments[x] = bound.arguments[x][:, -1:]  # (batch, 1, hidden)
            if "attn_mask" in bound.arguments:
                bound.arguments["attn_mask"] = None  # the newest position may see every cached one
            return bound.args, bound.kwargs

        def attend_to_cache(index, signature, args, kwargs):
            bound = signature.bind(*args, **kwargs)
            _, key, value = list(signature.parameters)[:3]  # forward(query, key, value, ...)
            new_key, new_value = bound.arguments[key], bound.arguments[value]  # ~ (batch, 1, hidden)
            keys = torch.cat([cache[index][0], new_key], dim=1)  # (batch, t, hidden)
            values = keys if new_value is new_key else torch.cat([cache[index][1], new_value], dim=1)
            new_cache[index] = (keys, values)
            bound.arguments[key], bound.arguments[value] = keys, values
            return bound.args, bound.kwargs

        hooks = []
        try:
            for index, layer in enumerate(layers):
                layer_signature = inspect.signature(layer.forward)
                attention_signature = inspect.signature(layer.self_attention.forward)
                hooks.append(layer.register_forward_pre_hook(
                    lambda module, args, kwargs, signature=layer_signature: newest_position_only(signature, args, kwargs),
                    with_kwargs=True))
                hooks.append(layer.self_attention.register_forward_pre_hook(
                    lambda module, args, kwargs, index=index, signature=attention_signature:
                    attend_to_cache(index, signature, args, kwargs),
                    with_kwargs=True))
            logits = self.core.decode(prefix, memory, encoder_output.mask)  # (batch, 1, target vocab)
        finally:
            for hook in hooks:
                hook.remove()
        if any(entry is None for entry in new_cache):
            raise RuntimeError("decode_step: a decoder layer did not call its self_attention module "
                               "(self.self_attention(...), not self.self_attention.forward(...)): nothing to cache")
        return logits[:, -1], (prefix, tuple(new_cache))

    def attention(self, source_tokens: torch.Tensor, source_mask: torch.Tensor,
                  decoder_input: torch.Tensor, layer: Optional[int] = None) -> torch.Tensor:
        """Cross-attention weights of the decoder ~ (batch, layers, heads, tgt_len, src_len).

        ``layer`` picks one layer: ~ (batch, heads, tgt_len, src_len). Forward hooks keep the
        ``.attention`` that each decoder layer's ``cross_attention`` returns.
        """
        captured: List[torch.Tensor] = []

        def keep_weights(module, args, output):
            captured.append(output.attention if hasattr(output, "attention") else output[1])

        hooks = [decoder_layer.cross_attention.register_forward_hook(keep_weights)
                 for decoder_layer in self.core.decoder_layers]
        try:
            self(source_tokens, source_mask, decoder_input)
        finally:
            for hook in hooks:
                hook.remove()
        weights = torch.stack(captured, dim=1)  # (batch, layers, heads, tgt_len, src_len)
        return weights if layer is None else weights[:, layer]

    def extra_repr(self) -> str:
        origin = getattr(self.transformer_class, "__module__", "")
        return f"{super().extra_repr()}, core from {origin}"


class DecoderOnlyTranslator(Seq2Seq):
    """A decoder-only language model (notebook 07's ``GPT``, yours) as a translator: it reads
    ``french <end> <start> english`` as one sequence and predicts the English tokens.

    There is no encoder and no cross-attention: the French sentence is the beginning of the text the
    model continues. One vocabulary holds both languages: target ids ``0 .. V_target - 1`` as they are,
    source ids shifted by ``V_target`` (so ``le`` and ``the`` stay different tokens). The French side
    ends with its own ``<end>``; the English side starts with ``<start>``, which works as the separator.

    ``encode`` only remembers the real (unpadded) source ids; ``decode(decoder_input)`` builds, for every
    sentence, ``source ids + decoder_input`` packed to the left (no padding between the two parts, so the
    positions of a sentence do not depend on its batch), runs the model on the batch and returns the
    logits at the ``decoder_input`` positions. A causal model with padding on the right needs no padding
    mask: a real position never looks right. Loss, shift, training loop, beam search and BLEU are those of
    the encoder-decoder models, unchanged.

    Parameters
    ----------
    vocab : `Vocabulary`
    lm_class : type, required
        ``lm_class(vocab_size, block_size=..., **config)``, called ``lm(ids ~ (batch, len)) -> (logits, loss)``.
    block_size : int
        Longest ``source + target`` sequence (default 64: the short sentences of notebook 04 need < 30).
    config : the language model's other arguments (hidden_size, num_heads, num_layers, ffn_size, dropout)
    """

    name = "decoder_only"

    def __init__(self, vocab: Vocabulary, lm_class: Optional[Type[nn.Module]] = None, block_size: int = 64,
                 **config) -> None:
        super().__init__(vocab)
        if lm_class is None:
            raise ValueError("DecoderOnlyTranslator needs lm_class: the GPT class of notebook 07")
        self.config = dict(block_size=block_size, **config)
        self.lm_class = lm_class
        self.target_size = vocab.get_size("target")
        self.core = lm_class(self.target_size + vocab.get_size("source"), block_size=block_size, **config)

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> EncoderOutput:
        # "memory" is no vectors here: the source ids themselves, shifted into the shared vocabulary
        return EncoderOutput(source_tokens + self.target_size, source_mask)

    def decode(self, decoder_input: torch.Tensor, encoder_output: EncoderOutput) -> torch.Tensor:
        source, source_mask = encoder_output.memory, encoder_output.mask
        batch, tgt_len = decoder_input.shape
        source_lengths = source_mask.sum(dim=1)                                    # ~ (batch,)
        length = int(source_lengths.max()) + tgt_len
        if length > self.core.block_size:
            raise ValueError(f"source + target = {length} tokens, more than block_size={self.core.block_size}")
        ids = torch.full((batch, length), PAD_INDEX, dtype=torch.long, device=decoder_input.device)
        position = torch.arange(length, device=decoder_input.device)[None, :]       # ~ (1, length)
        in_source = position < source_lengths[:, None]
        ids[in_source] = source[source_mask]                                      # real source ids, packed left
        target_positions = source_lengths[:, None] + torch.arange(tgt_len, device=decoder_input.device)[None, :]
        ids.scatter_(1, target_positions, decoder_input)
        logits, _ = self.core(ids)                                                # ~ (batch, length, vocab)
        logits = logits.gather(1, target_positions[..., None].expand(-1, -1, logits.size(-1)))
        return logits[..., :self.target_size]                                     # English tokens only

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, core from {getattr(self.lm_class, '__module__', '')}"


# ----------------------------------------------------------------------------------------------
# Building, saving, loading

MODELS: Dict[str, Type[Seq2Seq]] = {model.name: model for model in (LSTMSeq2Seq, AttentionLSTMSeq2Seq,
                                                                   TransformerTranslator, DecoderOnlyTranslator)}


def register_model(model_class: Type[Seq2Seq]) -> Type[Seq2Seq]:
    """Make ``model_class`` buildable (and loadable) by its ``name`` (``bench/`` registers its baselines)."""
    MODELS[model_class.name] = model_class
    return model_class


def build_model(name: str, vocab: Vocabulary, **config) -> Seq2Seq:
    """``build_model("transformer", vocab, hidden_size=128)``: one of ``MODELS`` (``"lstm"``,
    ``"lstm_attention"``, ``"transformer"``) with its defaults, overridden by ``config``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)} "
                         f"(a baseline of bench/ is known once `import bench.baselines` ran)")
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


def load_model(path: Union[str, Path], device: Union[str, torch.device, None] = None, **build_kwargs) -> Seq2Seq:
    """Load a model saved by :func:`save_model`, on ``device`` (default: ``get_device()``), in eval mode.

    ``build_kwargs`` go to the constructor with the saved configuration, e.g.
    ``transformer_class=Transformer`` (by default the Transformer is rebuilt from notebook 03).
    """
    from .runtime import get_device

    device = torch.device(device) if device is not None else get_device()
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    model = build_model(checkpoint["model"], Vocabulary.from_dict(checkpoint["vocab"]),
                        **{**checkpoint["config"], **build_kwargs})
    model.load_state_dict(checkpoint["state_dict"])
    model.extra = checkpoint.get("extra", {})
    return model.to(device).eval()
