import sys, time, json, numpy as np, jax, jax.numpy as jnp, optax
from e5py import Model, deq_q4, teacher_path
K = int(sys.argv[1]); EPOCHS = float(sys.argv[2]); OUT = sys.argv[3]
LR = float(sys.argv[4]) if len(sys.argv) > 4 else 2e-4
m = Model(teacher_path())
W = m.weights(K)
dt, cnt, off, nb = m.dir["emb.word"]
word = deq_q4(m.buf[off:off + nb], m.VOC, m.H)
H, NH = m.H, m.NH; hd = H // NH; EPS = m.eps
params = {"pos": W["pos"], "type": W["type"], "eln_w": W["eln_w"], "eln_b": W["eln_b"],
          "layers": W["layers"], "head_w": np.eye(H, dtype=np.float32), "head_b": np.zeros(H, np.float32)}
import os
if os.environ.get("INIT"):  # start from a trained student (same K) instead of the teacher's layers
    params = np.load(os.environ["INIT"], allow_pickle=True).item()
params = jax.tree_util.tree_map(jnp.asarray, params)
word = jnp.asarray(word)
def ln(x, w, b):
    mu = x.mean(-1, keepdims=True); v = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) * jax.lax.rsqrt(v + EPS) * w + b
QAT = True
def fq(w):
    o, i = w.shape
    b = w.reshape(o, i // 32, 32)
    idx = jnp.argmax(jnp.abs(b), axis=2)
    mx = jnp.take_along_axis(b, idx[..., None], axis=2)
    d = (mx / -8.0).astype(jnp.float16).astype(jnp.float32)
    inv = jnp.where(d != 0, 1.0 / jnp.where(d != 0, d, 1.0), 0.0)
    q = jnp.clip(jnp.floor(b * inv + 8.5), 0, 15)
    wq = ((q - 8) * d).reshape(o, i)
    return w + jax.lax.stop_gradient(wq - w)
def forward(p, ids, mask):
    B, T = ids.shape
    if QAT:
        p = dict(p, layers=[{k: (fq(v) if k.endswith("w") and v.ndim == 2 else v) for k, v in L.items()} for L in p["layers"]])
    x = word[ids] + p["pos"][:T][None] + p["type"]
    x = ln(x, p["eln_w"], p["eln_b"])
    bias = jnp.where(mask[:, None, None, :], 0.0, -1e9)
    for L in p["layers"]:
        q = (x @ L["qw"].T + L["qb"]).reshape(B, T, NH, hd).transpose(0, 2, 1, 3)
        k = (x @ L["kw"].T + L["kb"]).reshape(B, T, NH, hd).transpose(0, 2, 1, 3)
        v = (x @ L["vw"].T + L["vb"]).reshape(B, T, NH, hd).transpose(0, 2, 1, 3)
        a = jax.nn.softmax(q @ k.transpose(0, 1, 3, 2) / np.sqrt(hd) + bias, -1)
        c = (a @ v).transpose(0, 2, 1, 3).reshape(B, T, H)
        x = ln(x + c @ L["aow"].T + L["aob"], L["aln_w"], L["aln_b"])
        h = jax.nn.gelu(x @ L["fiw"].T + L["fib"], approximate=False)
        x = ln(x + h @ L["fow"].T + L["fob"], L["oln_w"], L["oln_b"])
    mf = mask[..., None].astype(x.dtype)
    e = (x * mf).sum(1) / mf.sum(1)
    e = e / jnp.linalg.norm(e, axis=-1, keepdims=True)
    y = e @ p["head_w"].T + p["head_b"]
    return y / jnp.linalg.norm(y, axis=-1, keepdims=True)
PASS = jnp.asarray(np.load("passages.npy"))
TAU = float(sys.argv[5]) if len(sys.argv) > 5 else 0.02
LAM = float(sys.argv[6]) if len(sys.argv) > 6 else 1.0
def loss_fn(p, ids, mask, tgt):
    y = forward(p, ids, mask)
    cos = (1 - (y * tgt).sum(-1)).mean()
    lt = jax.nn.log_softmax(tgt @ PASS.T / TAU, -1)
    ls = jax.nn.log_softmax(y @ PASS.T / TAU, -1)
    kl = (jnp.exp(lt) * (lt - ls)).sum(-1).mean()
    return cos + LAM * TAU * kl
d = np.load(os.environ.get("DATA", "data3.npz")); ids_all, lens_all, tgt_all = d["ids"], d["lens"], d["tgt"]
n = len(ids_all); rng = np.random.default_rng(0)
perm = rng.permutation(n); hold = perm[:1000]; train = perm[1000:]
BS = 64
steps_per_epoch = len(train) // BS; total = int(steps_per_epoch * EPOCHS)
sched = optax.warmup_cosine_decay_schedule(0, LR, max(1, min(100, total // 10)), total, LR * 0.05)
opt = optax.adamw(sched, weight_decay=0.01)
state = opt.init(params)
@jax.jit
def step(p, s, ids, mask, tgt):
    l, g = jax.value_and_grad(loss_fn)(p, ids, mask, tgt)
    u, s = opt.update(g, s, p)
    return optax.apply_updates(p, u), s, l
fwd_j = jax.jit(forward)
def batch(idx):
    T = int(lens_all[idx].max()); T = (T + 7) // 8 * 8
    ids = ids_all[idx, :T]; mask = np.arange(T)[None] < lens_all[idx][:, None]
    return jnp.asarray(ids), jnp.asarray(mask), jnp.asarray(tgt_all[idx])
def cos_on(ids, lens, tgt, p):
    out = []
    for i in range(0, len(ids), 128):
        sl = slice(i, i + 128); T = int(lens[sl].max()); T = (T + 7) // 8 * 8
        mask = np.arange(T)[None] < lens[sl][:, None]
        out.append(np.asarray(fwd_j(p, jnp.asarray(ids[sl, :T]), jnp.asarray(mask))))
    y = np.concatenate(out); return float((y * tgt).sum(-1).mean())
sp = np.load("spider_dev_n.npz"); bd = np.load("bird_dev_n.npz")
def report(tag):
    print(tag, "hold %.4f spider %.4f bird %.4f" % (cos_on(ids_all[hold], lens_all[hold], tgt_all[hold], params),
          cos_on(sp["ids"], sp["lens"], sp["tgt"], params), cos_on(bd["ids"], bd["lens"], bd["tgt"], params)), flush=True)
report("init")
# length-bucketed batches
t0 = time.time(); it = 0
while it < total:
    order = train[np.argsort(lens_all[train] + rng.random(len(train)) * 3)]
    batches = [order[i:i + BS] for i in range(0, len(order) - BS + 1, BS)]
    rng.shuffle(batches)
    for b in batches:
        if it >= total: break
        params, state, l = step(params, state, *batch(b)); it += 1
        if it % 100 == 0: print(it, total, "loss %.4f" % float(l), "%.0fs" % (time.time() - t0), flush=True)
        if it % 600 == 0:
            report(f"step {it}")
            np.save(OUT, jax.tree_util.tree_map(np.asarray, params), allow_pickle=True)
report("final")
np.save(OUT, jax.tree_util.tree_map(np.asarray, params), allow_pickle=True)
