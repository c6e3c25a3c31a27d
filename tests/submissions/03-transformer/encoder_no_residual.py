"""Wrong: post-norm without the residual connections. Expected: loses points.

Message: residual connections are missing
"""

# %% [encoder_layer] replace
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, mask=mask, attn_mask=attn_mask).values))
            x = self.norm2(x + self.dropout(self.feed_forward(x)))
# %% with
            x = self.norm1(self.dropout(self.self_attention(x, x, x, mask=mask, attn_mask=attn_mask).values))  # WRONG
            x = self.norm2(self.dropout(self.feed_forward(x)))  # WRONG
