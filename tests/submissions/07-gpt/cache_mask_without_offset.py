"""Wrong: the mask of the new positions ignores the cache (plain causal mask on the new part, cache hidden). Expected: loses points.
Message: cached attention
"""

# %% [kv_cache] replace
    mask = torch.ones(new, past + new, dtype=torch.bool, device=x.device).tril(diagonal=past)
# %% with
    mask = torch.ones(new, past + new, dtype=torch.bool, device=x.device).tril()  # WRONG: no offset
