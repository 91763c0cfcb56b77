#!/usr/bin/env python3
"""Builds descoberta's bilingual word tables from the FreeDict dictionaries Debian ships
(dict-freedict-por-eng, dict-freedict-eng-por; GPL-2+, so the derived tables are built on the
user's machine by scripts/setup and never committed).

usage: build_dictionary.py DICTD_DIR OUT_DIR
Writes OUT_DIR/pt-en.tsv and OUT_DIR/en-pt.tsv: one line per single-word headword,
`word<TAB>translation;translation;...` (at most 4, single words, lowercase, in dictionary
order: the direct dictionary first, then the reverse one).

Where the direct pair leaves room (fewer than 4 translations, or no entry), the table is
topped up by triangulation through the other FreeDict pairs found in DICTD_DIR: a word's
translations into a pivot language (Spanish, French, ...), and theirs into the target. A
candidate is kept only when at least MIN_PIVOTS different pivot languages reach it, which is
what filters a pivot's own ambiguity ("volta" -> "curva" -> "curve" alone is one pivot's
guess; "cancerígeno" -> "carcinogenic" through two is agreement). A pivot-only headword is
not added when a plural or feminine of a direct headword would already find that one."""
import gzip
import pathlib
import re
import sys

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
WORD = re.compile(r"^[^\W\d_][\w'-]*$", re.UNICODE)
MAX = 4
MIN_PIVOTS = 2
PIVOTS = ["spa", "fra", "ita", "deu", "nld", "swe", "pol", "fin", "ell"]
# Plural and feminine endings -> the headword's ending (the service's lookup rule, unaccented
# and accented forms).
ENDINGS = [("ções", "ção"), ("coes", "cao"), ("ns", "m"), ("ões", "ão"), ("oes", "ao"),
           ("ães", "ão"), ("aes", "ao"), ("ais", "al"), ("éis", "el"), ("eis", "el"),
           ("ies", "y"), ("es", ""), ("s", ""), ("as", "o"), ("a", "o")]


def b64(text):
    n = 0
    for c in text:
        n = n * 64 + B64.index(c)
    return n


def entries(base):
    data = gzip.open(str(base) + ".dict.dz").read()
    for line in open(str(base) + ".index", encoding="utf-8"):
        head, offset, length = line.rstrip("\n").split("\t")
        if head.startswith("00database"):
            continue
        start = b64(offset)
        yield head, data[start : start + b64(length)].decode("utf-8", "replace")


def senses(body):
    """The translations of an entry, in order: each sense line's comma-separated items."""
    out = []
    for line in body.splitlines()[1:]:
        line = re.sub(r"^\s*\d+\.\s*", "", line)
        line = re.sub(r"\([^)]*\)|<[^>]*>|\[[^\]]*\]", "", line)
        for item in re.split(r"[,;]", line):
            item = item.strip().lower()
            if item and WORD.match(item):
                out.append(item)
    return out


def add(table, key, value):
    key = key.strip().lower()
    if not WORD.match(key) or key == value:
        return
    values = table.setdefault(key, [])
    if value not in values and len(values) < MAX:
        values.append(value)


def build(direct, reverse):
    table = {}
    for head, body in entries(direct):
        for t in senses(body):
            add(table, head, t)
    for head, body in entries(reverse):
        head = head.strip().lower()
        if not WORD.match(head):
            continue
        for t in senses(body):
            add(table, t, head)
    return table


def pairs(src, a, b):
    """a-word -> b-words, in order: the a-b dictionary first, then b-a reversed; {} if neither
    is present."""
    out = {}
    for name, reverse in ((f"freedict-{a}-{b}", False), (f"freedict-{b}-{a}", True)):
        if not (src / (name + ".index")).exists():
            continue
        for head, body in entries(src / name):
            head = head.strip().lower()
            if not WORD.match(head):
                continue
            for t in senses(body):
                key, value = (t, head) if reverse else (head, t)
                values = out.setdefault(key, [])
                if value not in values:
                    values.append(value)
    return out


def triangulated(src, source, target):
    """source-word -> target-words reached through at least MIN_PIVOTS pivot languages,
    most-supported first (ties: the order they were first reached, pivots in PIVOTS order)."""
    support, first = {}, {}
    for pivot in PIVOTS:
        there, back = pairs(src, source, pivot), pairs(src, pivot, target)
        if not there or not back:
            continue
        for word, middles in there.items():
            reached = []
            for m in middles:
                for t in back.get(m, ()):
                    if t != word and t not in reached:
                        reached.append(t)
            counts, order = support.setdefault(word, {}), first.setdefault(word, {})
            for t in reached:
                counts[t] = counts.get(t, 0) + 1
                order.setdefault(t, len(order))
    out = {}
    for word, counts in support.items():
        kept = [t for t in counts if counts[t] >= MIN_PIVOTS]
        kept.sort(key=lambda t: (-counts[t], first[word][t]))
        if kept:
            out[word] = kept
    return out


def shadows(word, direct):
    """Whether a pivot-only headword would hide a direct headword the lookup finds from it."""
    return any(word.endswith(p) and len(word) - len(p) + len(s) >= 3
               and word[: len(word) - len(p)] + s in direct for p, s in ENDINGS)


def top_up(table, extra):
    direct = set(table)
    for word, translations in extra.items():
        if word not in direct and shadows(word, direct):
            continue
        for t in translations:
            add(table, word, t)
    return table


def write(table, path):
    with open(path, "w", encoding="utf-8") as f:
        for key in sorted(table):
            f.write(f"{key}\t{';'.join(table[key])}\n")


def main():
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    pe, ep = src / "freedict-por-eng", src / "freedict-eng-por"
    write(top_up(build(pe, ep), triangulated(src, "por", "eng")), out / "pt-en.tsv")
    write(top_up(build(ep, pe), triangulated(src, "eng", "por")), out / "en-pt.tsv")


if __name__ == "__main__":
    main()
