"""Correct: scores and weighted sum with torch.einsum. Expected: full marks."""

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
    scores = torch.einsum("...td,...sd->...ts", query, key) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, fill_value)
    # attention ~ (..., tgt_len, src_len): a distribution over the keys for every query
    attention = torch.softmax(scores, dim=-1)
    # values ~ (..., tgt_len, d_v)
    values = torch.einsum("...ts,...sv->...tv", attention, value)
    return values, attention
