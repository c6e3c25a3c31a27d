"""Wrong: the self-attention ignores attn_mask (no causal mask). Expected: loses points.

Message: self-attention ignores attn_mask
"""

# %% [decoder_layer] replace
            x = x + self.dropout(self.self_attention(h, h, h, attn_mask=attn_mask).values)
# %% with
            x = x + self.dropout(self.self_attention(h, h, h).values)  # WRONG: attn_mask ignored

# %% [decoder_layer] replace
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, attn_mask=attn_mask).values))
# %% with
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x).values))  # WRONG: attn_mask ignored
