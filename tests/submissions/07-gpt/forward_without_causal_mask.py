"""Wrong: the layers run without the causal mask (the seed's bug): every position sees the future. Expected: loses points.
Message: without the causal mask
"""

# %% [gpt] replace
            x = layer(x, attn_mask=mask)
# %% with
            x = layer(x)  # WRONG: no causal mask
