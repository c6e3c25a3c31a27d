"""Correct: RoPE as a product of complex numbers (view_as_complex / polar). Expected: full marks."""

# %% [apply_rotary] replace
    cos, sin = torch.cos(angles), torch.sin(angles)
    even, odd = x[..., 0::2], x[..., 1::2]                                            # (..., seq_len, d / 2)
    # interleave the rotated pairs back: (..., seq_len, d / 2, 2) -> (..., seq_len, d)
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)
# %% with
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], d // 2, 2).contiguous())  # x[2i] + i x[2i+1]
    turned = pairs * torch.polar(torch.ones_like(angles), angles)                     # times e^(i angle)
    return torch.view_as_real(turned).flatten(-2).to(x.dtype)
