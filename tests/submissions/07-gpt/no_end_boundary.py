"""Wrong: sentences get a boundary at the start only, so the model never learns where a sentence ends. Expected: loses points.
Message: Each row is [boundary] + ids + [boundary]
"""

# %% [next_token_batch] replace
    rows = [([boundary_id] + list(ids) + [boundary_id])[:block_size + 1] for ids in sequences]
# %% with
    rows = [([boundary_id] + list(ids))[:block_size + 1] for ids in sequences]  # WRONG: no end
