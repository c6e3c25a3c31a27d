"""Wrong: the mask zeroes the weights after the softmax (rows no longer sum to 1). Expected: loses points.

Message: mask the scores before the softmax, not the weights after it
"""

# %% [sdpa] replace
    if mask is not None:
        scores = scores.masked_fill(~mask, fill_value)
# %% with

# %% [sdpa] replace
    # values ~ (..., tgt_len, d_v); dropout (if any) acts on the weights, not on the values
# %% with
    if mask is not None:
        attention = attention.masked_fill(~mask, 0.0)  # WRONG: after the softmax
    # values ~ (..., tgt_len, d_v); dropout (if any) acts on the weights, not on the values
