"""Correct: -1e9 instead of -inf as the default fill value (sdpa and the module). Expected: full marks."""

# %% [sdpa] replace
    fill_value: float = float("-inf"),
# %% with
    fill_value: float = -1e9,

# %% [mha] replace
        attention_fill_value: float = float("-inf"),
# %% with
        attention_fill_value: float = -1e9,
