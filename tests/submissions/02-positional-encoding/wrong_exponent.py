"""Wrong: the exponent is i/d instead of 2i/d (arange over d/2 pair indices, not 0, 2, 4, ...). Expected: loses points.

Message: the exponent is i/d instead of 2i/d
"""

# %% [positional_encoding] replace
        frequencies = torch.exp(torch.arange(0, hidden_size, 2, dtype=torch.float32)
                                * (-math.log(10000.0) / hidden_size))           # (hidden_size / 2,)
# %% with
        frequencies = torch.exp(torch.arange(0, hidden_size // 2, dtype=torch.float32)
                                * (-math.log(10000.0) / hidden_size))           # WRONG: i = 0, 1, 2, ... not 2i
