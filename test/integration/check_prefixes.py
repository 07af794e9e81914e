#!/usr/bin/python3
"""check_prefixes.py SOURCE - every function declared in include/walship/X.h
starts with ws_X_ (the module's name) or with the name of a type that header
declares followed by '_' (functions named for the type they work on:
ws_repo_writer_commit in repo_object.h).  Prints each one that does not and
exits 1; a run that finds no declarations fails too."""
import glob
import os
import re
import sys

root = sys.argv[1]
bad, seen = [], 0
for h in sorted(glob.glob(os.path.join(root, "include", "walship", "*.h"))):
    mod = os.path.basename(h)[:-2]
    txt = open(h).read()
    types = set(re.findall(r"\}\s*(ws_[a-z0-9_]+)\s*;", txt))
    types |= set(re.findall(r"typedef\s+[^;{}]*?\b(ws_[a-z0-9_]+)\s*;", txt))
    decls = set(m.group(1) for m in re.finditer(r"^(?:[A-Za-z_][\w \*]*?[\s\*])(ws_[a-z0-9_]+)\s*\(", txt, re.M))
    for name in sorted(decls):
        seen += 1
        if name == "ws_" + mod or name.startswith("ws_" + mod + "_"):
            continue
        if any(name == t or name.startswith(t + "_") for t in types):
            continue
        bad.append("%s.h: %s starts neither with ws_%s_ nor with a type of %s.h" % (mod, name, mod, mod))
for b in bad:
    print("FAIL: " + b)
if seen == 0:
    print("FAIL: no function declarations found under %s/include/walship" % root)
    sys.exit(1)
print("%d exported functions checked, %d misnamed" % (seen, len(bad)))
sys.exit(1 if bad else 0)
