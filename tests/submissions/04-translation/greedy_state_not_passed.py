"""Wrong: the state is not passed back: every step starts again from state=None.
Expected: loses points.
Message: pass back the state
"""

# %% [greedy_decode] replace
        logits, state = model.decode_step(tokens, encoder_output, state)
# %% with
        logits, _ = model.decode_step(tokens, encoder_output, state)  # WRONG: the new state is dropped
