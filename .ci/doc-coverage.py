#!/usr/bin/env python3
"""Fails when a public or open declaration of a module has no doc comment of its own.

Reads the symbol graphs a Swift build wrote with -emit-symbol-graph (the module's
own graph, and the graphs of its extensions to other modules' types) and lists
every symbol that:
  - is declared in the module's sources (it has a source location: members the
    compiler makes up, such as a raw-value enum's init(rawValue:), have none and
    cannot carry a comment), and is not a member the graph copied in from a
    protocol's default implementation or a superclass (their identifiers say
    ::SYNTHESIZED::; the original is checked where it is declared);
  - and has no doc comment, or only one inherited from another module (a
    `description` that says nothing but what CustomStringConvertible says).

With --landing-page FILE it also lists every top-level public declaration of
the module (a type, a top-level function) that FILE's Topics do not curate as
``Name``, so a new type cannot slip into docc's catch-all groups unnoticed.

Usage: doc-coverage.py --module NAME [--landing-page FILE] GRAPH_DIR
"""
import argparse
import json
import pathlib
import re
import sys


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--module", required=True)
    parser.add_argument("--landing-page", type=pathlib.Path)
    parser.add_argument("graphs", type=pathlib.Path)
    args = parser.parse_args()

    files = sorted(args.graphs.glob(f"{args.module}.symbols.json")) + sorted(
        args.graphs.glob(f"{args.module}@*.symbols.json"))
    if not files:
        print(f"doc-coverage: no symbol graph for {args.module} in {args.graphs}", file=sys.stderr)
        return 1

    checked = 0
    missing = []
    top_level = set()
    for path in files:
        graph = json.loads(path.read_text())
        own_graph = path.name == f"{args.module}.symbols.json"
        for symbol in graph["symbols"]:
            if symbol.get("accessLevel") not in ("public", "open"):
                continue
            if "::SYNTHESIZED::" in symbol["identifier"]["precise"]:
                continue
            location = symbol.get("location")
            if location is None:
                continue
            checked += 1
            if own_graph and len(symbol["pathComponents"]) == 1:
                top_level.add(symbol["pathComponents"][0])
            comment = symbol.get("docComment")
            own = comment is not None and comment.get("module", args.module) == args.module
            text = "".join(line.get("text", "") for line in comment.get("lines", [])) if comment else ""
            if own and text.strip():
                continue
            uri = location.get("uri", "")
            file = uri.split("/Sources/", 1)[-1] if "/Sources/" in uri else uri
            line = location.get("position", {}).get("line", 0) + 1
            name = ".".join(symbol["pathComponents"])
            missing.append(f"Sources/{file}:{line}: {symbol['kind']['displayName'].lower()} {name}")

    if missing:
        print(f"doc-coverage: {len(missing)} of {checked} public declarations of {args.module} "
              "have no doc comment of their own:", file=sys.stderr)
        for entry in sorted(missing):
            print(f"  {entry}", file=sys.stderr)
        print("Give each one a summary sentence (then units, throws, thread, the C call).", file=sys.stderr)
        return 1
    print(f"doc-coverage: all {checked} public declarations of {args.module} have a doc comment")

    if args.landing_page is not None:
        curated = set(re.findall(r"^\s*-\s*``([^`]+)``", args.landing_page.read_text(), re.MULTILINE))
        uncurated = sorted(top_level - curated)
        if uncurated:
            print(f"doc-coverage: {len(uncurated)} top-level declarations of {args.module} are not in a topic "
                  f"group of {args.landing_page}:", file=sys.stderr)
            for name in uncurated:
                print(f"  ``{name}``", file=sys.stderr)
            print("Add each one under the Topics heading that fits (or a new one).", file=sys.stderr)
            return 1
        print(f"doc-coverage: all {len(top_level)} top-level declarations are curated in {args.landing_page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
