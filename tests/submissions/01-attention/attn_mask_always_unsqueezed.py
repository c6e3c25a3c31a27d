"""Wrong: every attn_mask gets attn_mask[:, None], the (tgt_len, src_len) one too. Expected: loses points.

Message: (tgt_len, src_len) already broadcasts
Message: pass it on as it is
"""

# %% [mha] replace
            attn_mask = attn_mask[:, None] if attn_mask.dim() == 3 else attn_mask
# %% with
            attn_mask = attn_mask[:, None] if attn_mask.dim() < 4 else attn_mask  # WRONG: 2-D too
