import csv, random, re, glob, json, os
random.seed(7)
DEV = set("battle_death car_1 dog_kennels flight_2 network_1 orchestra real_estate_properties student_transcripts_tracking tvshow world_1 concert_singer pets_1 employee_hire_evaluation cre_Doc_Template_Mgt course_teach museum_visit wta_1 poker_player voter_1 singer".split())
tables = {}
def load(path, key=lambda d: d):
    for r in csv.DictReader(open(path)):
        ds = r["dataset"]
        if ds.split(".")[0] in DEV: continue
        t = tables.setdefault(ds, {"desc": "", "cols": []})
        if not r["column"]:
            t["desc"] = r["description"] or ds.split(".")[-1]
        else:
            t["cols"].append(r["description"] or r["column"])
REPO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
load(os.path.join(REPO, "..", "shared", "eval", "catalogs", "spider_union.csv"))
for p in glob.glob(os.path.join(REPO, "metadata", "*.csv")):
    try: load(p)
    except Exception as e: print("skip", p, e)
tables = {k: v for k, v in tables.items() if v["cols"]}
print(len(tables), "tables")
def clean(s): return re.sub(r"[_]+", " ", s).strip().lower()
def pl(s):
    s = clean(s)
    if s.endswith("s"): return s
    if s.endswith("y") and not s.endswith(("ay","ey","oy")): return s[:-1]+"ies"
    return s+"s"
NAMES = ["John", "Smith", "Paris", "Tokyo", "Anna", "Brazil", "Ohio", "Alpha", "Green", "Michael", "Sarah", "London", "Texas", "Blue Star", "Omega", "Lee", "Garcia", "Berlin"]
def val():
    r = random.random()
    if r < .4: return str(random.choice([1,2,3,5,10,20,30,50,100,1000,2000,1990,2005,2010,2018]))
    if r < .8: return random.choice(NAMES)
    return random.choice(["Y", "N", "active", "closed", "male", "female", "red", "A", "B"])
T = [
 "How many {T} are there?", "What is the total number of {T}?", "Count the number of {T}.",
 "List all {c} of {T}.", "What are the {c} of all {T}?", "Show the {c} and {c2} of each {t}.",
 "Find the {c} of the {t} with the highest {c2}.", "Which {t} has the most {O}?",
 "What is the average {c} of {T}?", "Return the maximum and minimum {c} across all {T}.",
 "List the {c} of {T} ordered by {c2} in descending order.", "Show all {T} whose {c} is {v}.",
 "What is the {c} of the {t} named {v}?", "Find the {T} that have {c} greater than {v}.",
 "How many {T} have a {c} of {v}?", "Give me the {c} for every {t} and the number of {O} it has.",
 "Which {T} do not have any {O}?", "Show the {c} of {T} that are associated with {O}.",
 "What are the distinct {c} values of {T}?", "Find the {c} and {c2} of {T} sorted by {c} ascending.",
 "List the {c} of the {t} with the fewest {O}.", "What {c} is most common among {T}?",
 "Show {c}, {c2} for {T} with {c} between {v} and {v2}.", "For each {c}, how many {T} are there?",
 "Which {T} have both {O} and {O2}?", "What is the {c} of {T} whose {c2} contains '{v}'?",
 "where is the {t} data", "{t} {c}", "table with {c} of {T}", "which table has {c}",
 "I need the {c} of each {t}", "find {T} by {c}", "{T} with their {c} and {c2}",
 "Please list the {c} of {T} and their {O} {c3}.", "What percentage of {T} have {c} {v}?",
 "Among the {T} with {c} {v}, what is the {c2}?", "Tell me the {c} of the oldest {t}.",
 "Give the {c} of the most recent {t}.", "Which {t} {c} appears more than once?",
 "What are the {T} in {v}?", "Find all {O} of the {t} with {c} {v}.",
]
def db_tables(db): return [k for k in tables if k.startswith(db + ".")]
out = []
keys = list(tables)
for _ in range(26000):
    ds = random.choice(keys); info = tables[ds]; db = ds.split(".")[0]
    others = [k for k in db_tables(db) if k != ds] or [ds]
    o = random.choice(others); o2 = random.choice(others)
    cols = info["cols"]
    oc = tables[o]["cols"]
    s = random.choice(T).format(T=pl(info["desc"]), t=clean(info["desc"]), c=clean(random.choice(cols)),
        c2=clean(random.choice(cols)), c3=clean(random.choice(oc)), O=pl(tables[o]["desc"]),
        O2=pl(tables[o2]["desc"]), v=val(), v2=val())
    if random.random() < 0.3: s = s[0].lower() + s[1:]
    out.append(s)
for ds, info in tables.items():
    out.append(clean(info["desc"]))
    out.append(clean(info["desc"]) + " " + " ".join(clean(c) for c in info["cols"][:8]))
    for c in random.sample(info["cols"], min(3, len(info["cols"]))):
        out.append(clean(c) + " " + clean(info["desc"]))
# generic English sentences from crate docs
sent = []
files = glob.glob(os.path.expanduser("~/.cargo/registry/src/*/*/src/**/*.rs"), recursive=True)
random.shuffle(files)
for f in files[:9000]:
    try: txt = open(f, errors="ignore").read()
    except Exception: continue
    for line in re.findall(r"^\s*///\s?(.*)$", txt, re.M):
        if "`" in line or "[" in line or "http" in line or "::" in line: continue
        w = line.split()
        if 5 <= len(w) <= 25 and line[0].isupper() and line.rstrip().endswith((".", "?")):
            sent.append(line.strip())
sent = list(dict.fromkeys(sent)); random.shuffle(sent)
print(len(sent), "doc sentences")
out += sent[:14000]
out = list(dict.fromkeys(out)); random.shuffle(out)
json.dump(out, open("corpus.json", "w"))
print(len(out)); print("\n".join(out[:25]))
