"""Wrong: the "cache" keeps the layer's inputs and projects every position again at each step: right numbers, no saving. Expected: loses points.
Message: the cache must hold keys and values
"""

# %% [kv_cache]
def cached_self_attention(attention, x, cache=None):
    inputs = x if cache is None else torch.cat([cache[0], x], dim=1)      # WRONG: caches inputs, not keys
    batch, total, _ = inputs.shape
    new = x.shape[1]
    split = lambda t, n: t.view(batch, n, attention.num_heads, attention.attn_size).transpose(1, 2)
    q = split(attention.projections["query"](x), new)
    keys = split(attention.projections["key"](inputs), total)
    values = split(attention.projections["value"](inputs), total)
    past = total - new
    mask = torch.ones(new, total, dtype=torch.bool).tril(diagonal=past)
    output, _ = scaled_dot_product_attention(q, keys, values, mask=mask)
    output = output.transpose(1, 2).reshape(batch, new, -1)
    return attention.output(output), (inputs, inputs)
