"""Wrong: the seed's attention_fill_value=1e-32 (masks nothing). Expected: loses points."""

# %% [mha]
class MultiHeadAttention(torch.nn.Module):

    def __init__(
        self,
        num_heads: int,
        hidden_size: int,
        bias: bool = True,
        dropout: float = 0.1,
        output_size: int = None,
        attention_fill_value: float = 1e-32,  # WRONG: the seed's value
    ) -> None:
        super().__init__()
        if hidden_size % num_heads != 0:
            raise ValueError(f"hidden_size={hidden_size} is not divisible by num_heads={num_heads}")
        self.num_heads = num_heads
        self.attn_size = hidden_size // num_heads   # features per head
        self.attention_fill_value = attention_fill_value
        # Create self.projections, self.output and the dropout of the attention weights.
        self.projections = torch.nn.ModuleDict({
            name: torch.nn.Linear(hidden_size, hidden_size, bias=bias) for name in ("query", "key", "value")
        })
        self.output = torch.nn.Linear(hidden_size, output_size or hidden_size, bias=bias)
        self.dropout = torch.nn.Dropout(p=dropout or 0.0)

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
    ) -> MultiHeadAttentionOutput:
        batch_size, tgt_len, _ = query.shape
        src_len = key.size(1)
        # 1) Project, then split the features into heads:
        #    (batch, len, hidden) -> (batch, len, heads, attn_size) -> (batch, heads, len, attn_size)
        # q ~ (batch, heads, tgt_len, attn_size); k, v ~ (batch, heads, src_len, attn_size)
        def split_heads(x: torch.Tensor, length: int) -> torch.Tensor:
            return x.view(batch_size, length, self.num_heads, self.attn_size).transpose(1, 2)

        q = split_heads(self.projections["query"](query), tgt_len)
        k = split_heads(self.projections["key"](key), src_len)
        v = split_heads(self.projections["value"](value), src_len)
        # 2) Attention in all heads at once, with scaled_dot_product_attention from TODO 1.
        #    mask ~ (batch, src_len) -> (batch, 1, 1, src_len) broadcasts over heads and queries.
        # scores, attention ~ (batch, heads, tgt_len, src_len); values ~ (batch, heads, tgt_len, attn_size)
        if mask is not None:
            mask = mask[:, None, None, :]
        values, attention = scaled_dot_product_attention(q, k, v, mask=mask, fill_value=self.attention_fill_value)
        if self.training and self.dropout.p > 0:
            # Dropout acts on the weights, so the weighted sum of the values is redone.
            values = self.dropout(attention) @ v
        # 3) Merge the heads and project:
        #    (batch, heads, tgt_len, attn_size) -> (batch, tgt_len, hidden) -> (batch, tgt_len, output_size)
        values = values.transpose(1, 2).reshape(batch_size, tgt_len, self.num_heads * self.attn_size)
        values = self.output(values)
        return MultiHeadAttentionOutput(values, attention)
