"""Wrong: argmax over the batch axis instead of the vocabulary.
Expected: loses points.
Message: logits.argmax(dim=-1)
"""

# %% [greedy_decode] replace
        tokens = logits.argmax(dim=-1)  # tokens ~ (batch,)
# %% with
        tokens = logits.argmax(dim=0)  # WRONG: over the sentences of the batch, not the vocabulary
