#!/bin/sh
# Every relative link of README.md and docs/*.md leads somewhere: the file
# exists, and a "#section" names a heading of that page (GitHub's anchors:
# lower case, punctuation dropped, spaces to hyphens, "-1", "-2" for repeats).
# Pages move and sections get renamed; this keeps their links true.
# One PASS/FAIL line per page, then "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
exec /usr/bin/python3 - README.md docs/*.md <<'EOF'
import os, re, sys

def anchors(path):
    """The anchors GitHub gives the headings of a page (code blocks skipped)."""
    seen, out, fenced = {}, set(), False
    for line in open(path, encoding="utf-8"):
        if line.startswith("```"):
            fenced = not fenced
        if fenced or not re.match(r"#{1,6} ", line):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out

def links(path):
    """(line number, target, anchor) of each inline link outside code."""
    fenced = False
    for no, line in enumerate(open(path, encoding="utf-8"), 1):
        if line.startswith("```"):
            fenced = not fenced
            continue
        if fenced:
            continue
        line = re.sub(r"`[^`]*`", "", line)  # inline code is not a link
        for m in re.finditer(r"\]\(([^()\s#]*)(?:#([^()\s]*))?\)", line):
            yield no, m.group(1), m.group(2)

passed = failed = 0
for page in sys.argv[1:]:
    broken = []
    for no, target, anchor in links(page):
        if re.match(r"[a-z]+:", target):  # http:, mailto: ...
            continue
        path = os.path.normpath(os.path.join(os.path.dirname(page), target)) if target else page
        if not os.path.exists(path):
            broken.append(f"{page}:{no}: {target} does not exist")
        elif anchor and path.endswith(".md") and anchor not in anchors(path):
            broken.append(f"{page}:{no}: {target or page} has no section #{anchor}")
    if broken:
        failed += 1
        print(f"FAIL {page}")
        for b in broken:
            print("  " + b)
    else:
        passed += 1
        print(f"PASS {page}")
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
