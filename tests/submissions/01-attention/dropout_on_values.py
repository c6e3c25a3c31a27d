"""Wrong: dropout applied to the attention output values instead of the attention weights. Expected: loses points.

Message: it must get the attention weights
Message: raised AssertionError
"""

# %% [mha] replace
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value,
                                                         dropout=self.dropout)
# %% with
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value)

# %% [mha] replace
        values = self.output(values)
# %% with
        values = self.dropout(values)  # WRONG: drops value features, not attention weights
        values = self.output(values)
