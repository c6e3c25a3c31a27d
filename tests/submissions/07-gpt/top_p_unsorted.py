"""Wrong: the cumulative sum runs in vocabulary order, not from the most likely token. Expected: loses points.
Message: top_p_filter
"""

# %% [sampling_filters] replace
    remove = remove_sorted.scatter(-1, order, remove_sorted)              # back to vocabulary order
# %% with
    remove = remove_sorted  # WRONG: decisions of the sorted order applied to the vocabulary order
