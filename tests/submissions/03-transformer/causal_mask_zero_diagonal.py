"""Wrong: the causal mask's diagonal is False (j < i). Expected: loses points.

Message: The diagonal is False
"""

# %% [decoder_layer] replace
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()
# %% with
    return torch.ones(size, size, dtype=torch.bool, device=device).tril(diagonal=-1)  # WRONG: j < i
