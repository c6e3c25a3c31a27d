"""Wrong: no dropout on the sub-layers' outputs. Expected: loses points.

Message: adds to x (norm_first=False, training mode): no dropout in training mode
"""

# %% [encoder_layer] replace
            x = x + self.dropout(self.self_attention(h, h, h, mask=mask, attn_mask=attn_mask).values)
            x = x + self.dropout(self.feed_forward(self.norm2(x)))
# %% with
            x = x + self.self_attention(h, h, h, mask=mask, attn_mask=attn_mask).values  # WRONG: no dropout
            x = x + self.feed_forward(self.norm2(x))

# %% [encoder_layer] replace
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, mask=mask, attn_mask=attn_mask).values))
            x = self.norm2(x + self.dropout(self.feed_forward(x)))
# %% with
            x = self.norm1(x + self.self_attention(x, x, x, mask=mask, attn_mask=attn_mask).values)
            x = self.norm2(x + self.feed_forward(x))
