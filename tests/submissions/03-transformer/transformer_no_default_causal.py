"""Wrong: target_mask=None reaches the decoder as None (no causal mask by default). Expected: loses points.

Message: decoder ran without the causal mask
"""

# %% [transformer] replace
        if target_mask is None:
            target_mask = causal_mask(target_tokens.size(1), device=target_tokens.device)
# %% with
