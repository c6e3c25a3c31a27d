"""Wrong: pre-norm normalizes the memory with norm2 as well. Expected: loses points.

Message: memory went through norm2 as well
"""

# %% [decoder_layer] replace
            x = x + self.dropout(self.cross_attention(h, memory, memory, mask=memory_mask).values)
# %% with
            memory = self.norm2(memory)  # WRONG: the memory is not the decoder's stream
            x = x + self.dropout(self.cross_attention(h, memory, memory, mask=memory_mask).values)
