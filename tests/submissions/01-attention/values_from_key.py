"""Wrong: the values are projected from `key` instead of `value` (only right in self-attention). Expected: loses points.

Message: The values must be projected from `value` (not from `key`)
"""

# %% [mha] replace
        v = split_heads(self.projections["value"](value), src_len)
# %% with
        v = split_heads(self.projections["value"](key), src_len)  # WRONG: key
