"""Wrong: ties broken by the first pair counted (max(counts, key=counts.get)), not the greatest pair.
Expected: loses points.
Message: GREATEST pair
"""

# %% [train_bpe] replace
        best = max(counts, key=lambda pair: (counts[pair], pair))
# %% with
        best = max(counts, key=counts.get)  # WRONG: ties go to whichever pair was counted first
