"""Wrong: the batch is handled as one sentence: all stop when the first one produces <end>.
Expected: loses points.
Message: Each sentence stops at its own first <end>
"""

# %% [greedy_decode] replace
        if all(finished):
# %% with
        if any(finished):  # WRONG: one sentence's <end> ends every sentence
