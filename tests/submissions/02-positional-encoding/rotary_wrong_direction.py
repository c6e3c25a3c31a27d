"""Wrong: RoPE rotates clockwise (the signs of sin swapped). Expected: loses points.

Message: turns the wrong way
"""

# %% [apply_rotary] replace
    return torch.stack([even * cos - odd * sin, even * sin + odd * cos], dim=-1).flatten(-2)
# %% with
    return torch.stack([even * cos + odd * sin, -even * sin + odd * cos], dim=-1).flatten(-2)  # WRONG: clockwise
