"""Correct: sin and cos interleaved with torch.stack(..., dim=-1).flatten(1). Expected: full marks."""

# %% [positional_encoding] replace
        table = torch.zeros(max_len, hidden_size)
        table[:, 0::2] = torch.sin(angles)
        table[:, 1::2] = torch.cos(angles)
# %% with
        table = torch.stack([torch.sin(angles), torch.cos(angles)], dim=-1).flatten(1)
