"""Wrong: scaled_dot_product_attention accepts dropout and never applies it. Expected: loses points.

Message: These are the values without dropout
"""

# %% [sdpa] replace
    values = (attention if dropout is None else dropout(attention)) @ value
# %% with
    values = attention @ value  # WRONG: dropout ignored
