"""Wrong: the module never passes attention_fill_value on (always -inf). Expected: loses points.

Message: pass fill_value=self.attention_fill_value
"""

# %% [mha] replace
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value,
# %% with
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep,  # WRONG: no fill_value
