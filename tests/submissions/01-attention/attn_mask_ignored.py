"""Wrong: forward accepts attn_mask and ignores it. Expected: loses points.

Message: pass attn_mask on to scaled_dot_product_attention
"""

# %% [mha] replace
        keep = None if mask is None else mask[:, None, None, :]
        if attn_mask is not None:
            attn_mask = attn_mask[:, None] if attn_mask.dim() == 3 else attn_mask
            keep = attn_mask if keep is None else keep & attn_mask
# %% with
        keep = None if mask is None else mask[:, None, None, :]  # WRONG: attn_mask ignored
