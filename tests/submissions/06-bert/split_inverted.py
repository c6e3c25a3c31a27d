"""Wrong: 80/10/10 inverted: 10% [MASK], 80% random tokens, 10% unchanged. Expected: loses points.
Message: replaced by [MASK]
"""

# %% [mask_tokens] replace
    inputs = torch.where(chosen & (action < 0.8), torch.full_like(ids, mask_id), ids)
    inputs = torch.where(chosen & (action >= 0.8) & (action < 0.9), random_ids, inputs)
# %% with
    inputs = torch.where(chosen & (action < 0.1), torch.full_like(ids, mask_id), ids)          # WRONG: 10% [MASK]
    inputs = torch.where(chosen & (action >= 0.1) & (action < 0.9), random_ids, inputs)        # WRONG: 80% random
