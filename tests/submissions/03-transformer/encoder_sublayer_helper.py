"""Correct: one helper for both sub-layers, two dropout modules like PyTorch's. Expected: full marks.
"""

# %% [encoder_layer] replace
        self.dropout = torch.nn.Dropout(dropout or 0.0)
# %% with
        self.dropout1 = torch.nn.Dropout(dropout or 0.0)
        self.dropout2 = torch.nn.Dropout(dropout or 0.0)

# %% [encoder_layer] replace
        if self.norm_first:
# %% with
        x = self._residual(x, lambda h: self.self_attention(h, h, h, mask=mask, attn_mask=attn_mask).values,
                           self.norm1, self.dropout1)
        return self._residual(x, self.feed_forward, self.norm2, self.dropout2)

    def _residual(self, x, sublayer, norm, dropout):
        if self.norm_first:

# %% [encoder_layer] replace
            h = self.norm1(x)
            x = x + self.dropout(self.self_attention(h, h, h, mask=mask, attn_mask=attn_mask).values)
            x = x + self.dropout(self.feed_forward(self.norm2(x)))
        else:
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, mask=mask, attn_mask=attn_mask).values))
            x = self.norm2(x + self.dropout(self.feed_forward(x)))
        return x
# %% with
            return x + dropout(sublayer(norm(x)))
        return norm(x + dropout(sublayer(x)))
