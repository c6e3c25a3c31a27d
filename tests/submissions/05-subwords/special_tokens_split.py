"""Wrong: encode ignores the special tokens: "<end>" is encoded as ordinary text.
Expected: loses points.
Message: cut the text at the special tokens first
"""

# %% [bpe_tokenizer] replace
        if self.special_tokens:  # the longest first: "<end><end>" before "<end>"
# %% with
        if False:  # WRONG: special tokens are split like any text
