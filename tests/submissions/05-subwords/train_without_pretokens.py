"""Wrong: train_bpe learns on each whole text as one sequence of bytes, so merges cross pre-tokens.
Expected: loses points.
Message: cross pre-tokens
"""

# %% [train_bpe] replace
    pretokens = Counter(piece for text in texts for piece in pretokenize(text))
# %% with
    pretokens = Counter(texts)  # WRONG: no pre-tokens: a merge can join "s" and " " across words
