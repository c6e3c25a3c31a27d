"""Wrong: never stops at <end>: runs max_len steps and keeps every word but <end> itself.
Expected: loses points.
Message: the words after <end> are not part of the translation
"""

# %% [greedy_decode] replace
            if finished[i]:
                continue  # whatever comes after <end> is not part of the translation
            if token == EOS_INDEX:
                finished[i] = True
            else:
# %% with
            if token != EOS_INDEX:  # WRONG: <end> skipped, but the sentence goes on after it

# %% [greedy_decode] replace
        if all(finished):
            break
# %% with
