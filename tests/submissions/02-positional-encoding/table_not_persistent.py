"""Wrong: the buffer is registered with persistent=False, so state_dict() does not save the table (the docstring says it does). Expected: loses points.

Message: missing from module.state_dict()
Message: persistent=False
"""

# %% [positional_encoding] replace
        self.register_buffer("pe", table.unsqueeze(0))                          # (1, max_len, hidden_size)
# %% with
        self.register_buffer("pe", table.unsqueeze(0), persistent=False)  # WRONG: not saved in state_dict
