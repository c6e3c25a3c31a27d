"""Wrong: the seed's attention_fill_value=1e-32 (masks nothing). Expected: loses points.

Message: padding keys must get weight exactly 0
Message: not 1e-32
"""

# %% [mha] replace
        attention_fill_value: float = float("-inf"),
# %% with
        attention_fill_value: float = 1e-32,  # WRONG: the seed's value
