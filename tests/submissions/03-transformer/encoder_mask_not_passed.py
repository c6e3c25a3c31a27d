"""Wrong: the padding mask is not passed to the self-attention. Expected: loses points.

Message: the padding mask was not passed to the self-attention
"""

# %% [encoder_layer] replace
            x = x + self.dropout(self.self_attention(h, h, h, mask=mask, attn_mask=attn_mask).values)
# %% with
            x = x + self.dropout(self.self_attention(h, h, h, attn_mask=attn_mask).values)  # WRONG: no mask

# %% [encoder_layer] replace
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, mask=mask, attn_mask=attn_mask).values))
# %% with
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, attn_mask=attn_mask).values))  # WRONG: no mask
