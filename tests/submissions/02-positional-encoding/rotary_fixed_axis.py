"""Wrong: RoPE slices the features with x[:, 0::2] (only right for 2-D inputs). Expected: loses points.

Message: x[..., 0::2]
"""

# %% [apply_rotary] replace
    even, odd = x[..., 0::2], x[..., 1::2]                                            # (..., seq_len, d / 2)
# %% with
    even, odd = x[:, 0::2], x[:, 1::2]  # WRONG: the second axis, not the last one
