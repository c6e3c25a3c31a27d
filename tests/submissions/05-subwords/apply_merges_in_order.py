"""Correct alternative: apply_merges runs through the merges in the order learnt; tokenizer with a bytearray and regex scanning.
Expected: full marks.
"""

# %% [apply_merges]
def apply_merges(tokens, ranks):
    tokens = list(tokens)
    for pair, _ in sorted(ranks.items(), key=lambda item: item[1]):  # every merge, earliest first
        if len(tokens) < 2:
            break
        tokens = merge(tokens, pair)
    return tokens

# %% [bpe_tokenizer] replace
        if self.special_tokens:  # the longest first: "<end><end>" before "<end>"
            specials = sorted(self.special_tokens, key=len, reverse=True)
            parts = re.split("(" + "|".join(map(re.escape, specials)) + ")", text)
        else:
            parts = [text]
        ids = []
        for i, part in enumerate(parts):
            if i % 2:  # re.split with a group: the separators are at the odd places
                ids.append(self.special_ids[part])
                continue
            for pretoken in pretokenize(part):
                tokens = apply_merges([bytes([b]) for b in pretoken.encode("utf-8")], self.ranks)
                ids.extend(self.token_ids[token] for token in tokens)
        return ids
# %% with
        ids, position = [], 0
        pattern = re.compile("|".join(re.escape(t) for t in sorted(self.special_tokens, key=len, reverse=True))) \
            if self.special_tokens else None
        while position <= len(text):
            found = pattern.search(text, position) if pattern else None
            end = found.start() if found else len(text)
            for pretoken in pretokenize(text[position:end]):
                ids += [self.token_ids[t] for t in apply_merges([bytes([b]) for b in pretoken.encode("utf-8")], self.ranks)]
            if not found:
                break
            ids.append(self.special_ids[found.group(0)])
            position = found.end()
        return ids

# %% [bpe_tokenizer] replace
        specials = {index: token.encode("utf-8") for token, index in self.special_ids.items()}
        data = b"".join(specials[i] if i in specials else self.vocab[i] for i in map(int, ids))
        return data.decode("utf-8", errors="replace")
# %% with
        data = bytearray()
        names = {index: token for token, index in self.special_ids.items()}
        for i in ids:
            data += names[i].encode("utf-8") if i in names else self.vocab[i]
        return bytes(data).decode("utf-8", "replace")
