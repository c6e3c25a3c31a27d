"""Wrong: the causal mask is inverted (True above the diagonal, PyTorch's convention). Expected: loses points.

Message: It is inverted
"""

# %% [decoder_layer] replace
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()
# %% with
    return torch.ones(size, size, dtype=torch.bool, device=device).triu(diagonal=1)  # WRONG: True = blocked
