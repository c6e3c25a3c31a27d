"""Wrong: the positions are not a column (no unsqueeze(1)), so positions * frequencies fails to broadcast inside __init__. Expected: loses points.

Message: calling PositionalEncoding(4, dropout=None
Message: torch.arange(max_len)[:, None]
"""

# %% [positional_encoding] replace
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)     # (max_len, 1)
# %% with
        position = torch.arange(max_len, dtype=torch.float32)     # WRONG: (max_len,), not (max_len, 1)
