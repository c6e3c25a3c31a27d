"""Wrong: the loss is averaged over every position, -100 ones included (as zeros). Expected: loses points.
Message: -100 positions were counted
"""

# %% [gpt] replace
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX)
# %% with
            each = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=IGNORE_INDEX,
                                   reduction="none")
            loss = each.mean()  # WRONG: divided by every position
