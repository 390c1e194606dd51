import time, collections
from pathlib import Path
from adapter.fhir.registry import default_registry
from adapter.validation import validate_bytes
import adapter.validation.invariants as inv
raw = Path("profiles/examples/Bundle-lisn-example-submission.json").read_bytes()
reg = default_registry()
for _ in range(30): validate_bytes(raw, reg)
orig = inv.evaluate
stats = collections.defaultdict(lambda: [0,0.0])
def ev(expression, node, **kw):
    s=time.perf_counter(); r=orig(expression, node, **kw); d=time.perf_counter()-s
    st=stats[(expression, kw.get('type_path'))]; st[0]+=1; st[1]+=d
    return r
inv.evaluate = ev
N=50
s=time.perf_counter()
for _ in range(N): validate_bytes(raw, reg)
tot=(time.perf_counter()-s)/N*1000
print("total ms", tot, "inv ms", sum(v[1] for v in stats.values())/N*1000, "calls", sum(v[0] for v in stats.values())/N)
for k,v in sorted(stats.items(), key=lambda kv:-kv[1][1])[:30]:
    print(f"{v[1]/N*1000:7.3f}ms {v[0]/N:6.1f} {k[1]} {k[0][:110]}")
