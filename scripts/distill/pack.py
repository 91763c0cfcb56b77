"""Packs a trained student (export_only.py's E5S1 file and head) as a question-encoder
file (E5Q1, read by crates/e5/src/format.rs, parse_student): the student's tensors without
the word table, which is the teacher's, plus the head; the teacher named by its SHA-256.

    python3 pack.py k3n.bin k3n.head TEACHER.bin ../../models/e5-small-enpt-questions-3l.e5q
"""
import hashlib, struct, sys
from e5py import Model

student_path, head_path, teacher_path, out_path = sys.argv[1:5]
s = Model(student_path)
teacher = open(teacher_path, "rb").read()
t = Model(teacher_path)
assert (s.H, s.NH, s.FF, s.VOC) == (t.H, t.NH, t.FF, t.VOC), "not a student of this teacher"
assert s.raw("emb.word") == t.raw("emb.word"), "the student's word table is not the teacher's"
head = open(head_path, "rb").read()
assert len(head) == (s.H * s.H + s.H) * 4, "head size"

tensors = [(n, s.dir[n][0], s.dir[n][1], s.raw(n)) for n in s.dir_order if n != "emb.word"]
tensors += [("head.w", 0, s.H * s.H, head[: s.H * s.H * 4]), ("head.b", 0, s.H, head[s.H * s.H * 4:])]
out = bytearray(b"E5Q1" + struct.pack("<I", 1) + hashlib.sha256(teacher).digest())
out += struct.pack("<6i", s.H, s.NL, s.NH, s.FF, s.MAXP, s.TVS) + struct.pack("<f", s.eps)
dir_len = 4 + sum(2 + len(n) + 1 + 4 + 16 for n, *_ in tensors)
pos = (len(out) + dir_len + 63) // 64 * 64
directory, data = bytearray(struct.pack("<i", len(tensors))), bytearray()
for name, dtype, count, raw in tensors:
    directory += struct.pack("<H", len(name)) + name.encode() + bytes([dtype])
    directory += struct.pack("<IQQ", count, pos, len(raw))
    pad = (-len(raw)) % 64
    data += raw + b"\0" * pad
    pos += len(raw) + pad
out += directory
out += b"\0" * ((len(out) + 63) // 64 * 64 - len(out))
open(out_path, "wb").write(bytes(out) + bytes(data))
print(out_path, len(out) + len(data), "bytes,", len(tensors), "tensors")
