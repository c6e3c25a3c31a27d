"""Wrong: self.dropout is created but never passed to scaled_dot_product_attention (no dropout at all). Expected: loses points.

Message: These are the values without dropout
Message: pass dropout=self.dropout
"""

# %% [mha] replace
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value,
                                                         dropout=self.dropout)
# %% with
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value)
        # WRONG: dropout=self.dropout missing
