#!/usr/bin/env python3
"""Markdown tables from ternary-roofline's JSON lines (stdin), for docs/performance.md."""
import json
import sys

rows = [json.loads(line) for line in sys.stdin if line.startswith("{")]
rows = [r for r in rows if r["packing"] != "int8"]  # the int8 head has no ternary packing
key = lambda r: (r["m"], r["k"], r["batch"], r["threads"], r["mode"])
cases = sorted({key(r) for r in rows}, key=lambda c: (c[2], c[0] * c[1], c[0], c[3], c[4]))

def get(case, isa, packing):
    for r in rows:
        if key(r) == case and r["isa"] == isa and r["packing"] == packing:
            return r
    return None

isas = [i for i in ("avx512vbmi", "avx512vnni", "avxvnni", "avx2", "neon-dotprod", "neon") if any(r["isa"] == i for r in rows)]
best = isas[0]
print(f"Best policy ({best}); µs, GMAC/s, weight GB/s and its fraction of the read bandwidth measured "
      "next to it, speed-up over Eigen float and over the scalar policy:\n")
print("| m x k | batch | threads | mode | packing | µs | GMAC/s | weight GB/s | bw_fraction | vs_eigen | vs_scalar |")
print("|---|---|---|---|---|---|---|---|---|---|---|")
for c in cases:
    for packing in ("two_bit", "base3", "base3_window"):
        r = get(c, best, packing)
        if r:
            print(f"| {c[0]}x{c[1]} | {c[2]} | {c[3]} | {c[4]} | {packing} | {r['us']:.1f} | {r['gmacs']:.1f} | "
                  f"{r['weight_gbps']:.1f} | {r['bw_fraction']:.2f} | {r['vs_eigen']:.1f} | {r['vs_scalar']:.0f} |")
print("\nEvery policy, two_bit, µs:\n")
print("| m x k | batch | threads | mode | " + " | ".join(isas + ["scalar"]) + " |")
print("|---" * (4 + len(isas) + 1) + "|")
for c in cases:
    cells = []
    for isa in isas + ["scalar"]:
        r = get(c, isa, "two_bit")
        cells.append(f"{r['us']:.1f}" if r else "")
    print(f"| {c[0]}x{c[1]} | {c[2]} | {c[3]} | {c[4]} | " + " | ".join(cells) + " |")
