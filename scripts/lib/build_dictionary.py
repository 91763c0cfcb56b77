#!/usr/bin/env python3
"""Builds descoberta's bilingual word tables from the FreeDict dictionaries Debian ships
(dict-freedict-por-eng, dict-freedict-eng-por; GPL-2+, so the derived tables are built on the
user's machine by scripts/setup and never committed).

usage: build_dictionary.py DICTD_DIR OUT_DIR
Writes OUT_DIR/pt-en.tsv and OUT_DIR/en-pt.tsv: one line per single-word headword,
`word<TAB>translation;translation;...` (at most 4, single words, lowercase, in dictionary
order: the direct dictionary first, then the reverse one)."""
import gzip
import pathlib
import re
import sys

B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
WORD = re.compile(r"^[^\W\d_][\w'-]*$", re.UNICODE)
MAX = 4


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


def write(table, path):
    with open(path, "w", encoding="utf-8") as f:
        for key in sorted(table):
            f.write(f"{key}\t{';'.join(table[key])}\n")


def main():
    src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
    out.mkdir(parents=True, exist_ok=True)
    pe, ep = src / "freedict-por-eng", src / "freedict-eng-por"
    write(build(pe, ep), out / "pt-en.tsv")
    write(build(ep, pe), out / "en-pt.tsv")


if __name__ == "__main__":
    main()
