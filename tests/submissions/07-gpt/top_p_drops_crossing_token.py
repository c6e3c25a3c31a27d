"""Wrong: nucleus filtering keeps only tokens whose cumulative probability stays below p: the token that reaches p is dropped. Expected: loses points.
Message: The token that crosses p belongs to the set
"""

# %% [sampling_filters] replace
    before = sorted_probabilities.cumsum(dim=-1) - sorted_probabilities   # mass of the more likely tokens
    remove_sorted = before >= p                                           # ~ (..., vocab), in sorted order
# %% with
    remove_sorted = sorted_probabilities.cumsum(dim=-1) > p              # WRONG: the crossing token is removed
    remove_sorted[..., 0] = False
