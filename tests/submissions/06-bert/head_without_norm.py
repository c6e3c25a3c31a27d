"""Wrong: no LayerNorm in the head: decoder(gelu(dense(h))). Expected: loses points.
Message: LayerNorm is missing
"""

# %% [mlm_head] replace
        return self.decoder(self.norm(F.gelu(self.dense(hidden))))
# %% with
        return self.decoder(F.gelu(self.dense(hidden)))  # WRONG: self.norm created but never used
