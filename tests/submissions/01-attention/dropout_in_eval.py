"""Wrong: functional dropout without training=self.training, so it also drops in eval mode. Expected: loses points.

Message: self.dropout must act on the attention weights, once
"""

# %% [mha] replace
        self.dropout = torch.nn.Dropout(p=dropout or 0.0)
# %% with
        self.dropout = torch.nn.Dropout(p=dropout or 0.0)
        self.p = dropout or 0.0

# %% [mha] replace
        values, attention = scaled_dot_product_attention(q, k, v, mask=keep, fill_value=self.attention_fill_value,
                                                         dropout=self.dropout)
# %% with
        values, attention = scaled_dot_product_attention(
            q, k, v, mask=keep, fill_value=self.attention_fill_value,
            dropout=lambda w: torch.nn.functional.dropout(w, self.p))  # WRONG: training=True always
