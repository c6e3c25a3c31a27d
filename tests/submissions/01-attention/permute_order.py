"""Correct: heads split with reshape + permute(0, 2, 1, 3), merged with permute + contiguous().view. Expected: full marks."""

# %% [mha] replace
            return x.view(batch_size, length, self.num_heads, self.attn_size).transpose(1, 2)
# %% with
            return x.reshape(batch_size, length, self.num_heads, self.attn_size).permute(0, 2, 1, 3)

# %% [mha] replace
        values = values.transpose(1, 2).reshape(batch_size, tgt_len, self.num_heads * self.attn_size)
# %% with
        values = values.permute(0, 2, 1, 3).contiguous().view(batch_size, tgt_len, -1)
