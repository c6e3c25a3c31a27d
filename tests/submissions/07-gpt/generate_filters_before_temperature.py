"""Wrong: top-p is applied to the logits before the temperature (the nucleus of another distribution). Expected: loses points.
Message: temperature 2, then top_p=0.8
"""

# %% [generate] replace
                    logits = apply_temperature(logits, temperature)
                    if top_k is not None:
                        logits = top_k_filter(logits, top_k)
                    if top_p is not None:
                        logits = top_p_filter(logits, top_p)
# %% with
                    if top_k is not None:
                        logits = top_k_filter(logits, top_k)
                    if top_p is not None:
                        logits = top_p_filter(logits, top_p)  # WRONG: before the temperature
                    logits = apply_temperature(logits, temperature)
