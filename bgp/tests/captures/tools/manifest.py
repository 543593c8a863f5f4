#!/usr/bin/env python3
"""Check manifest.json against the fixture files (run at the end of make-captures.sh)."""
import argparse
import json
import os
import sys

ap = argparse.ArgumentParser()
ap.add_argument("--out", required=True)
args = ap.parse_args()
with open(os.path.join(args.out, "manifest.json")) as f:
    manifest = json.load(f)
listed = set()
total = 0
for e in manifest:
    for k in ("file", "oracle"):
        p = os.path.join(args.out, e[k])
        if not os.path.exists(p):
            sys.exit(f"manifest lists missing file {e[k]}")
        listed.add(e[k])
        total += os.path.getsize(p)
    if os.path.getsize(os.path.join(args.out, e["file"])) != e["bytes"]:
        sys.exit(f"{e['file']}: size differs from manifest")
on_disk = set()
for root, _, files in os.walk(args.out):
    for fn in files:
        if fn.endswith(".bin") or fn.endswith(".tshark.json"):
            on_disk.add(os.path.relpath(os.path.join(root, fn), args.out))
extra = on_disk - listed
if extra:
    sys.exit(f"fixture files not in manifest: {sorted(extra)}")
print(f"manifest: {len(manifest)} streams, {total} bytes of fixtures")
