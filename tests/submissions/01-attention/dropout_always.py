"""Correct: attention without dropout, then the weighted sum redone with self.dropout(attention) (nn.Dropout is the identity in eval mode; the product is computed twice, the result is right). Expected: full marks."""

# %% [mha] replace
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value,
                                                         dropout=self.dropout)
# %% with
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value)
        values = self.dropout(attention) @ v
