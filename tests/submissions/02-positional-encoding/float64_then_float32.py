"""Correct: the table computed in float64 and converted to float32 before it is registered. Expected: full marks."""

# %% [positional_encoding] replace
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)     # (max_len, 1)
# %% with
        position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)     # (max_len, 1)

# %% [positional_encoding] replace
        frequencies = torch.exp(torch.arange(0, hidden_size, 2, dtype=torch.float32)
# %% with
        frequencies = torch.exp(torch.arange(0, hidden_size, 2, dtype=torch.float64)

# %% [positional_encoding] replace
        table = torch.zeros(max_len, hidden_size)
# %% with
        table = torch.zeros(max_len, hidden_size, dtype=torch.float64)

# %% [positional_encoding] replace
        self.register_buffer("pe", table.unsqueeze(0))                          # (1, max_len, hidden_size)
# %% with
        self.register_buffer("pe", table.float().unsqueeze(0))                  # (1, max_len, hidden_size), float32
