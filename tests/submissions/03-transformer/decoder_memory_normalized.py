"""Wrong: pre-norm normalizes the memory with norm2 as well. Expected: loses points.

Message: memory went through norm2 as well
"""

# %% [decoder_layer]
def causal_mask(size: int, device=None) -> torch.Tensor:
    """
    ``mask[i, j]`` is True iff position ``i`` may look at position ``j``, i.e. ``j <= i``.

    Returns
    -------
    torch.BoolTensor ~ (size, size), on ``device``
    """
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


class DecoderLayer(torch.nn.Module):
    """
    One decoder layer: masked self-attention over the target, cross-attention from the target into
    the encoder's output (the memory), then the feed-forward network; each in a residual connection
    with LayerNorm and dropout, post-norm or pre-norm as in EncoderLayer.

    Parameters
    ----------
    hidden_size, num_heads, ffn_size, dropout, norm_first, activation : as in EncoderLayer

    Attributes
    ----------
    self_attention : MultiHeadAttention(num_heads, hidden_size, dropout=dropout)
    cross_attention : MultiHeadAttention(num_heads, hidden_size, dropout=dropout)
    feed_forward : FeedForward(hidden_size, ffn_size, dropout, activation)
    norm1, norm2, norm3 : torch.nn.LayerNorm(hidden_size)   (self-attention, cross-attention, FFN)
    """

    def __init__(self, hidden_size: int, num_heads: int, ffn_size: int, dropout: Optional[float] = 0.1,
                 norm_first: bool = False, activation: str = "relu") -> None:
        super().__init__()
        self.norm_first = norm_first
        # Create self.self_attention, self.cross_attention, self.feed_forward, self.norm1, self.norm2,
        # self.norm3 and the dropout of the sub-layers' outputs.
        self.self_attention = MultiHeadAttention(num_heads, hidden_size, dropout=dropout)
        self.cross_attention = MultiHeadAttention(num_heads, hidden_size, dropout=dropout)
        self.feed_forward = FeedForward(hidden_size, ffn_size, dropout, activation)
        self.norm1 = torch.nn.LayerNorm(hidden_size)
        self.norm2 = torch.nn.LayerNorm(hidden_size)
        self.norm3 = torch.nn.LayerNorm(hidden_size)
        self.dropout = torch.nn.Dropout(dropout or 0.0)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, memory_mask: Optional[torch.Tensor] = None,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor ~ (batch, tgt_len, hidden_size)
            The target sequence so far.
        memory : torch.Tensor ~ (batch, src_len, hidden_size)
            The encoder's output.
        memory_mask : torch.BoolTensor ~ (batch, src_len), optional
            True = real source token, False = padding: cross-attention ignores padding.
        attn_mask : torch.BoolTensor, optional
            The self-attention's mask, usually ``causal_mask(tgt_len)``; True = may attend.

        Returns
        -------
        torch.Tensor ~ (batch, tgt_len, hidden_size)
        """
        # Causal self-attention (attn_mask), cross-attention into memory (memory_mask), feed-forward;
        # post-norm or pre-norm as self.norm_first says.
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout(self.self_attention(h, h, h, attn_mask=attn_mask).values)
            h = self.norm2(x)
            memory = self.norm2(memory)  # WRONG: the memory is not the decoder's stream
            x = x + self.dropout(self.cross_attention(h, memory, memory, mask=memory_mask).values)
            x = x + self.dropout(self.feed_forward(self.norm3(x)))
        else:
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, attn_mask=attn_mask).values))
            x = self.norm2(x + self.dropout(self.cross_attention(x, memory, memory, mask=memory_mask).values))
            x = self.norm3(x + self.dropout(self.feed_forward(x)))
        return x
