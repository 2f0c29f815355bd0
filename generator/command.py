"""Methods run as a command: one process per generation, in any language or environment.

A manifest entry with ``command:`` names a command line with placeholders; for each
generation the runner writes the inputs as PNG files, fills the placeholders, runs the
process (no shell unless ``shell: true``) and reads the image it wrote at ``{output}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shlex
import shutil
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stylestudy.errors import UserError
from stylestudy.generator.sizing import WrongSize, fit_to_shape

#: placeholders every command may use (besides its own parameters)
PLACEHOLDERS = ("content", "style", "output", "seed", "size", "height", "width",
                "content_name", "style_name")
FIELD = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
#: the tail of each of stdout and stderr that is kept (bytes)
LOG_LIMIT = 1 << 20
#: after a time-out, SIGTERM; the process group gets SIGKILL this long after
KILL_GRACE_S = 5.0
_POLL_S = 0.02


class CommandFailed(Exception):
    """A non-zero exit, a time-out, or no readable output: ``record`` says what ran."""

    def __init__(self, message: str, record: dict[str, Any]):
        super().__init__(message, record)
        self.message, self.record = message, record

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CommandSpec:
    """A command line template and how to run it (``cwd`` absolute)."""

    template: str
    cwd: str
    shell: bool = False
    env: dict[str, str] = field(default_factory=dict)
    timeout: float | None = None
    gpus: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"template": self.template, "cwd": self.cwd, "shell": self.shell,
                "env": dict(self.env), "timeout": self.timeout, "gpus": self.gpus}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CommandSpec:
        return cls(data["template"], data["cwd"], bool(data.get("shell")),
                   dict(data.get("env") or {}), data.get("timeout"), int(data.get("gpus", 0)))

    def identity(self) -> dict[str, Any]:
        """What makes two commands the same method: the template and how it is parsed."""
        return {"command": self.template, "shell": self.shell}


def parse_spec(where: str, entry: dict[str, Any], base: Path,
               param_names: set[str]) -> CommandSpec:
    """Validate a manifest entry's ``command``, ``cwd``, ``env``, ``timeout``, ``shell`` and
    ``gpus``; ``base`` is the manifest's folder. Problems raise ``UserError``."""
    template = entry["command"]
    if not isinstance(template, str) or not template.strip():
        raise UserError(f"{where}: 'command' must be a non-empty string")
    shell = entry.get("shell", False)
    if not isinstance(shell, bool):
        raise UserError(f"{where}: 'shell' must be true or false")
    allowed = set(PLACEHOLDERS) | param_names
    unknown = sorted({name for name in FIELD.findall(template)} - allowed)
    if unknown:
        raise UserError(f"{where}: unknown placeholder {{{unknown[0]}}} in 'command' "
                        f"(allowed: {', '.join('{' + n + '}' for n in sorted(allowed))})")
    if "{output}" not in template:
        raise UserError(f"{where}: 'command' must name {{output}}, the file it writes")
    cwd = (base / str(entry.get("cwd", "."))).resolve()
    if not cwd.is_dir():
        raise UserError(f"{where}: 'cwd' {entry.get('cwd')!r} is not a folder")
    env = entry.get("env") or {}
    if not isinstance(env, dict) or not all(
            isinstance(k, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k)
            and isinstance(v, str | int | float | bool) for k, v in env.items()):
        raise UserError(f"{where}: 'env' must map variable names to strings or numbers")
    env = {k: str(v) for k, v in env.items()}
    timeout = entry.get("timeout")
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(
            timeout, int | float) or timeout <= 0):
        raise UserError(f"{where}: 'timeout' must be a positive number of seconds")
    gpus = entry.get("gpus", 0)
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 0:
        raise UserError(f"{where}: 'gpus' must be a non-negative integer")
    if not shell:
        try:
            argv = shlex.split(template)
        except ValueError as exc:
            raise UserError(f"{where}: cannot split 'command' into arguments: {exc}") from None
        program = argv[0]
        if not FIELD.search(program) and _find_program(program, cwd, env) is None:
            raise UserError(f"{where}: program {program!r} of 'command' not found "
                            f"(in {cwd} or on PATH)")
    return CommandSpec(template, str(cwd), shell, env, None if timeout is None
                       else float(timeout), gpus)


def _find_program(program: str, cwd: Path, env: dict[str, str]) -> str | None:
    if "/" in program:
        path = cwd / program
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    return shutil.which(program, path=env.get("PATH", os.environ.get("PATH")))


def render(spec: CommandSpec, values: dict[str, Any]) -> list[str]:
    """The argv for one generation: each placeholder becomes exactly one argument's text
    (or a ``shlex.quote``-d word inside a shell line), whatever its characters."""

    def fill(text: str, quote) -> str:
        return FIELD.sub(lambda m: quote(str(values[m[1]])) if m[1] in values else m[0], text)

    if spec.shell:
        return ["/bin/sh", "-c", fill(spec.template, shlex.quote)]
    return [fill(token, str) for token in shlex.split(spec.template)]


def _write_png(path: Path, pixels: np.ndarray) -> None:
    from stylestudy.db.assets import encode_png

    path.write_bytes(encode_png(pixels))


def _tail(path: Path) -> str:
    size = path.stat().st_size if path.exists() else 0
    if size == 0:
        return ""
    with open(path, "rb") as fh:
        if size > LOG_LIMIT:
            fh.seek(size - LOG_LIMIT)
        data = fh.read()
    text = data.decode("utf-8", errors="replace")
    return f"[... {size - LOG_LIMIT} bytes cut ...]\n{text}" if size > LOG_LIMIT else text


def _reap(pid: int, deadline: float | None) -> tuple[int, Any] | None:
    """Wait for ``pid`` until ``deadline`` (monotonic; None: forever): (status, rusage)."""
    while True:
        done, status, usage = os.wait4(pid, os.WNOHANG)
        if done == pid:
            return status, usage
        if deadline is not None and time.monotonic() >= deadline:
            return None
        time.sleep(_POLL_S)


def _kill_group(pid: int) -> tuple[int, Any]:
    """SIGTERM the command's process group, SIGKILL it after a grace period; reap."""
    for sig, grace in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sig)
        reaped = _reap(pid, None if grace is None else time.monotonic() + grace)
        if reaped is not None:
            with contextlib.suppress(ProcessLookupError):  # and what it left in its group
                os.killpg(pid, signal.SIGKILL)
            return reaped
    raise AssertionError("unreachable")


def spawn(argv: list[str], cwd: str, env: dict[str, str], stdout: Path, stderr: Path,
          timeout: float | None) -> tuple[int, bool, int | None]:
    """Run argv in its own process group: (exit code, timed out, peak RSS bytes).

    A time-out, a Ctrl-C or a SIGTERM of the runner here ends the whole group (children of
    a shell too): the command never outlives the runner that waits for it.
    """
    import subprocess
    import threading

    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=err, start_new_session=True)
    timed_out = False
    ours = threading.current_thread() is threading.main_thread()
    if ours:
        previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        reaped = _reap(proc.pid, None if timeout is None else time.monotonic() + timeout)
        if reaped is None:
            timed_out = True
            reaped = _kill_group(proc.pid)
    except BaseException:  # Ctrl-C or SIGTERM: the command goes with its runner
        with contextlib.suppress(ChildProcessError):
            _kill_group(proc.pid)
        proc.returncode = -1
        raise
    finally:
        if ours:
            signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)
    status, usage = reaped
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, timed_out, int(usage.ru_maxrss) * 1024


def _terminated(signum, frame):
    raise SystemExit(128 + signum)


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return f": {lines[-1][:300]}" if lines else ""


def execute(spec: CommandSpec, *, content: np.ndarray, style: np.ndarray, seed: int,
            shape: tuple[int, int], params: dict[str, Any], content_name: str,
            style_name: str, gpu: int | None = None) -> tuple[np.ndarray, dict[str, Any]]:
    """Run the command for one generation: the output (fitted to ``shape``) and a record of
    what ran. Anything short of a readable, right-sized output raises ``CommandFailed``."""
    from PIL import Image, UnidentifiedImageError

    with tempfile.TemporaryDirectory(prefix="stylestudy-command-") as tmp:
        work = Path(tmp)
        files = {"content": work / "content.png", "style": work / "style.png",
                 "output": work / "output.png"}
        _write_png(files["content"], content)
        _write_png(files["style"], style)
        values = {**params, **{k: str(v) for k, v in files.items()}, "seed": seed,
                  "size": max(shape), "height": shape[0], "width": shape[1],
                  "content_name": content_name, "style_name": style_name}
        argv = render(spec, values)
        env = {**os.environ, **spec.env}
        if gpu is not None and "CUDA_VISIBLE_DEVICES" not in env:
            env["CUDA_VISIBLE_DEVICES"] = str(gpu)
        t0 = time.perf_counter()
        try:
            code, timed_out, peak = spawn(argv, spec.cwd, env, work / "stdout.log",
                                          work / "stderr.log", spec.timeout)
        except OSError as exc:  # e.g. the program vanished, or is not executable
            raise CommandFailed(f"command could not start: {exc}",
                                {"argv": argv, **spec.to_json()}) from None
        record: dict[str, Any] = {
            "argv": argv, "line": argv[2] if spec.shell else shlex.join(argv),
            **spec.to_json(), "exit_code": code, "timed_out": timed_out,
            "wall_time_s": time.perf_counter() - t0, "peak_rss_bytes": peak,
            "stdout": _tail(work / "stdout.log"), "stderr": _tail(work / "stderr.log")}
        if timed_out:
            raise CommandFailed(f"command timed out after {spec.timeout:g} s and was killed",
                                record)
        if code != 0:
            raise CommandFailed(f"command {_exit_text(code)}{_last_line(record['stderr'])}",
                                record)
        if not files["output"].is_file():
            raise CommandFailed("command exited with code 0 but wrote no file at {output}",
                                record)
        data = files["output"].read_bytes()
        record["output_sha256"] = hashlib.sha256(data).hexdigest()
        try:
            with Image.open(io.BytesIO(data)) as im:
                image = np.asarray(im.convert("RGB"))
        except UnidentifiedImageError:
            raise CommandFailed("the command's output is not an image format Pillow can "
                                "read", record) from None
        except (OSError, SyntaxError, ValueError) as exc:
            raise CommandFailed(f"the command's output is not a readable image: {exc}",
                                record) from None
        try:
            image, resized_from = fit_to_shape(image, shape)
        except WrongSize as exc:
            raise CommandFailed(f"the command's output {exc}", record) from None
        record["output_resized_from"] = resized_from
        return image, record
