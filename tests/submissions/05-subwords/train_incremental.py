"""Correct alternative: train_bpe with incremental pair counts (the optional exercise's algorithm). Expected: full marks."""

# %% [train_bpe]
def train_bpe(texts, num_merges):
    pretokens = Counter(piece for text in texts for piece in pretokenize(text))
    words = [[bytes([b]) for b in piece.encode("utf-8")] for piece in pretokens]
    frequency = list(pretokens.values())
    counts, where = Counter(), {}
    for index, word in enumerate(words):
        for pair in zip(word, word[1:]):
            counts[pair] += frequency[index]
            where.setdefault(pair, set()).add(index)
    merges = []
    while len(merges) < num_merges:
        counts = +counts
        if not counts:
            break
        best = max(counts.items(), key=lambda item: (item[1], item[0]))[0]
        merges.append(best)
        for index in where.pop(best):
            for pair in zip(words[index], words[index][1:]):
                counts[pair] -= frequency[index]
            words[index] = merge(words[index], best)
            for pair in zip(words[index], words[index][1:]):
                counts[pair] += frequency[index]
                where.setdefault(pair, set()).add(index)
    return merges
