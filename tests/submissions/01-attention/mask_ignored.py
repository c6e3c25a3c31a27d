"""Wrong: scaled_dot_product_attention accepts a mask and ignores it. Expected: loses points.

Message: masked keys must get weight exactly 0
Message: Is the mask used?
"""

# %% [sdpa] replace
    if mask is not None:
        scores = scores.masked_fill(~mask, fill_value)
# %% with
    # WRONG: the mask is never applied
