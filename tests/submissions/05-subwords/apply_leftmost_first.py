"""Wrong: apply_merges merges the leftmost pair that is a merge, whatever its rank.
Expected: loses points.
Message: lowest-ranked pair present first
"""

# %% [apply_merges] replace
        tokens = merge(tokens, min(present, key=ranks.__getitem__))
# %% with
        tokens = merge(tokens, present[0])  # WRONG: the leftmost mergeable pair, not the lowest rank
