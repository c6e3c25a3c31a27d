"""Wrong: RoPE turns every pair by the same angle t (no per-pair frequency). Expected: loses points.

Message: every pair turned by the same angle
"""

# %% [apply_rotary] replace
    angles = positions.to(device=x.device, dtype=dtype)[:, None] * frequencies     # (seq_len, d / 2)
# %% with
    angles = positions.to(device=x.device, dtype=dtype)[:, None] * torch.ones_like(frequencies)  # WRONG: no omega_i
