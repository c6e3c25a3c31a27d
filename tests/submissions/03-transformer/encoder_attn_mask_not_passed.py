"""Wrong: attn_mask is not passed to the self-attention. Expected: loses points.

Message: attn_mask was not passed to the self-attention
"""

# %% [encoder_layer]
class EncoderLayer(torch.nn.Module):
    """
    One encoder layer: self-attention, then the feed-forward network, each in a residual connection
    with LayerNorm and dropout.

    post-norm (``norm_first=False``, the paper):  x = norm(x + dropout(sublayer(x)))
    pre-norm  (``norm_first=True``):              x = x + dropout(sublayer(norm(x)))

    Parameters
    ----------
    hidden_size : int
    num_heads : int
    ffn_size : int
    dropout : float, optional (default = 0.1)
        On the attention weights, inside the feed-forward network, and on each sub-layer's output
        before it is added to the residual stream. None or 0 means none.
    norm_first : bool, optional (default = False)
    activation : str, optional (default = "relu")

    Attributes
    ----------
    self_attention : MultiHeadAttention(num_heads, hidden_size, dropout=dropout)  (yours, notebook 01)
    feed_forward : FeedForward(hidden_size, ffn_size, dropout, activation)
    norm1, norm2 : torch.nn.LayerNorm(hidden_size)   (norm1 goes with attention, norm2 with the FFN)
    """

    def __init__(self, hidden_size: int, num_heads: int, ffn_size: int, dropout: Optional[float] = 0.1,
                 norm_first: bool = False, activation: str = "relu") -> None:
        super().__init__()
        self.norm_first = norm_first
        # Create self.self_attention, self.feed_forward, self.norm1, self.norm2 and the dropout of the
        # sub-layers' outputs.
        self.self_attention = MultiHeadAttention(num_heads, hidden_size, dropout=dropout)
        self.feed_forward = FeedForward(hidden_size, ffn_size, dropout, activation)
        self.norm1 = torch.nn.LayerNorm(hidden_size)
        self.norm2 = torch.nn.LayerNorm(hidden_size)
        self.dropout = torch.nn.Dropout(dropout or 0.0)

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None,
                attn_mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        """
        Parameters
        ----------
        x : torch.Tensor ~ (batch, src_len, hidden_size)
        mask : torch.BoolTensor ~ (batch, src_len), optional
            True = real token, False = padding (padding keys get no attention).
        attn_mask : torch.BoolTensor, optional
            Passed on to the self-attention (e.g. a causal mask ~ (src_len, src_len)); True = may attend.

        Returns
        -------
        torch.Tensor ~ (batch, src_len, hidden_size)
        """
        # Self-attention, then the feed-forward network; post-norm or pre-norm as self.norm_first says.
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout(self.self_attention(h, h, h, mask=mask).values)  # WRONG: no attn_mask
            x = x + self.dropout(self.feed_forward(self.norm2(x)))
        else:
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, mask=mask).values))  # WRONG: no attn_mask
            x = self.norm2(x + self.dropout(self.feed_forward(x)))
        return x
