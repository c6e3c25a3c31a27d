"""Correct: frequencies as 1 / 10000 ** (2i / d) with a power instead of exp/log. Expected: full marks."""

# %% [positional_encoding] replace
        frequencies = torch.exp(torch.arange(0, hidden_size, 2, dtype=torch.float32)
                                * (-math.log(10000.0) / hidden_size))           # (hidden_size / 2,)
# %% with
        frequencies = 1.0 / 10000 ** (torch.arange(0, hidden_size, 2, dtype=torch.float32) / hidden_size)  # (hidden_size / 2,)
