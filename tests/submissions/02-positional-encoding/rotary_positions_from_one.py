"""Wrong: RoPE rotates by position t + 1 (off by one). Expected: loses points.

Message: position 0
"""

# %% [apply_rotary] replace
    angles = positions.to(device=x.device, dtype=dtype)[:, None] * frequencies     # (seq_len, d / 2)
# %% with
    angles = (positions.to(device=x.device, dtype=dtype)[:, None] + 1) * frequencies  # WRONG: off by one
