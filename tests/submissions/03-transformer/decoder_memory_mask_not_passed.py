"""Wrong: memory_mask is not passed to the cross-attention. Expected: loses points.

Message: memory_mask was not passed to the cross-attention
"""

# %% [decoder_layer] replace
            x = x + self.dropout(self.cross_attention(h, memory, memory, mask=memory_mask).values)
# %% with
            x = x + self.dropout(self.cross_attention(h, memory, memory).values)  # WRONG: no memory_mask

# %% [decoder_layer] replace
            x = self.norm2(x + self.dropout(self.cross_attention(x, memory, memory, mask=memory_mask).values))
# %% with
            x = self.norm2(x + self.dropout(self.cross_attention(x, memory, memory).values))  # WRONG: no memory_mask
