"""Wrong: the table is built in float64 (as with numpy), so float32 tokens come out as float64. Expected: loses points.

Message: float32 tokens must come out as float32
"""

# %% [positional_encoding] replace
        position = torch.arange(max_len, dtype=torch.float32).unsqueeze(1)     # (max_len, 1)
# %% with
        position = torch.arange(max_len, dtype=torch.float64).unsqueeze(1)     # WRONG: float64 (like a numpy table)

# %% [positional_encoding] replace
        frequencies = torch.exp(torch.arange(0, hidden_size, 2, dtype=torch.float32)
# %% with
        frequencies = torch.exp(torch.arange(0, hidden_size, 2, dtype=torch.float64)

# %% [positional_encoding] replace
        table = torch.zeros(max_len, hidden_size)
# %% with
        table = torch.zeros(max_len, hidden_size, dtype=torch.float64)
