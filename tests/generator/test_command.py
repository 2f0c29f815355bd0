"""Methods run as a command: success, non-zero exit, time-out, no output, wrong size, shell
quoting, logs and provenance; shards, Ray and Ctrl-C (interrupted) with commands."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from stylestudy.cli import cli
from stylestudy.db import session_scope
from stylestudy.db.assets import load_pixels
from stylestudy.generator import manifest, runner
from stylestudy.generator.command import CommandSpec, render
from tests.generator.manifests import CLI, DEMO

#: a stand-in for a researcher's script: blends content and style, or misbehaves on demand
SCRIPT = '''
import argparse, os, sys, time
from PIL import Image
p = argparse.ArgumentParser()
for flag in ("--content", "--style", "--output", "--name", "--mode"):
    p.add_argument(flag)
p.add_argument("--seed", type=int)
p.add_argument("--size", type=int)
a = p.parse_args()
print(f"name=[{a.name}] seed={a.seed} size={a.size}")
print("stderr line for", a.mode, file=sys.stderr)
if a.mode == "fail":
    sys.exit(3)
if a.mode == "sleep":
    with open(os.environ["PID_FILE"] + ".tmp", "w") as fh:  # whole or absent for the test
        fh.write(str(os.getpid()))
    os.replace(os.environ["PID_FILE"] + ".tmp", os.environ["PID_FILE"])
    while not os.path.exists(os.environ["GO_FILE"]):
        time.sleep(0.05)
if a.mode == "nothing":
    sys.exit(0)
c = Image.open(a.content).convert("RGB")
w, h = c.size
size = (17, 17) if a.mode == "square" else (round(w * a.size / max(w, h)),
                                             round(h * a.size / max(w, h)))
s = Image.open(a.style).convert("RGB").resize(size)
Image.blend(c.resize(size), s, 0.5).save(a.output, format="PNG")
'''
ARGS = "--content {content} --style {style} --output {output} --seed {seed} --size {size}"
#: a content file name that breaks any unquoted use in a shell
ODD = "it's a $HOME file"


def setup_inputs(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(script folder with a space in its name, contents folder, styles folder)."""
    work = tmp_path / "my method"
    work.mkdir()
    (work / "my_st.py").write_text(SCRIPT)
    contents, styles = tmp_path / "contents", tmp_path / "styles"
    contents.mkdir()
    styles.mkdir()
    shutil.copy(DEMO / "contents" / "coffee.png", contents / f"{ODD}.png")
    shutil.copy(DEMO / "styles" / "ihc.png", styles / "ihc.png")
    return work, contents, styles


def entry(label: str, mode: str, **extra) -> dict:
    return {"name": "my-st", "label": label, "version": "0.3", "params": {"mode": mode},
            "cwd": "my method",
            "command": f"{sys.executable} my_st.py {ARGS} --name {{content_name}} "
                       "--mode {mode}", **extra}


def write(tmp_path: Path, methods: list, **over) -> Path:
    data = {"name": "cmd", "size": 48, "contents": ["contents"], "styles": ["styles"],
            "methods": methods, **over}
    path = tmp_path / "set.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def env_for(home: str, **extra) -> dict[str, str]:
    env = dict(os.environ, STYLESTUDY_HOME=home, PYTHONUNBUFFERED="1", **extra)
    env.pop("STYLESTUDY_DATABASE_URL", None)
    return env


def by_label(set_name: str = "cmd") -> dict:
    with session_scope() as s:
        return {g.method.label: (g.status, g.error, dict(g.provenance or {}),
                                 load_pixels(g.output) if g.output else None, g.output,
                                 g.device, g.wall_time_s)
                for g in runner.set_generations(set_name, s)}


def test_success_failures_and_logs_in_one_batch(home, tmp_path):
    work, _, _ = setup_inputs(tmp_path)
    shell = {"name": "my-st-sh", "label": "shell", "cwd": "my method", "shell": True,
             "env": {"PYBIN": sys.executable},
             "command": f'"$PYBIN" my_st.py {ARGS} --name {{content_name}} --mode ok '
                        "&& echo shell-was-here"}
    path = write(tmp_path, [entry("ok", "ok"), entry("fail", "fail"),
                            entry("slow", "sleep", timeout=2), entry("nothing", "nothing"),
                            entry("square", "square"), shell])
    res = subprocess.run([*CLI, "generate", str(path), "--no-progress"],
                         env=env_for(home, PID_FILE=str(tmp_path / "pid"),
                                     GO_FILE=str(tmp_path / "never")),
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 1, res.stderr  # failures: the set is not complete
    assert "Traceback" not in res.stderr
    assert "done 2, failed 4" in res.stdout
    gens = by_label()
    # success: the script's output, its log, the command line, exit code and hashes
    status, error, prov, image, asset, device, wall = gens["ok"]
    assert status == "done" and error is None and device is None and wall > 0
    cmd = prov["command"]
    assert cmd["exit_code"] == 0 and not cmd["timed_out"] and cmd["wall_time_s"] == wall
    assert cmd["argv"][:2] == [sys.executable, "my_st.py"]
    assert cmd["argv"][cmd["argv"].index("--name") + 1] == f"{ODD}.png"  # one argument
    assert cmd["line"].startswith(sys.executable) and "--mode ok" in cmd["line"]
    assert cmd["cwd"] == str(work) and cmd["timeout"] is None
    assert prov["method"] == {"name": "my-st", "version": "0.3", "label": "ok",
                              "params": {"mode": "ok"}, "params_hash": prov["method"][
                                  "params_hash"], "source": "command"}
    assert prov["seed"] == 0 and prov["size"] == 48 and prov["peak_memory_bytes"] > 0
    stdout = Path(home, cmd["stdout"]).read_text()
    assert stdout == f"name=[{ODD}.png] seed=0 size=48\n"
    assert Path(home, cmd["stderr"]).read_text() == "stderr line for ok\n"
    assert cmd["stdout"] == f"logs/generation-{gens_id('ok')}/attempt-1.stdout.log"
    assert image.shape == (32, 48, 3)  # coffee.png is 256×171: long side 48
    assert len(cmd["output_sha256"]) == 64 and asset.source_name is None
    # the shell entry quotes the odd name for the shell: it reaches the script intact
    status, _, prov, *_ = gens["shell"]
    assert status == "done"
    out = Path(home, prov["command"]["stdout"]).read_text()
    assert out == f"name=[{ODD}.png] seed=0 size=48\nshell-was-here\n"
    # non-zero exit: failed, with the exit code, the last stderr line and the log
    status, error, prov, image, *_ = gens["fail"]
    assert status == "failed" and image is None
    assert error.startswith("command exited with code 3: stderr line for fail (log: logs/")
    assert prov["command"]["exit_code"] == 3
    assert Path(home, prov["command"]["stderr"]).read_text() == "stderr line for fail\n"
    # time-out: killed, failed, the batch went on
    status, error, prov, *_ = gens["slow"]
    assert status == "failed" and "timed out after 2 s and was killed" in error
    assert prov["command"]["timed_out"] is True and prov["command"]["exit_code"] == -15
    if (tmp_path / "pid").exists():  # it got as far as writing its pid: it is gone now
        pid = int((tmp_path / "pid").read_text())
        assert not Path(f"/proc/{pid}").exists() or _zombie(pid)
    # exit 0 without an output file
    status, error, *_ = gens["nothing"]
    assert status == "failed" and "wrote no file at {output}" in error
    # a square output for a landscape content is wrongly sized
    status, error, *_ = gens["square"]
    assert status == "failed" and "is 17×17 px, expected 48×32" in error
    # --status lists each failure with its message; a re-run runs nothing again
    res = subprocess.run([*CLI, "generate", str(path), "--status"], env=env_for(home),
                         capture_output=True, text=True, timeout=120)
    assert res.stdout.count("FAILED") == 4 and "code 3" in res.stdout
    with session_scope() as s:
        assert runner.pending_ids("cmd") == []
        assert {g.attempts for g in runner.set_generations("cmd", s)} == {1}


def gens_id(label: str) -> int:
    with session_scope() as s:
        return next(g.id for g in runner.set_generations("cmd", s) if g.method.label == label)


def _finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[str, str]:
    """The runner's output once it exits; if it hangs, fail with where it waits (its Python
    stacks, dumped by faulthandler on SIGABRT) and the processes still running."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        ps = subprocess.run(["ps", "-eo", "pid,pgid,stat,args"], capture_output=True,
                            text=True).stdout
        os.kill(proc.pid, signal.SIGABRT)
        out, err = proc.communicate(timeout=30)
        pytest.fail(f"the runner did not exit within {timeout} s:\n{err}\n{ps}")


def _zombie(pid: int) -> bool:
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().rsplit(")", 1)[1].split()[0] == "Z"


def test_render_keeps_each_value_one_argument():
    odd = "a b'c\"d;$(rm -rf x)"
    spec = CommandSpec("prog --in {content} --tag=x{seed}y {output}", cwd="/")
    assert render(spec, {"content": odd, "seed": 7, "output": "o.png"}) == [
        "prog", "--in", odd, "--tag=x7y", "o.png"]
    shell = CommandSpec("prog {content} > {output}", cwd="/", shell=True)
    argv = render(shell, {"content": odd, "output": "o u.png"})
    assert argv[:2] == ["/bin/sh", "-c"]
    echoed = subprocess.run(["/bin/sh", "-c", argv[2].replace("prog", "printf '%s\\n'")
                             .replace(" > ", " ; echo ")], capture_output=True, text=True)
    assert echoed.stdout == f"{odd}\no u.png\n"


def test_outputs_equal_the_script_and_shards_split_the_work(home, tmp_path):
    setup_inputs(tmp_path)
    shutil.copy(DEMO / "styles" / "hubble.png", tmp_path / "styles" / "hubble.png")
    spec = manifest.load(write(tmp_path, [entry("ok", "ok")], seeds=[0, 1]))
    runner.plan(spec)
    parts = [runner.pending_ids("cmd", runner.Shard(i, 2)) for i in range(2)]
    assert sorted(parts[0] + parts[1]) == runner.pending_ids("cmd") and all(parts)
    for part in parts:
        tally = runner.run_local(part, runner.MethodCache("cpu"))
        assert tally == {"done": len(part), "failed": 0, "skipped": 0}
    with session_scope() as s:
        for g in runner.set_generations("cmd", s):
            content = Image.fromarray(load_pixels(g.content)).resize((48, 32))
            style = Image.fromarray(load_pixels(g.style)).resize((48, 32))
            want = np.asarray(Image.blend(content, style, 0.5))
            np.testing.assert_array_equal(load_pixels(g.output), want)
            assert g.provenance["command"]["output_sha256"] == hashlib.sha256(
                _png(want)).hexdigest()


def _png(pixels: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.slow
def test_ray_runs_commands_and_keeps_their_failures(home, tmp_path):
    from stylestudy.generator.ray_executor import run_ray

    setup_inputs(tmp_path)
    spec = manifest.load(write(tmp_path, [entry("ok", "ok"), entry("fail", "fail")]))
    runner.plan(spec)
    tally = run_ray("cmd", runner.pending_ids("cmd"), "cpu", show_progress=False)
    assert tally == {"done": 1, "failed": 1, "skipped": 0}
    gens = by_label()
    assert gens["ok"][2]["executor"]["kind"] == "ray"
    status, error, prov, *_ = gens["fail"]
    assert status == "failed" and error.startswith("command exited with code 3")
    assert Path(home, prov["command"]["stderr"]).read_text() == "stderr line for fail\n"


def test_ctrl_c_leaves_an_interrupted_generation_that_the_next_run_finishes(home, tmp_path):
    setup_inputs(tmp_path)
    path = write(tmp_path, [entry("slow", "sleep")])
    env = env_for(home, PID_FILE=str(tmp_path / "pid"), GO_FILE=str(tmp_path / "go"),
                  PYTHONFAULTHANDLER="1")
    status = CliRunner().invoke(cli, ["generate", str(path), "--status"])
    assert status.exit_code == 0, status.output  # before the first run
    assert "not generated yet; the manifest plans 1 generations" in status.output
    # as in a terminal's foreground job: SIGINT not ignored, whatever this test inherited
    # (a job started with `&` ignores SIGINT, and Python keeps an ignored SIGINT ignored)
    proc = subprocess.Popen([*CLI, "generate", str(path), "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.time() + 120
    while not (tmp_path / "pid").exists() and time.time() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "pid").read_text())
    os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in a terminal does
    out, err = _finish(proc)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert err.strip().endswith("interrupted"), err
    assert not Path(f"/proc/{child}").exists() or _zombie(child)  # the command went too
    status = CliRunner().invoke(cli, ["generate", str(path), "--status"])
    assert "interrupted 1  (their process is gone" in status.output
    # `kill` of the runner alone (SIGTERM): its command, in a group of its own, goes too
    (tmp_path / "pid").unlink()
    proc = subprocess.Popen([*CLI, "generate", str(path), "--no-progress"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (tmp_path / "pid").exists() and time.time() < deadline:
        time.sleep(0.05)
    child = int((tmp_path / "pid").read_text())
    proc.terminate()
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM and "Traceback" not in err, err
    assert not Path(f"/proc/{child}").exists() or _zombie(child)
    assert runner.set_counts("cmd")["interrupted"] == 1
    (tmp_path / "go").write_text("")
    rerun = subprocess.run([*CLI, "generate", str(path), "--no-progress"], env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert runner.set_counts("cmd")["done"] == 1


def test_a_command_asking_for_a_gpu_gets_one(tmp_path, monkeypatch):
    """Where a GPU goes: the local executor names it in CUDA_VISIBLE_DEVICES unless the
    environment already does (Ray sets it for a task's GPU); Ray reserves it."""
    from stylestudy.generator.command import execute
    from stylestudy.generator.ray_executor import job_resources

    assert runner.MethodCache("cuda:1").gpu_for(1) == 1
    assert runner.MethodCache("cpu").gpu_for(1) is None
    assert runner.MethodCache("cuda:1").gpu_for(0) is None
    (tmp_path / "env.py").write_text(
        "import os, sys, shutil\nprint(os.environ.get('CUDA_VISIBLE_DEVICES'))\n"
        "shutil.copy(sys.argv[1], sys.argv[2])\n")
    spec = CommandSpec(f"{sys.executable} env.py {{content}} {{output}}", str(tmp_path),
                       gpus=1)
    pixels = np.zeros((4, 6, 3), np.uint8)
    kwargs = dict(content=pixels, style=pixels, seed=0, shape=(4, 6), params={},
                  content_name="a.png", style_name="b.png")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert execute(spec, gpu=3, **kwargs)[1]["stdout"] == "3\n"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5")
    assert execute(spec, gpu=3, **kwargs)[1]["stdout"] == "5\n"
    job = runner.Job(1, "x", {}, "x", None, pixels, pixels, 0, None, {},
                     command=spec.to_json())
    assert job_resources(job, "auto", 8) == {"num_cpus": 1, "num_gpus": 1}
    assert job_resources(job, "cpu", 8) == {"num_cpus": 1, "num_gpus": 0}
