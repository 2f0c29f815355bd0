"""The documentation stands alone: nothing cites a file outside the repository, every
``docs/…md`` it names exists (with the quoted heading, where one is quoted), and no page
names a path of a particular machine."""

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: what is read: code, tests, docs and the build files
SUFFIXES = {".py", ".md", ".toml", ".cfg", ".ini", ".yaml", ".yml", ".txt", ".html", ".js",
            ".sh", ".tex"}
NAMES = {"Makefile"}

#: files of the spec set the project started from, which are not in the repository (each
#: pattern spelt with a character class, so that this file does not itself name them)
OUTSIDE = [
    re.compile(r"crowd[-]protocol"),
    re.compile(r"\bspec[s]/"),
    re.compile(r"\bDESIGN[.]md"),
    re.compile(r"\bDEVELOPERS[.]md"),
    re.compile(r"ssim[_]vectors"),
    re.compile(r"(?<![\w-])share[d]/"),
    re.compile(r"(?<![\w/-])(egsc-it|strotss|analysis|weights)[.]md"),
    re.compile(r"\bthe spec(?:'s)?[ ]§"),
    re.compile(r"\bspec[ ]§"),
]

#: paths of one machine that must not reach the docs
MACHINE = re.compile(r"(?<![\w.])/(?:work|root|home/\w+|tmp/pytest)\b")

DOC_PATH = re.compile(r"\bdocs/([\w.-]+\.md)")
#: a citation with its heading: docs/x.md, "Heading" (or 'Heading')
CITATION = re.compile(r"\bdocs/([\w.-]+\.md),? (?:section )?[\"'“‘]([^\"'”’]+)[\"'”’]")


def _files():
    try:
        out = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
        paths = [ROOT / line for line in out.splitlines()]
    except (OSError, subprocess.CalledProcessError):
        paths = [p for p in ROOT.rglob("*")
                 if not {".git", ".venv", "node_modules"} & set(p.relative_to(ROOT).parts)]
    for path in sorted(paths):
        rel = path.relative_to(ROOT).as_posix()
        if not path.is_file() or rel == "tests/test_docs.py":
            continue
        if path.suffix in SUFFIXES or path.name in NAMES:
            yield rel, path.read_text(encoding="utf-8", errors="replace").splitlines()


def _headings(name):
    path = ROOT / "docs" / name
    return [line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")]


def test_files_are_found():
    rels = {rel for rel, _ in _files()}
    assert {"README.md", "Makefile", "pyproject.toml", "docs/analysis.md"} <= rels
    assert any(rel.startswith("analysis/") for rel in rels)


def test_nothing_cites_a_file_outside_the_repository():
    found = [f"{rel}:{i}: {line.strip()}"
             for rel, lines in _files() for i, line in enumerate(lines, 1)
             if any(p.search(line) for p in OUTSIDE)]
    assert not found, "references to files outside the repository:\n" + "\n".join(found)


def test_every_docs_path_exists_with_its_heading():
    missing = []
    for rel, lines in _files():
        for i, line in enumerate(lines, 1):
            for name in DOC_PATH.findall(line):
                if not (ROOT / "docs" / name).is_file():
                    missing.append(f"{rel}:{i}: docs/{name} does not exist")
            for name, heading in CITATION.findall(line):
                if (ROOT / "docs" / name).is_file() and not any(
                        h == heading or h.startswith((heading + " ", heading + ":"))
                        for h in _headings(name)):
                    missing.append(f"{rel}:{i}: no heading {heading!r} in docs/{name}")
    assert not missing, "\n".join(missing)


def test_docs_name_no_path_of_this_machine():
    found = [f"{rel}:{i}: {line.strip()}"
             for rel, lines in _files() if rel.endswith(".md") or rel == "Makefile"
             for i, line in enumerate(lines, 1) if MACHINE.search(line)]
    assert not found, "machine paths in the docs:\n" + "\n".join(found)


def test_the_checks_catch_what_they_look_for():
    # "|" keeps each example from being a citation in this file; it is removed to test
    for marked in ("see crowd-|protocol.md §3.1", "(``spec|s/strotss|.md`` §1.5)", "DESIGN|.md",
                   "analysis|.md §9", "spec ``egsc-it|.md`` §2", "../share|d/x",
                   "the spec's| §3.3"):
        bad = marked.replace("|", "")
        assert any(p.search(bad) for p in OUTSIDE), bad
    for good in ("docs/analysis.md, \"Per pair\"", "docs/methods-strotss.md",
                 "docs/methods-egsc-it.md", "docs/weights.md", "a shared encoder"):
        assert not any(p.search(good) for p in OUTSIDE), good
    assert MACHINE.search("run /work/main/.venv/bin/pytest")
    assert not MACHINE.search("~/.cache/stylestudy/weights and docs/work/x")
    assert CITATION.findall('docs/study-protocol.md, "Completion codes"') == [
        ("study-protocol.md", "Completion codes")]


FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(*languages):
    """(file, language, text) of every fenced block in README.md and docs/*.md."""
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for lang, text in FENCE.findall(path.read_text(encoding="utf-8")):
            if lang in languages:
                yield path.relative_to(ROOT).as_posix(), lang, text


def _imports(code):
    """The import statements at the top level of a Python snippet."""
    import ast

    tree = ast.parse(code)
    return [ast.get_source_segment(code, node) for node in tree.body
            if isinstance(node, ast.Import | ast.ImportFrom)]


def test_python_snippets_import_as_written():
    failed, seen = [], 0
    for rel, _, code in _blocks("python"):
        for statement in _imports(code):
            seen += 1
            try:
                exec(compile(statement, rel, "exec"), {})
            except Exception as exc:  # any failure is a finding; its text says which
                failed.append(f"{rel}: {statement!r}: {type(exc).__name__}: {exc}")
    assert seen >= 3
    assert not failed, "\n".join(failed)


def _commands():
    """(file, argv) of every ``stylestudy …`` and ``make …`` line of the shell blocks."""
    import shlex

    for rel, _, text in _blocks("sh", "bash", "console"):
        for line in re.sub(r"\\\n\s*", " ", text).splitlines():
            line = line.strip().removeprefix("$ ")
            if line.startswith(("stylestudy ", "make ")):
                yield rel, shlex.split(line, comments=True)


def _resolve(argv):
    """What is wrong with ``stylestudy ARGV`` (command names and option names), or None."""
    import click

    from stylestudy.cli import cli

    command, options, args = cli, set(), list(argv)
    while True:
        options |= {o for p in command.params for o in (*p.opts, *p.secondary_opts)}
        options |= {"-h", "--help"}
        if not isinstance(command, click.Group):
            break
        name = next((a for a in args if not a.startswith("-")), None)
        if name is None:
            break
        if name not in command.commands:
            return f"no command {name!r} in {command.name!r}"
        args = args[args.index(name) + 1:]
        command = command.commands[name]
    unknown = [a.split("=")[0] for a in argv if a.startswith("-") and a.split("=")[0]
               not in options]
    return f"unknown options {unknown}" if unknown else None


def test_shell_commands_name_existing_commands_and_options():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    wrong, seen = [], 0
    for rel, argv in _commands():
        seen += 1
        if argv[0] == "make":
            wrong += [f"{rel}: make {t}: no such target" for t in argv[1:]
                      if not re.search(rf"^{re.escape(t)}:", makefile, re.M)]
        elif problem := _resolve(argv[1:]):
            wrong.append(f"{rel}: {' '.join(argv)}: {problem}")
    assert seen >= 20
    assert not wrong, "\n".join(wrong)


def test_the_command_check_catches_what_it_looks_for():
    assert _resolve(["generate", "set.yaml", "--status"]) is None
    assert _resolve(["set", "show", "my-set"]) is None
    assert "no command" in _resolve(["no-such-command"])
    assert "no command" in _resolve(["set", "no-such-sub"])
    assert "unknown options" in _resolve(["generate", "set.yaml", "--no-such-option"])
