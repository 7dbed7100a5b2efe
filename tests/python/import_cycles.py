"""Import circles between the .rs files of each library crate: file A uses an item
*defined* in file B and B one defined in A (re-exports followed to the defining file;
`pub use` facades and `mod` lines are not uses; test modules left out). Prints each
circle and exits 1 if there is one. Usage: import_cycles.py REPO_ROOT"""
import os, re, sys
root = sys.argv[1]
crates = ['capture/src', 'sketches/src', 'pipeline/src', 'tools/src']
DEF = re.compile(r'^\s*(?:pub(?:\([^)]*\))?\s+)?(?:unsafe\s+)?(?:struct|enum|fn|trait|type|const|static|union|macro_rules!)\s+(\w+)', re.M)
def strip(t):
    m0 = re.search(r'#\[cfg\(test\)\]\s*(?:pub(?:\([^)]*\))?\s+)?mod tests', t); i = m0.start() if m0 else -1
    t = t if i < 0 else t[:i]
    t = re.sub(r'//[^\n]*', '', t)
    return t
bad = 0
for c in crates:
    src = os.path.join(root, c); files = []
    for d, _, fs in os.walk(src):
        files += [os.path.join(d, f) for f in fs if f.endswith('.rs') and '/tests/' not in os.path.join(d, f)]
    text = {p: strip(open(p).read()) for p in files}
    defs = {}
    for p, t in text.items():
        for m in DEF.finditer(t):
            defs.setdefault(m.group(1), set()).add(p)
    g = {p: set() for p in files}
    for p, t in text.items():
        body = re.sub(r'^\s*pub(?:\([^)]*\))?\s+use\s+[^;]*;', '', t, flags=re.M)  # facades
        body = re.sub(r'^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+\w+\s*;', '', body, flags=re.M)
        local = set(m.group(1) for m in DEF.finditer(t))
        idents = set()
        for m in re.finditer(r'^\s*use\s+(?:crate|super|self)::([^;]*);', body, re.M | re.S):
            idents |= set(re.findall(r'(\w+)\s*(?=,|\}|$|\s+as\b)', m.group(1).strip()))
        # any use (re-exports too) whose names the code goes on to use
        nouse = re.sub(r'^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+[^;]*;', '', t, flags=re.M)
        for m in re.finditer(r'^\s*(?:pub(?:\([^)]*\))?\s+)?use\s+(\w+)::([^;]*);', t, re.M | re.S):
            if m.group(1) in ('std', 'core', 'alloc'): continue
            for i in re.findall(r'(\w+)\s*(?=,|\}|$|\s+as\b)', (m.group(1) + '::' + m.group(2)).strip()):
                if re.search(r'\b' + i + r'\b', nouse): idents.add(i)
        for m in re.finditer(r'\b(?:crate|super)::((?:\w+::)*\w+)', body):
            idents.add(m.group(1).split('::')[-1])
        for i in idents:
            if i in local or i in ('self', 'super', 'crate'): continue
            ds = defs.get(i, set())
            if len(ds) == 1:
                q = next(iter(ds))
                if q != p: g[p].add(q)
    idx = {}; low = {}; st = []; on = set(); out = []; n = [0]
    sys.setrecursionlimit(10000)
    def sc(v):
        idx[v] = low[v] = n[0]; n[0] += 1; st.append(v); on.add(v)
        for w in g[v]:
            if w not in idx: sc(w); low[v] = min(low[v], low[w])
            elif w in on: low[v] = min(low[v], idx[w])
        if low[v] == idx[v]:
            comp = []
            while True:
                w = st.pop(); on.discard(w); comp.append(w)
                if w == v: break
            if len(comp) > 1: out.append(comp)
    for v in g:
        if v not in idx: sc(v)
    for comp in out:
        bad += 1
        print(c, 'cycle:')
        for x in sorted(comp):
            print('   ', os.path.relpath(x, root), '->', ' '.join(sorted(os.path.relpath(y, root) for y in g[x] if y in comp)))
print('cycles:', bad)
sys.exit(1 if bad else 0)
