"""Wrong: sines in the first half of the dimensions and cosines in the second, not interleaved. Expected: loses points.

Message: they must alternate
"""

# %% [positional_encoding] replace
        table = torch.zeros(max_len, hidden_size)
        table[:, 0::2] = torch.sin(angles)
        table[:, 1::2] = torch.cos(angles)
# %% with
        table = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)  # WRONG: halves, not interleaved
