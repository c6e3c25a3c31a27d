"""Wrong: <end> is kept at the end of every translation.
Expected: loses points.
Message: <end> must not be part of the translation
"""

# %% [greedy_decode] replace
            if token == EOS_INDEX:
# %% with
            outputs[i].append(token)  # WRONG: <end> becomes part of the translation
            if token == EOS_INDEX:

# %% [greedy_decode] replace
            else:
                outputs[i].append(token)
# %% with
