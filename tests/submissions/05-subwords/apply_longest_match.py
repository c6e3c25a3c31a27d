"""Wrong: apply_merges takes the longest known token from the left instead of the merges by rank.
Expected: loses points.
Message: longest match
"""

# %% [apply_merges]
def apply_merges(tokens: Sequence[bytes], ranks: Dict[Pair, int]) -> List[bytes]:
    vocabulary = {a + b for a, b in ranks}
    text, out, i = b"".join(tokens), [], 0
    while i < len(text):
        # WRONG: greedy longest match over the merged tokens, not the merges in the order they were learnt
        end = next((j for j in range(len(text), i + 1, -1) if text[i:j] in vocabulary), i + 1)
        out.append(text[i:end])
        i = end
    return out
