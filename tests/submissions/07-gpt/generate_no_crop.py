"""Wrong: generate never crops the context: past block_size the model is given too many tokens. Expected: loses points.
Message: ids[:, -model.block_size:]
"""

# %% [generate] replace
                    logits, _ = model(ids[:, -model.block_size:])
# %% with
                    logits, _ = model(ids)  # WRONG: not cropped
