"""Wrong: the table is stored as an nn.Parameter (frozen with requires_grad=False) instead of a buffer. Expected: loses points.

Message: self.pe is an nn.Parameter
Message: register it as a buffer
"""

# %% [positional_encoding] replace
        self.register_buffer("pe", table.unsqueeze(0))                          # (1, max_len, hidden_size)
# %% with
        self.pe = torch.nn.Parameter(table.unsqueeze(0), requires_grad=False)  # WRONG: a parameter, not a buffer
