"""Wrong: upper-triangular mask, each position sees the future instead of the past. Expected: loses points."""

# %% [causal_mask]
def causal_mask(size: int) -> torch.Tensor:
    return torch.ones(size, size, dtype=torch.bool).triu()  # WRONG: triu instead of tril
