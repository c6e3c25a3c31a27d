"""Wrong: merge moves one place after a match, so overlapping occurrences are merged too.
Expected: loses points.
Message: jump two places
"""

# %% [merge] replace
            i += 2  # both tokens are used: no overlap
# %% with
            i += 1  # WRONG: the second token is used again
