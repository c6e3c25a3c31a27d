"""Correct: scores and weighted sum with torch.einsum. Expected: full marks."""

# %% [sdpa]
def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: Optional[torch.Tensor] = None,
    fill_value: float = float("-inf"),
    dropout: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """
    Scaled dot-product attention: softmax(query @ key^T / sqrt(d), masked) @ value.

    Parameters
    ----------
    query : torch.Tensor ~ (..., tgt_len, d)
    key : torch.Tensor ~ (..., src_len, d)
    value : torch.Tensor ~ (..., src_len, d_v)
        "..." stands for any number of leading dimensions (batch, heads, ...), the same for all three.
    mask : torch.BoolTensor, optional
        Broadcastable to (..., tgt_len, src_len). True = the query may attend to the key,
        False = it must not (padding, the future, ...). Every query needs at least one True key.
    fill_value : float, optional (default = -inf)
        The score that replaces masked (False) positions before the softmax.
        Must be -inf or a large negative number, so that masked keys get weight exactly 0.
    dropout : callable, optional (default = None)
        Applied to the attention weights before they average the values, e.g. a
        ``torch.nn.Dropout`` module (which does nothing in eval mode). None means no dropout.

    Returns
    -------
    values : torch.Tensor ~ (..., tgt_len, d_v)
        For every query, the attention-weighted average of the value vectors.
    attention : torch.Tensor ~ (..., tgt_len, src_len)
        The attention weights *before* dropout: non-negative, every row sums to 1, exactly 0 at
        masked keys.
    """
    d = query.size(-1)
    # scores ~ (..., tgt_len, src_len)
    scores = torch.einsum("...td,...sd->...ts", query, key) / math.sqrt(d)
    if mask is not None:
        scores = scores.masked_fill(~mask, fill_value)
    # attention ~ (..., tgt_len, src_len): a distribution over the keys for every query
    attention = torch.softmax(scores, dim=-1)
    # values ~ (..., tgt_len, d_v); dropout (if any) acts on the weights, not on the values
    weights = attention if dropout is None else dropout(attention)
    values = torch.einsum("...ts,...sv->...tv", weights, value)
    return values, attention
