"""Wrong: returns the attention weights after dropout. Expected: loses points.

Message: return the attention weights BEFORE dropout
"""

# %% [sdpa] replace
    values = (attention if dropout is None else dropout(attention)) @ value
# %% with
    if dropout is not None:
        attention = dropout(attention)  # WRONG: the returned weights are dropped out too
    values = attention @ value
