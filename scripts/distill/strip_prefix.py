# data3.npz (and the eval question sets' *_n.npz) from prep.py/more.py's files: each text's
# token ids without the 3 ids of "query: " (0, 39, 905, 12, ... -> 0, ...); the teacher's
# vectors stay those of the prefixed text. Checked: tokenizing without the prefix gives the
# same ids (2,000 texts of corpus.json, no mismatch).
import numpy as np
def strip(src, dst):
    d = np.load(src); ids = d["ids"]; lens = d["lens"].copy(); out = np.zeros_like(ids)
    for i in range(len(ids)):
        row = ids[i, :lens[i]]
        assert row[0] == 0 and list(row[1:4]) == [39, 905, 12], row[:5]
        new = np.concatenate([row[:1], row[4:]]); out[i, :len(new)] = new; lens[i] = len(new)
    np.savez(dst, ids=out, lens=lens, tgt=d["tgt"])
strip("data2.npz", "data3.npz"); strip("spider_dev.npz", "spider_dev_n.npz"); strip("bird_dev.npz", "bird_dev_n.npz")
