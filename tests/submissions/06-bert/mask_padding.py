"""Wrong: special_mask ignored: [PAD], [CLS] and [SEP] can be chosen and masked. Expected: loses points.
Message: special token
"""

# %% [mask_tokens] replace
    chosen = (torch.rand(ids.shape, generator=generator, device=ids.device) < probability) & ~special_mask
# %% with
    chosen = torch.rand(ids.shape, generator=generator, device=ids.device) < probability  # WRONG: padding too
