"""Correct: the masks expanded to (batch, heads, tgt_len, src_len) and combined with torch.logical_and. Expected: full marks."""

# %% [mha] replace
        keep = None if mask is None else mask[:, None, None, :]
# %% with
        keep = torch.ones(batch_size, self.num_heads, tgt_len, src_len, dtype=torch.bool, device=query.device)
        if mask is not None:
            keep = torch.logical_and(keep, mask.view(batch_size, 1, 1, src_len))

# %% [mha] replace
            attn_mask = attn_mask[:, None] if attn_mask.dim() == 3 else attn_mask
            keep = attn_mask if keep is None else keep & attn_mask
# %% with
            if attn_mask.dim() == 3:
                attn_mask = attn_mask.unsqueeze(1)
            keep = torch.logical_and(keep, attn_mask.expand(batch_size, self.num_heads, tgt_len, src_len))
