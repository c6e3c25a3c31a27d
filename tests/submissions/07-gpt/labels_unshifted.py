"""Wrong: labels are the inputs themselves, not the next tokens (the seed's unshifted targets). Expected: loses points.
Message: labels equal inputs
"""

# %% [next_token_batch] replace
        labels[b, :len(row) - 1] = row[1:]
# %% with
        labels[b, :len(row) - 1] = row[:-1]  # WRONG: the label at t is the input at t
