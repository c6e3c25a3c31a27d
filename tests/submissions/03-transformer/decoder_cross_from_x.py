"""Wrong: the cross-attention takes keys and values from x, not from memory. Expected: loses points.

Message: cross-attention takes its keys and values from the target x instead of memory
"""

# %% [decoder_layer] replace
            x = x + self.dropout(self.cross_attention(h, memory, memory, mask=memory_mask).values)
# %% with
            x = x + self.dropout(self.cross_attention(h, h, h).values)  # WRONG: keys and values from x

# %% [decoder_layer] replace
            x = self.norm2(x + self.dropout(self.cross_attention(x, memory, memory, mask=memory_mask).values))
# %% with
            x = self.norm2(x + self.dropout(self.cross_attention(x, x, x).values))  # WRONG: keys and values from x
