"""Wrong: ReLU always, activation="gelu" ignored. Expected: loses points.

Message: relu was used where activation='gelu' was asked
"""

# %% [feed_forward] replace
        act = torch.nn.functional.relu if self.activation == "relu" else torch.nn.functional.gelu
# %% with
        act = torch.nn.functional.relu  # WRONG: self.activation ignored
