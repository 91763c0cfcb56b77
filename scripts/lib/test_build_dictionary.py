#!/usr/bin/env python3
"""Tests of build_dictionary.py on small dictionaries written in FreeDict's dictd format
(run by scripts/test: python3 scripts/lib/test_build_dictionary.py)."""
import gzip
import pathlib
import subprocess
import sys
import tempfile
import unittest

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from build_dictionary import B64  # noqa: E402 (the builder's own alphabet)


def b64(n):
    out = ""
    while True:
        out = B64[n % 64] + out
        n //= 64
        if n == 0:
            return out


def write_dictd(directory, name, entries):
    """entries: headword -> list of translations, one sense line each."""
    data, index = b"", []
    for head, translations in entries.items():
        body = head + "\n" + "".join(f"  {i + 1}. {t}\n" for i, t in enumerate(translations))
        raw = body.encode("utf-8")
        index.append(f"{head}\t{b64(len(data))}\t{b64(len(raw))}\n")
        data += raw
    with gzip.open(directory / f"freedict-{name}.dict.dz", "wb") as f:
        f.write(data)
    (directory / f"freedict-{name}.index").write_text("".join(index), encoding="utf-8")


def build(dictionaries):
    with tempfile.TemporaryDirectory() as tmp:
        src, out = pathlib.Path(tmp) / "dictd", pathlib.Path(tmp) / "out"
        src.mkdir()
        for name, entries in dictionaries.items():
            write_dictd(src, name, entries)
        subprocess.run(
            [sys.executable, str(HERE / "build_dictionary.py"), str(src), str(out)], check=True
        )
        tables = {}
        for direction in ("pt-en", "en-pt"):
            lines = (out / f"{direction}.tsv").read_text(encoding="utf-8").splitlines()
            tables[direction] = {
                word: translations.split(";")
                for word, translations in (line.split("\t") for line in lines)
            }
        return tables


DIRECT = {
    "por-eng": {"volta": ["bend"], "segundo": ["second"], "dados": ["dice"]},
    "eng-por": {"bend": ["volta"]},
}


class Triangulation(unittest.TestCase):
    def test_the_direct_pair_alone_is_read_in_both_directions(self):
        tables = build(DIRECT)
        self.assertEqual(tables["pt-en"]["volta"], ["bend"])
        self.assertEqual(tables["en-pt"]["bend"], ["volta"])
        self.assertEqual(tables["en-pt"]["second"], ["segundo"])
        self.assertNotIn("cancerígeno", tables["pt-en"])

    def test_two_agreeing_pivots_add_a_translation_and_one_does_not(self):
        tables = build({
            **DIRECT,
            # Spanish: por-spa and spa-eng.
            "por-spa": {"cancerígeno": ["cancerígeno"], "volta": ["curva"], "dados": ["datos"]},
            "spa-eng": {"cancerígeno": ["carcinogenic"], "curva": ["curve"], "datos": ["data"]},
            # French, read the other way round: fra-por reversed, eng-fra reversed.
            "fra-por": {"cancérigène": ["cancerígeno"], "données": ["dados"]},
            "eng-fra": {"carcinogenic": ["cancérigène"], "data": ["données"]},
        })
        pt_en = tables["pt-en"]
        self.assertEqual(pt_en["cancerígeno"], ["carcinogenic"])
        # A short direct entry is topped up after its own translations.
        self.assertEqual(pt_en["dados"], ["dice", "data"])
        # "curve" comes from Spanish alone.
        self.assertEqual(pt_en["volta"], ["bend"])
        # The reverse direction triangulates the same way.
        self.assertIn("cancerígeno", tables["en-pt"]["carcinogenic"])

    def test_a_pivot_only_feminine_does_not_hide_the_direct_masculine(self):
        tables = build({
            **DIRECT,
            "por-spa": {"segunda": ["lunes"], "cancerígena": ["cancerígena"]},
            "spa-eng": {"lunes": ["monday"], "cancerígena": ["carcinogenic"]},
            "por-fra": {"segunda": ["lundi"], "cancerígena": ["cancérigène"]},
            "fra-eng": {"lundi": ["monday"], "cancérigène": ["carcinogenic"]},
        })
        pt_en = tables["pt-en"]
        self.assertNotIn("segunda", pt_en)
        self.assertEqual(pt_en["segundo"], ["second"])
        # No direct "cancerígeno": the feminine may stand as its own headword.
        self.assertEqual(pt_en["cancerígena"], ["carcinogenic"])

    def test_the_most_agreed_translation_comes_first(self):
        pivots = {
            "spa": ("dato", ["fact", "data"]),
            "fra": ("donnée", ["data", "fact"]),
            "ita": ("dato", ["data"]),
        }
        dictionaries = dict(DIRECT)
        for lang, (middle, english) in pivots.items():
            dictionaries[f"{lang}-por"] = {middle: ["informação"]}
            dictionaries[f"{lang}-eng"] = {middle: english}
        tables = build(dictionaries)
        self.assertEqual(tables["pt-en"]["informação"], ["data", "fact"])


if __name__ == "__main__":
    unittest.main()
