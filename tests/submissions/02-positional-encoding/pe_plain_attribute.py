"""Wrong: the table is a plain tensor attribute, not a registered buffer (does not follow .to(), not in state_dict). Expected: loses points.

Message: self.pe is a plain tensor attribute
Message: register it as a buffer
"""

# %% [positional_encoding] replace
        self.register_buffer("pe", table.unsqueeze(0))                          # (1, max_len, hidden_size)
# %% with
        self.pe = table.unsqueeze(0)  # WRONG: not a buffer
