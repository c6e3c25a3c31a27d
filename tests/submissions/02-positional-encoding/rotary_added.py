"""Wrong: RoPE adds the sinusoidal table to x instead of rotating it. Expected: loses points.

Message: position 0
"""

# %% [apply_rotary] replace
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)
# %% with
    return x + torch.stack([sin, cos], dim=-1).flatten(-2)  # WRONG: added, not rotated
