"""Wrong: the bias argument is ignored (the Linear layers always have a bias). Expected: loses points.

Message: with bias=False the module must have no bias parameters
Message: pass bias=bias to every Linear
"""

# %% [mha] replace
        self.projections = torch.nn.ModuleDict({
# %% with
        # WRONG: the Linear layers ignore `bias` (they always have one)
        self.projections = torch.nn.ModuleDict({

# %% [mha] replace
            name: torch.nn.Linear(hidden_size, hidden_size, bias=bias) for name in ("query", "key", "value")
# %% with
            name: torch.nn.Linear(hidden_size, hidden_size) for name in ("query", "key", "value")

# %% [mha] replace
        self.output = torch.nn.Linear(hidden_size, output_size or hidden_size, bias=bias)
# %% with
        self.output = torch.nn.Linear(hidden_size, output_size or hidden_size)
