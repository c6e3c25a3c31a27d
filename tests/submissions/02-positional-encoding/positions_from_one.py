"""Wrong: positions start at 1 instead of 0. Expected: loses points.

Message: positions start at 1
"""

# %% [positional_encoding] replace
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)     # (max_len, 1)
# %% with
        position = torch.arange(1, max_len + 1, dtype=torch.float32).unsqueeze(1)  # WRONG: starts at 1
