"""Wrong: the [MASK] position found in tokenizer.encode(text), which has no [CLS] in front: one place off. Expected: loses points.
Message: another position
"""

# %% [fill_mask] replace
    positions = (ids[0] == tokenizer.special_ids[MASK_TOKEN]).nonzero().flatten()
# %% with
    positions = (torch.tensor(tokenizer.encode(text)) == tokenizer.special_ids[MASK_TOKEN]).nonzero().flatten()  # WRONG
