"""Wrong: with use_cache=True, generate feeds the whole sequence to forward_cached with an empty cache every step. Expected: loses points.
Message: ONE new token per step
"""

# %% [generate] replace
                    logits, cache = model.forward_cached(ids if cache is None else ids[:, -1:], cache)
# %% with
                    logits, cache = model.forward_cached(ids, None)  # WRONG: no cache reused
