"""Correct: RoPE written into an empty tensor pair by pair with slice assignment. Expected: full marks."""

# %% [apply_rotary] replace
    # interleave the rotated pairs back: (..., seq_len, d / 2, 2) -> (..., seq_len, d)
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)
# %% with
    out = torch.empty_like(x)
    out[..., 0::2] = even * cos - odd * sin
    out[..., 1::2] = even * sin + odd * cos
    return out
