"""Wrong: RoPE pairs feature i with i + d/2 (the "rotate half" convention), not 2i with 2i+1. Expected: loses points.

Message: 'rotate half' convention
"""

# %% [apply_rotary] replace
    even, odd = x[..., 0::2], x[..., 1::2]                                            # (..., seq_len, d / 2)
    # interleave the rotated pairs back: (..., seq_len, d / 2, 2) -> (..., seq_len, d)
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)
# %% with
    even, odd = x[..., : d // 2], x[..., d // 2:]  # WRONG: pairs i and i + d/2
    return torch.cat([even * cos - odd * sin, even * sin + odd * cos], dim=-1)
