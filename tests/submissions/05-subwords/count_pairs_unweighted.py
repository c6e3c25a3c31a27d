"""Wrong: count_pairs counts each distinct pre-token once, ignoring how often it occurs.
Expected: loses points.
Message: how often the pre-token occurs
"""

# %% [count_pairs] replace
            counts[pair] += count
# %% with
            counts[pair] += 1  # WRONG: the pre-token's count is ignored
