#!/usr/bin/env python3
"""docs/api-reference.md from include/rampart.h: every section, and in it every declaration
(function, type, constant) with the comment written above it, in the header's order.

    scripts/make_api_reference.py [HEADER] [OUT]     (defaults: include/rampart.h, docs/api-reference.md)
    scripts/make_api_reference.py --check            exit 1 when OUT differs from what HEADER gives

The header's comments are the reference; this page only arranges them (tests/cli_api_reference.sh
keeps it current). Standard library only."""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
SECTION = re.compile(r"/\*\s*-{3,}\s*(.+?)\s*-{3,}")
NAME = re.compile(r"\b(rp_[a-z0-9_]+|RP_[A-Z0-9_]+)\b")


def uncomment(lines):
    """The text of a /* ... */ block, without its markers and leading stars."""
    text = "\n".join(lines)
    text = re.sub(r"^\s*/\*+", "", text)
    text = re.sub(r"\*+/\s*$", "", text)
    out = [re.sub(r"^\s*\* ?", "", l) for l in text.split("\n")]
    return "\n".join(out).strip()


def declarations(src):
    """(kind, payload) items: ("section", title, intro) or ("decl", comment, code)."""
    lines = src.split("\n")
    i, comment, items = 0, None, []
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if s.startswith("/*"):
            block = [line]
            while "*/" not in lines[i]:
                i += 1
                block.append(lines[i])
            i += 1
            m = SECTION.match(block[0].strip())
            if m:
                intro = uncomment([""] + block[1:]) if len(block) > 1 else ""
                items.append(("section", m.group(1), intro))
                comment = None
            else:
                comment = uncomment(block)
            continue
        if not s or s.startswith(("#include", "#ifndef RAMPART_H", "#define RAMPART_H", "#ifdef __cplusplus",
                                  "#endif", "extern \"C\"", "}", "#if")):
            i += 1  # a blank line keeps the comment above it for the declaration below
            continue
        # a declaration: up to the ';' that ends it at brace depth 0 (a #define is one line)
        code, depth = [], 0
        while True:
            code.append(lines[i])
            depth += lines[i].count("{") - lines[i].count("}")
            if lines[i].lstrip().startswith("#define") or (depth == 0 and lines[i].rstrip().endswith(";")):
                break
            i += 1
        i += 1
        # consecutive declarations without a blank line or comment between share the comment
        while i < len(lines) and lines[i].strip() and not lines[i].strip().startswith("/*") and \
                (lines[i].lstrip().startswith("#define") == code[0].lstrip().startswith("#define")) and \
                not lines[i].lstrip().startswith(("#endif", "}")):
            start = i
            depth = 0
            while True:
                depth += lines[i].count("{") - lines[i].count("}")
                if lines[i].lstrip().startswith("#define") or (depth == 0 and lines[i].rstrip().endswith(";")):
                    break
                i += 1
            code.extend(lines[start:i + 1])
            i += 1
        items.append(("decl", comment, "\n".join(code)))
        comment = None
    return items


def declared_names(code):
    """What a declaration declares: a typedef's name, a #define's, an anonymous enum's members,
    each function's name (the first rp_ name before a parenthesis in its statement)."""
    names, stmts, cur, depth = [], [], "", 0
    for line in code.split("\n"):  # statements: ';' at brace depth 0, or a #define line
        if line.lstrip().startswith("#define"):
            stmts.append(line)
            continue
        for ch in line + "\n":
            cur += ch
            depth += (ch == "{") - (ch == "}")
            if ch == ";" and depth == 0:
                stmts.append(cur)
                cur = ""
    for stmt in stmts:
        st = re.sub(r"/\*.*?\*/", "", stmt, flags=re.S).strip()
        if not st:
            continue
        if st.startswith("#define"):
            names.append(st.split()[1])
        elif st.startswith("typedef"):
            names.append(re.findall(r"\b(rp_[a-z0-9_]+)\b", st)[-1])
        elif st.startswith("enum"):
            names += re.findall(r"\b(RP_[A-Z0-9_]+)\s*=", st)
        else:
            m = re.search(r"\b(rp_[a-z0-9_]+)\s*\(", st)
            if m:
                names.append(m.group(1))
    return list(dict.fromkeys(names))


def render(header):
    items = declarations(header.read_text())
    out = ["# API reference", "",
           f"Generated from `include/rampart.h` by `scripts/make_api_reference.py`; do not edit. The "
           "header's comments are the reference: each declaration below is followed by what the "
           "header says about it. `docs/api.md` is the map (groups, ownership, errors, the examples).",
           ""]
    toc = [title for kind, title, *_ in items if kind == "section"]
    out += ["Sections: " + " · ".join(f"[{t}](#{re.sub(r'[^a-z0-9 -]', '', t.lower()).replace(' ', '-')})"
                                        for t in toc), ""]
    for kind, a, b in items:
        if kind == "section":
            out += [f"## {a}", ""]
            if b:
                out += [b, ""]
            continue
        title = ", ".join(f"`{n}`" for n in declared_names(b)) or "declaration"
        out += [f"### {title}", "", "```c", b.strip("\n"), "```", ""]
        if a:
            out += [a, ""]
    return "\n".join(out).rstrip() + "\n"


def main(argv):
    check = "--check" in argv
    args = [a for a in argv if a != "--check"]
    header = pathlib.Path(args[0]) if args else ROOT / "include" / "rampart.h"
    target = pathlib.Path(args[1]) if len(args) > 1 else ROOT / "docs" / "api-reference.md"
    text = render(header)
    if check:
        if not target.exists() or target.read_text() != text:
            sys.stderr.write(f"{target} is not what {header} gives: run scripts/make_api_reference.py\n")
            return 1
        return 0
    target.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
