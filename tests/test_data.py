"""The corpus pipeline of utils: finding/downloading the corpus, normalising, filtering, splitting."""
import http.server
import os
import threading
import zipfile
from pathlib import Path

import pytest

import utils
from utils import data as data_module
from utils.data import (CorpusNotFoundError, find_corpus, normalize, read_raw_pairs, select_pairs,
                        split_pairs)

TINY = Path(__file__).parent / "data" / "tiny_fra_eng.txt"


@pytest.fixture(autouse=True)
def no_corpus_env(monkeypatch, tmp_path):
    """Tests start with no FRA_ENG_CORPUS and an empty data folder of their own."""
    monkeypatch.delenv(utils.CORPUS_ENV, raising=False)
    monkeypatch.setenv(data_module.DATA_DIR_ENV, str(tmp_path / "data"))


@pytest.mark.parametrize("raw, expected", [
    ("Je suis très fatigué ce soir.", "je suis tres fatigue ce soir ."),
    ("J'ai 19 ans, non ?", "j ' ai 19 ans , non ?"),  # digits kept, commas and joiners split off
    ("I'm hungry!", "i ' m hungry !"),
    ("I’m “fine”.", "i ' m fine ."),  # typographic apostrophe folded, quotes dropped
    ("Ça alors\u202f!", "ca alors !"),  # narrow no-break space before French punctuation
    ("  Où   est la GARE?  ", "ou est la gare ?"),
    ("C'est ma sœur.", "c ' est ma soeur ."),  # the ligature is spelled out, not dropped
    ("Peut-être 3.5 kg, ou 1,000.", "peut - etre 3.5 kg , ou 1,000 ."),  # numbers keep their point/comma
])
def test_normalize(raw, expected):
    assert normalize(raw) == expected


@pytest.mark.parametrize("normalised, plain", [
    ("i ' m 19 , aren ' t i ?", "i'm 19, aren't i?"),
    ("peut - etre qu ' il a 3.5 kg .", "peut-etre qu'il a 3.5 kg."),
    ("", ""),
])
def test_detokenize_glues_joiners_and_punctuation(normalised, plain):
    assert data_module.detokenize(normalised) == plain


def test_detokenize_undoes_normalize_on_plain_english():
    for raw in ("I'm 19, aren't I?", "Tom's car is red.", "It's a well-known fact!", "She was born in 1990."):
        assert data_module.detokenize(normalize(raw)) == raw.lower()


def test_word_count_ignores_joiners_and_commas():
    assert data_module.word_count("i ' m cold , ok .") == 5


def test_read_txt_and_zip_give_the_same_pairs(tmp_path):
    pairs = read_raw_pairs(TINY)
    assert len(pairs) == 43 and pairs[0] == ("I am cold.", "J'ai froid.")
    archive = tmp_path / "fra-eng.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("_about.txt", "about")
        # newer releases have a third column (attribution): it must be ignored
        zf.writestr("fra.txt", "".join(f"{e}\t{f}\tCC-BY 2.0\n" for e, f in pairs))
    assert read_raw_pairs(archive) == pairs


def test_read_rejects_a_malformed_line(tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("Hello.\tBonjour.\nno tab here\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        read_raw_pairs(bad)


def test_zip_without_corpus_member_is_a_clear_error(tmp_path):
    archive = tmp_path / "other.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("readme.txt", "nothing")
    with pytest.raises(CorpusNotFoundError, match="right zip"):
        read_raw_pairs(archive)


def test_find_corpus_prefers_argument_then_environment(monkeypatch, tmp_path):
    other = tmp_path / "other.txt"
    other.write_text("Hi.\tSalut.\n", encoding="utf-8")
    monkeypatch.setenv(utils.CORPUS_ENV, str(TINY))
    assert find_corpus() == TINY
    assert find_corpus(other) == other


def test_missing_local_file_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv(utils.CORPUS_ENV, str(tmp_path / "nope.zip"))
    with pytest.raises(CorpusNotFoundError, match="not a file"):
        find_corpus()


def test_offline_gives_one_clear_error(monkeypatch):
    # Port 9 (discard) on loopback: the connection is refused at once, as when offline.
    monkeypatch.setattr(data_module, "CORPUS_URLS", ("http://127.0.0.1:9/fra-eng.zip",))
    with pytest.raises(CorpusNotFoundError) as error:
        find_corpus()
    message = str(error.value)
    assert utils.CORPUS_ENV in message and "fra-eng.zip" in message
    assert error.value.__cause__ is None and error.value.__suppress_context__


class _ZipHandler(http.server.SimpleHTTPRequestHandler):
    requests = 0

    def do_GET(self):
        type(self).requests += 1
        body = self.server.payload
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_download_once_then_use_the_cache(monkeypatch, tmp_path):
    archive = tmp_path / "served.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.write(TINY, "fra.txt")
    server = http.server.HTTPServer(("127.0.0.1", 0), _ZipHandler)
    server.payload = archive.read_bytes()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/fra-eng.zip"
        monkeypatch.setattr(data_module, "CORPUS_URLS", (url,))
        first = find_corpus()
        second = find_corpus()
    finally:
        server.shutdown()
    assert first == second == Path(os.environ[data_module.DATA_DIR_ENV]) / "fra-eng.zip"
    assert _ZipHandler.requests == 1, "the corpus must be downloaded once, then read from the cache"
    assert not list(first.parent.glob("*.part")), "no half-downloaded file may stay behind"
    assert len(read_raw_pairs(first)) == 43


def test_classic_setting_keeps_short_sentences_with_the_english_prefixes():
    pairs = select_pairs(read_raw_pairs(TINY), "classic")
    assert ("j ' ai froid .", "i am cold .") in pairs and ("j ' ai froid .", "i ' m cold .") in pairs
    assert len(pairs) == len(set(pairs)), "exact duplicates are kept once"
    assert all(e.startswith(utils.data.ENGLISH_PREFIXES) for _, e in pairs)
    assert all(data_module.word_count(f) < 10 and data_module.word_count(e) < 10 for f, e in pairs)
    assert not any(e.startswith("go") or e.startswith("thank") for _, e in pairs)


def test_large_setting_keeps_any_prefix_up_to_15_words():
    pairs = select_pairs(read_raw_pairs(TINY), "large")
    english = [e for _, e in pairs]
    assert "go ." in english and "where is the station ?" in english
    assert all(data_module.word_count(f) <= 15 and data_module.word_count(e) <= 15 for f, e in pairs)
    assert not any(e.startswith("tom was not there") for e in english)  # 17 words


def test_unknown_setting():
    with pytest.raises(ValueError, match="classic"):
        select_pairs([], "tiny")


def _assert_leak_free(splits):
    """No French and no English sentence in two splits."""
    for side, column in (("French", 0), ("English", 1)):
        sentences = {name: {pair[column] for pair in split} for name, split in splits.items()}
        for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
            shared = sentences[a] & sentences[b]
            assert not shared, f"{len(shared)} {side} sentences are in {a} and {b}, e.g. {sorted(shared)[:3]}"


def test_split_is_deterministic_complete_and_held_out_on_both_sides():
    pairs = select_pairs(read_raw_pairs(TINY), "large")
    splits = split_pairs(pairs, 0.2, 0.2, seed=1)
    assert split_pairs(pairs, 0.2, 0.2, seed=1) == splits
    assert sorted(sum(splits, [])) == sorted(pairs)
    _assert_leak_free(splits)
    assert split_pairs(pairs, 0.2, 0.2, seed=2) != splits
    with pytest.raises(ValueError):
        split_pairs(pairs, 0.6, 0.5)


def test_components_join_pairs_that_share_either_sentence():
    pairs = [("je suis sourd .", "i ' m deaf ."), ("je suis sourde .", "i ' m deaf ."),
             ("je suis sourde .", "i am deaf ."), ("va !", "go .")]
    components = data_module.connected_components(pairs)
    assert components == [pairs[:3], pairs[3:]], "the three 'deaf' pairs are one component, 'go' another"
    for seed in range(5):  # whatever the shuffle, the 'deaf' pairs stay together
        splits = split_pairs(pairs, 0.25, 0.25, seed=seed)
        assert sum(set(pairs[:3]) <= set(split) for split in splits) == 1
        _assert_leak_free(splits)


def test_split_sizes_follow_the_fractions():
    # 200 independent pairs and one component of 5: the shares hold to within a component.
    pairs = [(f"phrase {i} .", f"sentence {i} .") for i in range(200)]
    pairs += [(f"salut {i} .", "hello .") for i in range(5)]
    splits = split_pairs(pairs, 0.1, 0.1, seed=0)
    for split in (splits.validation, splits.test):
        assert 20 <= len(split) < 25, [len(s) for s in splits]


def test_build_dataset_writes_the_three_splits(tmp_path, capsys):
    splits = utils.build_dataset("large", corpus=TINY, folder=tmp_path, validation_fraction=0.2, test_fraction=0.2)
    printed = capsys.readouterr().out
    assert "43 raw pairs" in printed and f"train: {len(splits.train)}" in printed
    assert "no French and no English sentence in two splits" in printed
    train, validation, test = splits  # unpacks like a tuple
    assert splits.originals[("j ' ai froid .", "i am cold .")] == ("J'ai froid.", "I am cold.")
    assert set(splits.originals) == set(train + validation + test)
    for name in ("train", "validation", "test"):
        assert utils.read_pairs(tmp_path / f"{name}.txt") == getattr(splits, name)
    smaller = utils.build_dataset("large", corpus=TINY, folder=tmp_path, max_pairs=10, write=False, verbose=False)
    assert sum(map(len, smaller)) == 10


REAL_CORPUS = os.environ.get(utils.CORPUS_ENV)
needs_corpus = pytest.mark.skipif(
    not REAL_CORPUS, reason=f"the real corpus is not available: set {utils.CORPUS_ENV}=path/to/fra-eng.zip")


@pytest.mark.corpus
@needs_corpus
@pytest.mark.parametrize("setting", ["classic", "large"])
def test_real_corpus_splits_are_leak_free(setting, tmp_path):
    splits = utils.build_dataset(setting, corpus=REAL_CORPUS, folder=tmp_path, verbose=False)
    _assert_leak_free(splits)
    assert all(pair in splits.originals for split in splits for pair in split)
    total = sum(map(len, splits))
    if setting == "classic":
        assert 10_000 <= total <= 12_000, f"the classic subset has about 10k pairs, got {total}"
    else:
        assert total > 100_000
    assert abs(len(splits.test) / total - 0.1) < 0.02
