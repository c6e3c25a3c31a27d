"""Wrong: with both masks given, attn_mask replaces the padding mask. Expected: loses points.

Message: the padding mask was dropped
Message: combine them with &
"""

# %% [mha] replace
            keep = attn_mask if keep is None else keep & attn_mask
# %% with
            keep = attn_mask  # WRONG: the padding mask is dropped
