#!/usr/bin/env python3
"""Checks deploy/container/Dockerfile without a container engine.

What it proves: the file splits into instructions the way Docker's parser
splits it (comments, line continuations), every instruction is one Docker
knows, the first is FROM, every JSON (exec) form is a JSON array of strings
(a malformed one would silently run through a shell), a COPY of several
sources goes to a directory; every COPY source matches exactly one file of
the build context, here the packages scripts/package.sh just built; the
files copied are installed by a RUN; and the entry point is a command those
packages install.

What it does not prove: that the base image can be pulled, that apt-get
succeeds inside it, or that the image runs. The package test installs the
same packages with the same apt-get command on this machine instead.

Usage: check_dockerfile.py DOCKERFILE CONTEXT_DIR
"""

import fnmatch
import json
import pathlib
import shlex
import subprocess
import sys

INSTRUCTIONS = {
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL",
    "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
}
EXEC_FORMS = {"CMD", "ENTRYPOINT", "RUN", "SHELL"}


def instructions(text):
    """(line number, KEYWORD, arguments) for each instruction, as Docker reads them."""
    result, pending, start = [], "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.lstrip().startswith("#"):
            continue  # comments, parser directives included, even inside a continuation
        if not pending and not line.strip():
            continue
        if not pending:
            start = number
        stripped = line.rstrip()
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        pending += line
        keyword, _, arguments = pending.strip().partition(" ")
        result.append((start, keyword.upper(), arguments.strip()))
        pending = ""
    if pending:
        result.append((start, "<unterminated continuation>", pending))
    return result


def packaged_commands(context):
    """The commands in /usr/bin of every package in CONTEXT."""
    commands = set()
    for deb in sorted(context.glob("*.deb")):
        listing = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(deb)], capture_output=True, check=True).stdout
        names = subprocess.run(["tar", "-t"], input=listing, capture_output=True, check=True).stdout.decode()
        commands.update(name[len("./usr/bin/"):] for name in names.split()
                        if name.startswith("./usr/bin/") and name != "./usr/bin/")
    return commands


def main(dockerfile, context):
    problems, copied = [], []
    parsed = instructions(dockerfile.read_text())
    if not parsed:
        problems.append("no instruction at all")
    keywords = [keyword for _, keyword, _ in parsed if keyword != "ARG"]
    if keywords and keywords[0] != "FROM":
        problems.append(f"the first instruction is {keywords[0]}, not FROM")
    entrypoint = None
    for line, keyword, arguments in parsed:
        where = f"{dockerfile.name}:{line} {keyword}"
        if keyword not in INSTRUCTIONS:
            problems.append(f"{where}: not a Dockerfile instruction")
            continue
        if not arguments:
            problems.append(f"{where}: no arguments")
            continue
        exec_form = None
        if keyword in EXEC_FORMS and arguments.startswith("["):
            try:
                exec_form = json.loads(arguments)
            except json.JSONDecodeError as error:
                problems.append(f"{where}: not valid JSON ({error}); Docker would run it through a shell")
                continue
            if not isinstance(exec_form, list) or not all(isinstance(item, str) for item in exec_form):
                problems.append(f"{where}: the exec form must be a JSON array of strings")
                continue
        if keyword == "ENTRYPOINT":
            entrypoint = exec_form[0] if exec_form else shlex.split(arguments)[0]
        if keyword in ("COPY", "ADD"):
            words = shlex.split(arguments)
            flags = [word for word in words if word.startswith("--")]
            paths = [word for word in words if not word.startswith("--")]
            if len(paths) < 2:
                problems.append(f"{where}: needs a source and a destination")
                continue
            *sources, destination = paths
            if len(sources) > 1 and not destination.endswith("/"):
                problems.append(f"{where}: several sources need a destination ending in /")
            if any(flag.startswith("--from") for flag in flags):
                continue
            for source in sources:
                matches = [path.name for path in context.iterdir() if fnmatch.fnmatch(path.name, source)]
                if len(matches) != 1:
                    problems.append(f"{where}: {source} matches {len(matches)} files of {context} "
                                    f"({', '.join(sorted(matches)) or 'none'}), not one")
            copied.append(destination)
    runs = " ".join(arguments for _, keyword, arguments in parsed if keyword == "RUN")
    for destination in copied:
        if destination.rstrip("/") not in runs:
            problems.append(f"nothing RUN uses what is copied to {destination}")
    commands = packaged_commands(context)
    if entrypoint is None:
        problems.append("no ENTRYPOINT")
    elif pathlib.PurePath(entrypoint).name not in commands:
        problems.append(f"the entry point {entrypoint} is not a command of the packages "
                        f"({', '.join(sorted(commands)) or 'none'})")

    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if problems:
        return 1
    print(f"{dockerfile}: {len(parsed)} instructions; COPY sources and entry point {entrypoint} "
          f"match the packages in {context}")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__.strip().splitlines()[-1])
    sys.exit(main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])))
