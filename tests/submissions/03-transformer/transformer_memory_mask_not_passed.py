"""Wrong: the decoder layers don't get the source mask. Expected: loses points.

Message: source mask was not passed to the decoder layers
"""

# %% [transformer] replace
            y = layer(y, memory, memory_mask=source_mask, attn_mask=target_mask)
# %% with
            y = layer(y, memory, attn_mask=target_mask)  # WRONG: cross-attention attends to padding
