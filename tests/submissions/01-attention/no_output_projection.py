"""Wrong: self.output is created but never applied. Expected: loses points.

Message: with output_size=12 values must be (2, 5, 12)
"""

# %% [mha] replace
        values = self.output(values)
# %% with
        # WRONG: values = self.output(values) is missing
