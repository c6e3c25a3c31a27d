"""The French-English corpus: download, cache, normalise, filter and split.

The corpus is Tatoeba's sentence pairs as packaged by manythings.org/anki (``fra-eng.zip``, a file
``fra.txt`` with lines ``English<TAB>French[<TAB>attribution]``; CC-BY 2.0, tatoeba.org and
www.manythings.org/anki). The PyTorch seq2seq tutorial's ``data.zip`` holds a copy as
``data/eng-fra.txt``; both are accepted.

Where the corpus comes from, first match wins:

1. the ``corpus`` argument of :func:`find_corpus` / :func:`build_dataset` (a ``.zip`` or ``.txt``);
2. the environment variable ``FRA_ENG_CORPUS`` (same);
3. a copy cached earlier in the data folder (``data/`` at the project root, or ``COURSE_DATA_DIR``);
4. a download into that folder (once; later calls find the cached copy).
"""
from __future__ import annotations

import io
import os
import random
import re
import shutil
import unicodedata
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, Union

from tqdm.auto import tqdm

PathLike = Union[str, os.PathLike]
Pair = Tuple[str, str]  # (French source, English target), both normalised

CORPUS_ENV = "FRA_ENG_CORPUS"
DATA_DIR_ENV = "COURSE_DATA_DIR"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
MANYTHINGS_URL = "https://www.manythings.org/anki/fra-eng.zip"
TUTORIAL_URL = "https://download.pytorch.org/tutorial/data.zip"  # holds data/eng-fra.txt
CORPUS_URLS = (MANYTHINGS_URL, TUTORIAL_URL)  # tried in this order
# File names the corpus may have, inside a zip or cached in the data folder.
CORPUS_MEMBERS = ("fra.txt", "eng-fra.txt")
CACHED_NAMES = ("fra-eng.zip", "fra.txt", "eng-fra.txt", "data.zip")


class CorpusNotFoundError(RuntimeError):
    """The corpus is neither available locally nor downloadable."""


def data_dir(path: Optional[PathLike] = None) -> Path:
    """Folder where the corpus is cached and the splits are written (created if needed)."""
    folder = Path(path or os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT / "data")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _how_to_get_it() -> str:
    return (
        f"Download {MANYTHINGS_URL} with a browser (or the PyTorch tutorial's {TUTORIAL_URL}) "
        f"and either put it into {data_dir()} or point the environment variable {CORPUS_ENV} "
        f"at it, e.g.  export {CORPUS_ENV}=~/Downloads/fra-eng.zip"
    )


def download(url: str, destination: Path, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``destination`` with a progress bar (atomically: no half files)."""
    # manythings.org refuses urllib's default user agent.
    request = urllib.request.Request(url, headers={"User-Agent": "Mozilla/5.0 (course downloader)"})
    partial = destination.with_suffix(destination.suffix + ".part")
    with urllib.request.urlopen(request, timeout=timeout) as response, open(partial, "wb") as out:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"Downloading {destination.name}") as bar:
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                bar.update(len(chunk))
    partial.replace(destination)
    return destination


def find_corpus(
    corpus: Optional[PathLike] = None,
    folder: Optional[PathLike] = None,
    download_if_missing: bool = True,
) -> Path:
    """Return the path of the corpus file (``.zip`` or ``.txt``), downloading it at most once.

    Raises
    ------
    CorpusNotFoundError
        If a given path does not exist, or nothing is cached and the download fails.
    """
    for given, origin in ((corpus, "the `corpus` argument"), (os.environ.get(CORPUS_ENV), CORPUS_ENV)):
        if given:
            path = Path(given).expanduser()
            if not path.is_file():
                raise CorpusNotFoundError(f"{origin} points at {path}, which is not a file. {_how_to_get_it()}")
            return path
    cache = data_dir(folder)
    for name in CACHED_NAMES:
        if (cache / name).is_file():
            return cache / name
    if not download_if_missing:
        raise CorpusNotFoundError(f"No corpus in {cache}. {_how_to_get_it()}")
    errors = []
    for url in CORPUS_URLS:
        try:
            return download(url, cache / Path(url).name)
        except (urllib.error.URLError, OSError, ValueError) as error:  # offline, 403, timeout, ...
            errors.append(f"{url}: {getattr(error, 'reason', error)}")
    raise CorpusNotFoundError(
        "Could not download the French-English corpus (" + "; ".join(errors) + "). " + _how_to_get_it()
    ) from None


def read_raw_pairs(path: PathLike) -> List[Tuple[str, str]]:
    """Read ``(english, french)`` pairs from the corpus file, a ``.zip`` or a ``.txt``."""
    path = Path(path)
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as archive:
            members = [m for m in archive.namelist() if Path(m).name in CORPUS_MEMBERS]
            if not members:
                raise CorpusNotFoundError(f"{path} holds none of {CORPUS_MEMBERS}: is it the right zip?")
            text = archive.read(members[0]).decode("utf-8")
    else:
        text = path.read_text(encoding="utf-8")
    pairs = []
    for number, line in enumerate(io.StringIO(text), start=1):
        columns = line.rstrip("\n").split("\t")
        if len(columns) < 2:
            if line.strip():
                raise ValueError(f"{path}, line {number}: expected 'English<TAB>French', got {line!r}")
            continue
        pairs.append((columns[0], columns[1]))  # a third column (attribution) is ignored
    return pairs


def strip_accents(text: str) -> str:
    """``"très fatigué"`` -> ``"tres fatigue"`` (decompose, then drop the combining marks)."""
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if unicodedata.category(ch) != "Mn")


#: Characters folded before normalising: ligatures (not accents, NFD keeps them) and the other
#: apostrophes and hyphens of typed text.
_FOLD = str.maketrans({"œ": "oe", "æ": "ae", "’": "'", "‘": "'", "ʼ": "'", "`": "'", "‐": "-", "‑": "-"})
#: Punctuation kept as tokens of its own: ``. ! ? ,`` end or split clauses; ``'`` and ``-`` are
#: *joiners* (``j ' ai``, ``i ' m``, ``peut - etre``) that :func:`detokenize` glues back.
_SPLIT_OFF = re.compile(r"([!?'-]|[.,](?!\d)|(?<!\d)[.,])")  # "3.5" and "1,000" stay one token
JOINERS = ("'", "-")


def normalize(text: str) -> str:
    """Normalise a sentence the way the whole course does, so that it can be put back together.

    Lower-case; accents removed (``é`` -> ``e``, ``ç`` -> ``c``: a smaller vocabulary, and text typed
    without accents still matches) and ligatures spelled out (``œ`` -> ``oe``); digits kept;
    ``. ! ? ,`` and the joiners ``'`` and ``-`` split off as tokens of their own; every other
    character (quotes, colons, symbols) becomes a space. So ``"J'ai 19 ans, non ?"`` ->
    ``"j ' ai 19 ans , non ?"`` and ``"I'm"`` -> ``"i ' m"``: :func:`detokenize` turns the output of
    a model back into ordinary text (``"i'm 19, no?"``) for standard scoring.
    """
    text = strip_accents(text.lower().strip().translate(_FOLD))
    text = _SPLIT_OFF.sub(r" \1 ", text)
    text = re.sub(r"[^a-z0-9.!?,'\-]+", " ", text)
    return " ".join(text.split())


def detokenize(text: str) -> str:
    """Glue normalised tokens back into ordinary (lower-case) text: ``"i ' m 19 , no ?"`` -> ``"i'm 19, no?"``.

    Joiners lose their spaces, ``. ! ? ,`` the space before them. This is what standard BLEU scores
    against the corpus's own English sentences (see ``utils.evaluation``).
    """
    text = re.sub(r"\s*(['-])\s*", r"\1", text)
    return re.sub(r"\s+([.!?,])", r"\1", text).strip()


def tokenize(text: str) -> List[str]:
    """Normalise ``text`` and split it into word tokens."""
    return normalize(text).split()


def word_count(sentence: str) -> int:
    """Words of a normalised sentence: its tokens but joiners and commas (``"i ' m cold ."`` -> 3)."""
    return sum(token not in JOINERS and token != "," for token in sentence.split())


ENGLISH_PREFIXES = (
    "i am ", "i ' m ", "he is ", "he ' s ", "she is ", "she ' s ",
    "you are ", "you ' re ", "we are ", "we ' re ", "they are ", "they ' re ",
)


@dataclass(frozen=True)
class DatasetSetting:
    """A named choice of which sentence pairs the course trains on."""

    description: str
    max_words: int  # keep a pair when both sides have at most this many words
    english_prefixes: Optional[Tuple[str, ...]] = None  # None: any English sentence

    def keeps(self, french: str, english: str) -> bool:
        if word_count(french) > self.max_words or word_count(english) > self.max_words:
            return False
        return self.english_prefixes is None or english.startswith(self.english_prefixes)


SETTINGS = {
    "classic": DatasetSetting(
        "short sentences (< 10 words each side) whose English starts with "
        "'i am / he is / she is / you are / we are / they are' (and contractions)",
        max_words=9,
        english_prefixes=ENGLISH_PREFIXES,
    ),
    "large": DatasetSetting("every pair with at most 15 words on each side", max_words=15),
}


@dataclass(frozen=True)
class DatasetSplits:
    """Train / validation / test lists of normalised ``(french, english)`` pairs.

    Unpacks like a tuple (``train, validation, test = splits``). ``originals`` maps a normalised
    pair to the corpus's own ``(french, english)`` sentences it came from (the first, when several
    normalise alike): the references of standard, detokenised BLEU.
    """

    train: List[Pair]
    validation: List[Pair]
    test: List[Pair]
    originals: Dict[Pair, Pair] = field(default_factory=dict, compare=False, repr=False)

    def __iter__(self) -> Iterator[List[Pair]]:
        return iter((self.train, self.validation, self.test))

    def __len__(self) -> int:
        return 3

    def items(self) -> List[Tuple[str, List[Pair]]]:
        """``[("train", pairs), ("validation", pairs), ("test", pairs)]``."""
        return [("train", self.train), ("validation", self.validation), ("test", self.test)]


def select_pairs(raw_pairs: Iterable[Tuple[str, str]], setting: Union[str, DatasetSetting] = "classic",
                 originals: Optional[Dict[Pair, Pair]] = None) -> List[Pair]:
    """Normalise raw ``(english, french)`` pairs, keep those of ``setting`` as ``(french, english)``.

    Exact duplicates (after normalisation) are kept once. When ``originals`` (a dict) is given, it
    receives ``{normalised pair: (raw french, raw english)}`` of the first raw pair of each.
    """
    if isinstance(setting, str):
        if setting not in SETTINGS:
            raise ValueError(f"unknown dataset setting {setting!r}; choose one of {sorted(SETTINGS)}")
        setting = SETTINGS[setting]
    seen, pairs = set(), []
    for english, french in raw_pairs:
        pair = (normalize(french), normalize(english))
        if pair[0] and pair[1] and pair not in seen and setting.keeps(*pair):
            seen.add(pair)
            pairs.append(pair)
            if originals is not None:
                originals[pair] = (french.strip(), english.strip())
    return pairs


def connected_components(pairs: Sequence[Pair]) -> List[List[Pair]]:
    """Group pairs that share a sentence, directly or through others.

    Nodes are French and English sentences, edges are pairs: ``je suis sourd .`` -- ``i ' m deaf .``
    -- ``je suis sourde .`` is one component. Components come sorted (by their smallest pair), each
    in the order of ``pairs``: the same pairs always give the same list.
    """
    parent: Dict[Tuple[str, str], Tuple[str, str]] = {}

    def find(node):
        root = node
        while parent.setdefault(root, root) != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    for french, english in pairs:
        a, b = find(("fr", french)), find(("en", english))
        if a != b:
            parent[max(a, b)] = min(a, b)
    groups: Dict[Tuple[str, str], List[Pair]] = {}
    for pair in pairs:
        groups.setdefault(find(("fr", pair[0])), []).append(pair)
    return sorted(groups.values(), key=min)


def split_pairs(
    pairs: Sequence[Pair],
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 13,
) -> DatasetSplits:
    """Split pairs into train/validation/test, deterministically and held out on **both** sides.

    Tatoeba often has several English translations of one French sentence and several French
    ones of an English sentence (``je suis sourd .`` and ``je suis sourde .`` are both
    ``i ' m deaf .``). Whole :func:`connected_components` go to one split, so no French and no English
    sentence of a test pair is ever seen in training -- neither as a source nor as a target.
    Components are shuffled with ``seed`` and dealt out until each split has its share of pairs.
    """
    if not 0 <= validation_fraction < 1 or not 0 <= test_fraction < 1 or validation_fraction + test_fraction >= 1:
        raise ValueError("validation_fraction and test_fraction must be in [0, 1) and sum to less than 1")
    components = connected_components(pairs)
    random.Random(seed).shuffle(components)
    wanted = {"test": round(len(pairs) * test_fraction), "validation": round(len(pairs) * validation_fraction)}
    splits: Dict[str, List[Pair]] = {"train": [], "validation": [], "test": []}
    for component in components:
        name = next((n for n in ("test", "validation") if len(splits[n]) < wanted[n]), "train")
        splits[name].extend(component)
    order = {pair: i for i, pair in enumerate(pairs)}  # each split in corpus order
    return DatasetSplits(**{name: sorted(split, key=order.__getitem__) for name, split in splits.items()})


def write_pairs(pairs: Iterable[Pair], path: PathLike) -> None:
    """Write pairs as ``source<TAB>target`` lines."""
    with open(path, "w", encoding="utf-8") as file:
        for source, target in pairs:
            file.write(f"{source}\t{target}\n")


def read_pairs(path: PathLike) -> List[Pair]:
    """Read a split written by :func:`write_pairs`."""
    with open(path, encoding="utf-8") as file:
        return [tuple(line.rstrip("\n").split("\t")) for line in file if line.strip()]


def build_dataset(
    setting: Union[str, DatasetSetting] = "classic",
    corpus: Optional[PathLike] = None,
    folder: Optional[PathLike] = None,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 13,
    max_pairs: Optional[int] = None,
    write: bool = True,
    verbose: bool = True,
) -> DatasetSplits:
    """Build the French -> English dataset of the course.

    Finds (or downloads) the corpus, normalises it with :func:`normalize`, keeps the pairs of
    ``setting`` (see ``SETTINGS``: ``"classic"`` ~ 11k short pairs, ``"large"`` ~ 130k pairs), splits them
    held out on both sides with :func:`split_pairs`, writes ``train.txt``, ``validation.txt`` and ``test.txt``
    (``french<TAB>english``) into the data folder and prints the counts.

    Parameters
    ----------
    setting : `str` or `DatasetSetting`, optional (default = `"classic"`)
        Which pairs to keep.
    corpus : path, optional
        A local ``fra-eng.zip`` / ``fra.txt`` / ``eng-fra.txt``; see :func:`find_corpus`.
    folder : path, optional
        Where to cache the corpus and write the splits (default ``data/`` at the project root).
    max_pairs : `int`, optional
        Keep only this many pairs (a seeded random sample) -- for quick smoke runs.
    """
    raw = read_raw_pairs(find_corpus(corpus, folder))
    originals: Dict[Pair, Pair] = {}
    pairs = select_pairs(raw, setting, originals)
    if max_pairs is not None and max_pairs < len(pairs):
        pairs = sorted(random.Random(seed).sample(pairs, max_pairs))
    splits = split_pairs(pairs, validation_fraction, test_fraction, seed)
    splits = DatasetSplits(*splits, originals={pair: originals[pair] for pair in pairs})
    if write:
        out = data_dir(folder)
        for name, split in splits.items():
            write_pairs(split, out / f"{name}.txt")
    if verbose:
        name = setting if isinstance(setting, str) else setting.description
        counts = ", ".join(f"{k}: {len(v):,}" for k, v in splits.items())
        components = len(connected_components(pairs))
        print(f"{len(raw):,} raw pairs -> {len(pairs):,} kept ({name}) in {components:,} groups that share "
              f"a sentence -> {counts} pairs; no French and no English sentence in two splits")
    return splits
