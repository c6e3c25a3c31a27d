"""Wrong: heads split (and merged) with a bare reshape, no transpose. Expected: loses points.

Message: A bare .view(batch, heads, length, head_size) mixes positions and heads
"""

# %% [mha] replace
            return x.view(batch_size, length, self.num_heads, self.attn_size).transpose(1, 2)
# %% with
            return x.reshape(batch_size, self.num_heads, length, self.attn_size)  # WRONG: mixes positions and heads

# %% [mha] replace
        values = values.transpose(1, 2).reshape(batch_size, tgt_len, self.num_heads * self.attn_size)
# %% with
        values = values.reshape(batch_size, tgt_len, self.num_heads * self.attn_size)  # WRONG: no transpose
