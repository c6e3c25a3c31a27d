"""Draw the static figures of the attention and positional-encoding notebooks.

Every PNG that ``solutions/01-attention`` and ``solutions/02-positional-encoding`` show from
``media/`` is written by this script, from scratch, with matplotlib only (no copied images)::

    .venv/bin/python media/make_figures.py            # writes next to this file
    .venv/bin/python media/make_figures.py --out DIR  # writes somewhere else

The output is deterministic: no timestamps or version strings in the PNG metadata, so rerunning
the script on the same matplotlib version leaves ``git status`` clean.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch  # noqa: E402

HERE = Path(__file__).resolve().parent

# A small, colour-blind friendly palette (Okabe-Ito) for the kinds of boxes in the diagrams.
COLORS = {
    "input": "#e8e8e8",
    "linear": "#f0c987",      # learned projections
    "attention": "#9ecae1",   # attention operations
    "norm": "#f6e58d",        # add & norm
    "ffn": "#a1d99b",         # feed-forward
    "mask": "#fcbba1",        # masking
    "output": "#d9d2e9",
}


# ----------------------------------------------------------------------------------------------
# Drawing helpers
# ----------------------------------------------------------------------------------------------
def box(ax, x, y, w, h, text, kind="attention", fontsize=11, **kwargs):
    """A rounded box centred at (x, y) with ``text`` inside; returns its (x, y, w, h)."""
    patch = FancyBboxPatch(
        (x - w / 2, y - h / 2), w, h,
        boxstyle="round,pad=0.02,rounding_size=0.08",
        facecolor=COLORS[kind], edgecolor="#333333", linewidth=1.2, **kwargs,
    )
    ax.add_patch(patch)
    ax.text(x, y, text, ha="center", va="center", fontsize=fontsize)
    return (x, y, w, h)


def arrow(ax, start, end, color="#333333", style="-|>", lw=1.3, connectionstyle="arc3"):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=color,
                                 linewidth=lw, connectionstyle=connectionstyle, shrinkA=0, shrinkB=0))


def top(b):
    return (b[0], b[1] + b[3] / 2)


def bottom(b):
    return (b[0], b[1] - b[3] / 2)


def note(ax, x, y, text, fontsize=9.5, color="#555555", ha="left"):
    ax.text(x, y, text, ha=ha, va="center", fontsize=fontsize, color=color, family="monospace")


def canvas(width, height, xlim, ylim):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def save(fig, out: Path, name: str) -> Path:
    path = out / name
    # No "Software"/date metadata: the bytes depend only on the drawing.
    fig.savefig(path, dpi=110, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# Figures
# ----------------------------------------------------------------------------------------------
def scaled_dot_product_attention(out: Path) -> Path:
    """Flow of softmax(Q K^T / sqrt(d) + mask) V, with the shape of every intermediate."""
    fig, ax = canvas(7.4, 7.2, (0, 11.2), (0, 11))
    q = box(ax, 2.0, 0.8, 1.6, 0.8, "Q", "input")
    k = box(ax, 4.2, 0.8, 1.6, 0.8, "K", "input")
    v = box(ax, 9.6, 0.8, 1.6, 0.8, "V", "input")
    matmul1 = box(ax, 3.1, 2.6, 3.2, 0.8, r"MatMul  $QK^\top$")
    scale = box(ax, 3.1, 4.2, 3.2, 0.8, r"Scale  $\div\sqrt{d}$")
    mask = box(ax, 3.1, 5.8, 3.2, 0.8, "Mask (optional)", "mask")
    softmax = box(ax, 3.1, 7.4, 3.2, 0.8, "Softmax over keys")
    matmul2 = box(ax, 6.4, 9.2, 3.6, 0.8, "MatMul  (weights) V")
    arrow(ax, top(q), (2.4, bottom(matmul1)[1]))
    arrow(ax, top(k), (3.8, bottom(matmul1)[1]))
    for a, b in [(matmul1, scale), (scale, mask), (mask, softmax)]:
        arrow(ax, top(a), bottom(b))
    arrow(ax, top(softmax), (5.2, bottom(matmul2)[1]))
    arrow(ax, top(v), (7.6, bottom(matmul2)[1]))
    arrow(ax, top(matmul2), (6.4, 10.5))
    note(ax, 0.6, 0.05, "Q ~ (B, T, d)      K ~ (B, S, d)           V ~ (B, S, d_v)")
    note(ax, 4.9, 2.6, "scores ~ (B, T, S)")
    note(ax, 4.9, 4.2, "same shape, std ~ 1")
    note(ax, 4.9, 5.8, "False -> -inf")
    note(ax, 4.9, 7.4, "attention ~ (B, T, S)\nrows sum to 1")
    note(ax, 6.6, 10.6, "values ~ (B, T, d_v)")
    ax.set_title("Scaled dot-product attention", fontsize=13)
    return save(fig, out, "scaled-dot-product-attention.png")


def multi_head_attention(out: Path) -> Path:
    """Project, split into heads, attend in every head in parallel, concatenate, project."""
    fig, ax = canvas(8.8, 8.2, (0, 14), (0, 13))
    inputs = [box(ax, x, 0.8, 1.8, 0.8, name, "input") for x, name in
              [(2.5, "query"), (6.0, "key"), (9.5, "value")]]
    projections = [box(ax, x, 2.5, 2.4, 0.8, f"Linear $W^{{{n}}}$", "linear") for x, n in
                   [(2.5, "Q"), (6.0, "K"), (9.5, "V")]]
    splits = [box(ax, x, 4.2, 2.4, 0.8, "split heads", "input", fontsize=10) for x in (2.5, 6.0, 9.5)]
    for a, b, c in zip(inputs, projections, splits):
        arrow(ax, top(a), bottom(b))
        arrow(ax, top(b), bottom(c))
    # h stacked attention boxes, drawn back to front.
    for i, offset in enumerate((0.5, 0.25, 0.0)):
        heads = box(ax, 6.0 + offset, 6.6 + offset, 6.4, 1.0,
                    "" if i < 2 else "scaled dot-product attention\n(every head at once)", "attention",
                    fontsize=10.5)
    for s in splits:
        arrow(ax, top(s), (s[0], bottom(heads)[1]))
    concat = box(ax, 6.0, 8.9, 3.6, 0.8, "merge heads (concat)", "input", fontsize=10)
    output = box(ax, 6.0, 10.6, 3.6, 0.8, "Linear $W^{O}$", "linear")
    arrow(ax, top(heads), bottom(concat))
    arrow(ax, top(concat), bottom(output))
    arrow(ax, top(output), (6.0, 12.0))
    note(ax, 0.1, 0.0, "query ~ (B, T, E)   key, value ~ (B, S, E)")
    note(ax, 10.9, 4.2, "(B, h, S, E/h)")
    note(ax, 9.9, 7.0, "h heads")
    note(ax, 8.0, 8.9, "(B, T, E)")
    note(ax, 8.0, 10.6, "(B, T, E_out)")
    note(ax, 10.9, 3.3, ".view(B, S, h, E/h)\n.transpose(1, 2)", fontsize=8.5)
    ax.set_title("Multi-head attention", fontsize=13)
    return save(fig, out, "multi-head-attention.png")


def transformer_block(out: Path) -> Path:
    """The encoder-decoder Transformer of "Attention Is All You Need", as blocks."""
    fig, ax = canvas(8.6, 9.0, (0, 14), (0, 14.6))
    # Encoder (left).
    ax.add_patch(FancyBboxPatch((0.6, 3.1), 5.4, 5.5, boxstyle="round,pad=0.1", facecolor="#f7f7f7",
                                edgecolor="#888888", linestyle="--"))
    src = box(ax, 3.3, 0.6, 3.8, 0.8, "source tokens", "input", fontsize=10)
    src_emb = box(ax, 3.3, 2.1, 3.8, 0.8, "embedding + positions", "input", fontsize=10)
    enc_attn = box(ax, 3.3, 4.0, 4.2, 0.8, "multi-head self-attention", fontsize=10)
    enc_norm1 = box(ax, 3.3, 5.2, 4.2, 0.6, "add & LayerNorm", "norm", fontsize=9.5)
    enc_ffn = box(ax, 3.3, 6.4, 4.2, 0.8, "feed-forward (per token)", "ffn", fontsize=10)
    enc_norm2 = box(ax, 3.3, 7.6, 4.2, 0.6, "add & LayerNorm", "norm", fontsize=9.5)
    for a, b in [(src, src_emb), (src_emb, enc_attn), (enc_attn, enc_norm1), (enc_norm1, enc_ffn),
                 (enc_ffn, enc_norm2)]:
        arrow(ax, top(a), bottom(b))
    ax.text(0.75, 8.35, "encoder layer  x N", fontsize=10, color="#555555")
    # Decoder (right).
    ax.add_patch(FancyBboxPatch((7.6, 3.1), 5.8, 7.9, boxstyle="round,pad=0.1", facecolor="#f7f7f7",
                                edgecolor="#888888", linestyle="--"))
    tgt = box(ax, 10.5, 0.6, 4.2, 0.8, "target tokens (shifted right)", "input", fontsize=10)
    tgt_emb = box(ax, 10.5, 2.1, 3.8, 0.8, "embedding + positions", "input", fontsize=10)
    dec_self = box(ax, 10.5, 4.0, 5.0, 0.8, "masked multi-head self-attention", fontsize=10)
    dec_norm1 = box(ax, 10.5, 5.2, 5.0, 0.6, "add & LayerNorm", "norm", fontsize=9.5)
    dec_cross = box(ax, 10.5, 6.4, 5.0, 0.8, "multi-head cross-attention", fontsize=10)
    dec_norm2 = box(ax, 10.5, 7.6, 5.0, 0.6, "add & LayerNorm", "norm", fontsize=9.5)
    dec_ffn = box(ax, 10.5, 8.8, 5.0, 0.8, "feed-forward (per token)", "ffn", fontsize=10)
    dec_norm3 = box(ax, 10.5, 10.0, 5.0, 0.6, "add & LayerNorm", "norm", fontsize=9.5)
    head = box(ax, 10.5, 12.0, 4.2, 0.8, "Linear + softmax", "linear", fontsize=10)
    for a, b in [(tgt, tgt_emb), (tgt_emb, dec_self), (dec_self, dec_norm1), (dec_norm1, dec_cross),
                 (dec_cross, dec_norm2), (dec_norm2, dec_ffn), (dec_ffn, dec_norm3), (dec_norm3, head)]:
        arrow(ax, top(a), bottom(b))
    arrow(ax, top(head), (10.5, 13.3))
    ax.text(10.5, 13.7, "next-token probabilities", ha="center", fontsize=10)
    ax.text(7.75, 10.75, "decoder layer  x N", fontsize=10, color="#555555")
    # Encoder memory -> keys and values of the cross-attention.
    arrow(ax, top(enc_norm2), (8.0, 6.4), color="#2b6ca3", connectionstyle="arc3,rad=-0.35")
    ax.text(5.5, 9.2, "keys & values\nfrom the encoder", fontsize=9, color="#2b6ca3", ha="center")
    ax.set_title("A Transformer: attention + feed-forward, with residuals and LayerNorm", fontsize=12)
    return save(fig, out, "transformer-architecture.png")


def rnn_vs_attention(out: Path) -> Path:
    """Path length between the first and the last token: n-1 recurrent steps vs one attention hop."""
    n = 6
    xs = np.arange(n) * 1.6 + 1.0
    fig, (ax_rnn, ax_att) = plt.subplots(2, 1, figsize=(8.0, 6.2))
    for ax in (ax_rnn, ax_att):
        ax.set_xlim(0, xs[-1] + 1.0)
        ax.set_aspect("equal")
        ax.axis("off")
    # RNN: a chain of hidden states.
    ax_rnn.set_ylim(-0.3, 3.2)
    for i, x in enumerate(xs):
        box(ax_rnn, x, 0.4, 0.9, 0.6, f"$x_{i + 1}$", "input")
        box(ax_rnn, x, 1.8, 0.9, 0.7, f"$h_{i + 1}$", "attention")
        arrow(ax_rnn, (x, 0.7), (x, 1.45))
        if i:
            arrow(ax_rnn, (xs[i - 1] + 0.45, 1.8), (x - 0.45, 1.8), color="#c0392b", lw=2.0)
    ax_rnn.set_title(f"RNN: $x_1$ reaches $h_{n}$ after {n - 1} sequential steps  (path O(n), "
                     "steps cannot run in parallel)", fontsize=10.5)
    # Self-attention: every output sees every input directly.
    ax_att.set_ylim(-0.3, 3.2)
    for i, x in enumerate(xs):
        box(ax_att, x, 0.4, 0.9, 0.6, f"$x_{i + 1}$", "input")
        box(ax_att, x, 2.4, 0.9, 0.7, f"$y_{i + 1}$", "attention")
    for i, x_in in enumerate(xs):
        for j, x_out in enumerate(xs):
            highlight = i == 0 and j == n - 1
            ax_att.plot([x_in, x_out], [0.7, 2.05], color="#c0392b" if highlight else "#9e9e9e",
                        linewidth=2.2 if highlight else 0.6, zorder=0)
    ax_att.set_title(f"Self-attention: $x_1$ reaches $y_{n}$ in one step  (path O(1), "
                     "all positions computed at once)", fontsize=10.5)
    fig.tight_layout()
    return save(fig, out, "rnn-vs-attention.png")


def positional_encoding(out: Path, length: int = 128, hidden_size: int = 64) -> Path:
    """Heatmap of the sinusoidal table: position on the y axis, dimension on the x axis."""
    position = np.arange(length)[:, None]
    inv_freq = np.exp(-np.log(10000.0) * np.arange(0, hidden_size, 2) / hidden_size)
    table = np.zeros((length, hidden_size))
    table[:, 0::2] = np.sin(position * inv_freq)
    table[:, 1::2] = np.cos(position * inv_freq)
    fig, ax = plt.subplots(figsize=(7.0, 4.6))
    image = ax.imshow(table, cmap="RdBu", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
    ax.set_xlabel("dimension (even = sin, odd = cos)")
    ax.set_ylabel("position t")
    ax.set_title(f"Sinusoidal positional encoding, d = {hidden_size}: fast waves on the left, slow on the right",
                 fontsize=10.5)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    return save(fig, out, "positional-encoding.png")


FIGURES = [scaled_dot_product_attention, multi_head_attention, transformer_block, rnn_vs_attention,
           positional_encoding]


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE, help="folder for the PNGs (default: media/)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    plt.rcParams.update({"font.family": "DejaVu Sans", "mathtext.fontset": "dejavusans"})
    for draw in FIGURES:
        print(draw(args.out))


if __name__ == "__main__":
    main()
