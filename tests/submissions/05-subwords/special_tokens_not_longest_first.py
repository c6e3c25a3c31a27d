"""Wrong: special tokens matched in the order given, so a longer one that contains a shorter one never wins.
Expected: loses points.
Message: the longer special token wins
"""

# %% [bpe_tokenizer] replace
            specials = sorted(self.special_tokens, key=len, reverse=True)
# %% with
            specials = self.special_tokens  # WRONG: "<e>" matches before "<e><e>"
