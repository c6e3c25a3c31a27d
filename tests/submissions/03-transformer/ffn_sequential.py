"""Correct: an nn.Sequential of the same modules (linear1, linear2, dropout still exposed). Expected: full marks.
"""

# %% [feed_forward] replace
        self.dropout = torch.nn.Dropout(dropout or 0.0)
# %% with
        self.dropout = torch.nn.Dropout(dropout or 0.0)
        act = torch.nn.ReLU() if activation == "relu" else torch.nn.GELU()
        self.net = torch.nn.Sequential(self.linear1, act, self.dropout, self.linear2)

# %% [feed_forward] replace
        act = torch.nn.functional.relu if self.activation == "relu" else torch.nn.functional.gelu
        # hidden ~ (batch, length, ffn_size)
        hidden = self.dropout(act(self.linear1(x)))
        return self.linear2(hidden)
# %% with
        return self.net(x)
