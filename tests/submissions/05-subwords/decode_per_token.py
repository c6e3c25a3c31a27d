"""Wrong: decode decodes each token's bytes on its own, so a character split across two tokens is lost.
Expected: loses points.
Message: join all the bytes first
"""

# %% [bpe_tokenizer] replace
        data = b"".join(specials[i] if i in specials else self.vocab[i] for i in map(int, ids))
        return data.decode("utf-8", errors="replace")
# %% with
        # WRONG: token by token, half characters become U+FFFD even when the next token completes them
        return "".join(specials[i].decode("utf-8") if i in specials else self.vocab[i].decode("utf-8", errors="replace")
                       for i in map(int, ids))
