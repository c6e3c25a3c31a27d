"""Wrong: a (batch, tgt_len, src_len) attn_mask used without its heads axis. Expected: loses points.

Message: needs a heads axis: attn_mask[:, None]
Message: raised RuntimeError
"""

# %% [mha] replace
            attn_mask = attn_mask[:, None] if attn_mask.dim() == 3 else attn_mask
# %% with
            # WRONG: a 3-D attn_mask gets no heads axis
