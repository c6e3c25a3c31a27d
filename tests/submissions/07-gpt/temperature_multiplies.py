"""Wrong: the logits are multiplied by the temperature instead of divided. Expected: loses points.
Message: multiplied by the temperature
"""

# %% [sampling_filters] replace
    return logits / temperature
# %% with
    return logits * temperature  # WRONG
