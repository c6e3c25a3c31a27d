"""Wrong: decode uses strict UTF-8 decoding, so half a character raises UnicodeDecodeError.
Expected: loses points.
Message: errors='replace'
"""

# %% [bpe_tokenizer] replace
        return data.decode("utf-8", errors="replace")
# %% with
        return data.decode("utf-8")  # WRONG: raises on ids that cut a character
