"""Wrong: generate samples with the global random generator, ignoring the one passed in. Expected: loses points.
Message: global random generator
"""

# %% [generate] replace
                    next_ids = torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=generator)
# %% with
                    next_ids = torch.multinomial(torch.softmax(logits, dim=-1), 1)  # WRONG: no generator
