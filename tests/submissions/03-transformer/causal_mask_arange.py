"""Correct: causal_mask by comparing positions, and the decoder's sub-layers in a loop. Expected: full marks.
"""

# %% [decoder_layer] replace
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()
# %% with
    positions = torch.arange(size, device=device)
    return positions[None, :] <= positions[:, None]   # key j <= query i

# %% [decoder_layer] replace
        if self.norm_first:
            h = self.norm1(x)
            x = x + self.dropout(self.self_attention(h, h, h, attn_mask=attn_mask).values)
            h = self.norm2(x)
            x = x + self.dropout(self.cross_attention(h, memory, memory, mask=memory_mask).values)
            x = x + self.dropout(self.feed_forward(self.norm3(x)))
        else:
            x = self.norm1(x + self.dropout(self.self_attention(x, x, x, attn_mask=attn_mask).values))
            x = self.norm2(x + self.dropout(self.cross_attention(x, memory, memory, mask=memory_mask).values))
            x = self.norm3(x + self.dropout(self.feed_forward(x)))
# %% with
        sublayers = [
            (self.norm1, lambda h: self.self_attention(h, h, h, attn_mask=attn_mask).values),
            (self.norm2, lambda h: self.cross_attention(h, memory, memory, mask=memory_mask).values),
            (self.norm3, self.feed_forward),
        ]
        for norm, sublayer in sublayers:
            x = x + self.dropout(sublayer(norm(x))) if self.norm_first else norm(x + self.dropout(sublayer(x)))
