"""Wrong: target_mask=None reaches the decoder as None (no causal mask by default). Expected: loses points.

Message: decoder ran without the causal mask
"""

# %% [transformer]
class Transformer(torch.nn.Module):
    """
    The encoder-decoder Transformer: embeddings scaled by sqrt(hidden_size) plus positions, N encoder
    layers, N decoder layers, a final LayerNorm on each stack when pre-norm, and the projection of the
    decoder's output onto the target vocabulary.

    Parameters
    ----------
    source_vocab_size, target_vocab_size : int
    hidden_size : int, optional (default = 256)
    num_heads : int, optional (default = 4)
    num_encoder_layers, num_decoder_layers : int, optional (default = 3)
    ffn_size : int, optional (default = 1024)
    dropout : float, optional (default = 0.1)
        Everywhere: after the positional encoding and in every layer.
    norm_first : bool, optional (default = False)
        Pre-norm layers, and then a final LayerNorm after each stack.
    tie_embeddings : bool, optional (default = True)
        The output projection shares its weight matrix with the target embedding.
    max_len : int, optional (default = 512)
    activation : str, optional (default = "relu")
    padding_index : int, optional (default = 0)
        Index of <pad> in both vocabularies: its embedding is zero and gets no gradient.

    Attributes
    ----------
    source_embedding, target_embedding : torch.nn.Embedding(vocab size, hidden_size, padding_idx=padding_index),
        initialised from N(0, 1 / hidden_size)
    positional_encoding : PositionalEncoding(hidden_size, dropout, max_len)  (yours, notebook 02)
    encoder_layers, decoder_layers : torch.nn.ModuleList of EncoderLayer / DecoderLayer
    encoder_norm, decoder_norm : torch.nn.LayerNorm(hidden_size) if norm_first, else None
    output : torch.nn.Linear(hidden_size, target_vocab_size)
    """

    def __init__(self, source_vocab_size: int, target_vocab_size: int, hidden_size: int = 256, num_heads: int = 4,
                 num_encoder_layers: int = 3, num_decoder_layers: int = 3, ffn_size: int = 1024,
                 dropout: Optional[float] = 0.1, norm_first: bool = False, tie_embeddings: bool = True,
                 max_len: int = 512, activation: str = "relu", padding_index: int = 0) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        # Create the embeddings (N(0, 1/hidden_size), <pad> row zero), self.positional_encoding, the layers,
        # the final norms (or None) and self.output (its weight tied to the target embedding if asked).
        self.source_embedding = torch.nn.Embedding(source_vocab_size, hidden_size, padding_idx=padding_index)
        self.target_embedding = torch.nn.Embedding(target_vocab_size, hidden_size, padding_idx=padding_index)
        for embedding in (self.source_embedding, self.target_embedding):
            # N(0, 1/d), times sqrt(d) on the way in: inputs of unit scale, and (tied) logits of a sane scale.
            torch.nn.init.normal_(embedding.weight, std=hidden_size ** -0.5)
            with torch.no_grad():
                embedding.weight[padding_index].zero_()
        self.positional_encoding = PositionalEncoding(hidden_size, dropout, max_len)
        layer = dict(hidden_size=hidden_size, num_heads=num_heads, ffn_size=ffn_size, dropout=dropout,
                     norm_first=norm_first, activation=activation)
        self.encoder_layers = torch.nn.ModuleList(EncoderLayer(**layer) for _ in range(num_encoder_layers))
        self.decoder_layers = torch.nn.ModuleList(DecoderLayer(**layer) for _ in range(num_decoder_layers))
        self.encoder_norm = torch.nn.LayerNorm(hidden_size) if norm_first else None
        self.decoder_norm = torch.nn.LayerNorm(hidden_size) if norm_first else None
        self.output = torch.nn.Linear(hidden_size, target_vocab_size)
        if tie_embeddings:
            self.output.weight = self.target_embedding.weight

    def encode(self, source_tokens: torch.Tensor, source_mask: torch.Tensor) -> torch.Tensor:
        """
        source_tokens ~ (batch, src_len) indices; source_mask ~ (batch, src_len), True = real token.
        Returns the memory ~ (batch, src_len, hidden_size).
        """
        # embedding * sqrt(hidden_size), positions, the encoder layers, encoder_norm if there is one
        x = self.positional_encoding(self.source_embedding(source_tokens) * math.sqrt(self.hidden_size))
        for layer in self.encoder_layers:
            x = layer(x, mask=source_mask)
        return x if self.encoder_norm is None else self.encoder_norm(x)

    def decode(self, target_tokens: torch.Tensor, memory: torch.Tensor, source_mask: torch.Tensor,
               target_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        target_tokens ~ (batch, tgt_len) indices (``<start> y1 ...``); memory ~ (batch, src_len, hidden_size);
        source_mask ~ (batch, src_len); target_mask: the decoder's self-attention mask, by default
        ``causal_mask(tgt_len)``. Returns logits ~ (batch, tgt_len, target_vocab_size).
        """
        # the causal mask by default, embedding * sqrt(hidden_size), positions, the decoder layers,
        # decoder_norm if there is one, then self.output
        y = self.positional_encoding(self.target_embedding(target_tokens) * math.sqrt(self.hidden_size))
        for layer in self.decoder_layers:
            y = layer(y, memory, memory_mask=source_mask, attn_mask=target_mask)
        if self.decoder_norm is not None:
            y = self.decoder_norm(y)
        return self.output(y)

    def forward(self, source_tokens: torch.Tensor, source_mask: torch.Tensor, target_tokens: torch.Tensor,
                target_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """Teacher-forced logits ~ (batch, tgt_len, target_vocab_size)."""
        return self.decode(target_tokens, self.encode(source_tokens, source_mask), source_mask, target_mask)
