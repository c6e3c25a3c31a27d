"""Wrong: softmax over the queries axis (dim=-2) instead of the keys (dim=-1). Expected: loses points."""

# %% [sdpa]
def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: Optional[torch.Tensor] = None,
    fill_value: float = float("-inf"),
) -> Tuple[torch.Tensor, torch.Tensor]:
    d = query.size(-1)
    # scores ~ (..., tgt_len, src_len)
    scores = query @ key.transpose(-2, -1) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, fill_value)
    # attention ~ (..., tgt_len, src_len): a distribution over the keys for every query
    attention = torch.softmax(scores, dim=-2)  # WRONG: the queries axis
    # values ~ (..., tgt_len, d_v)
    values = attention @ value
    return values, attention
