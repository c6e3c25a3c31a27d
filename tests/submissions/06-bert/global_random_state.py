"""Wrong: the choice drawn from PyTorch's global generator, not from `generator`. Expected: loses points.
Message: global random generator
"""

# %% [mask_tokens] replace
    chosen = (torch.rand(ids.shape, generator=generator, device=ids.device) < probability) & ~special_mask
# %% with
    chosen = (torch.rand(ids.shape, device=ids.device) < probability) & ~special_mask  # WRONG: not reproducible
