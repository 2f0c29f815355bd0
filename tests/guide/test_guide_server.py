"""The editor's HTTP side over loopback: the one-time token, Host, Origin and CSRF checks,
hostile uploads refused with nothing written, existing guides read back, the admin area
(sign-in, the manifest root), previews that fail, and the command's refusals."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import numpy as np
import pytest
import requests
from PIL import Image
from werkzeug.serving import make_server

from stylestudy.generator.guide_manifest import PALETTE
from stylestudy.study_server.guide.views import create_local_app, local_url
from stylestudy.study_server.ops.simulate import local_server
from stylestudy.study_server.web.admin import set_admin_password
from tests.guide.guide_helpers import MANIFEST, make_project

COLOURS = [list(c) for _, c in PALETTE]
C_SHAPE, S_SHAPE = (170, 256), (200, 200)


@contextmanager
def serving(app):
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_port
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture
def project(tmp_path):
    return make_project(tmp_path / "project")


@pytest.fixture
def editor(home, project):
    """A signed-in session on the local editor: (session, base URL, CSRF token)."""
    app = create_local_app(project)
    with serving(app) as port:
        url = local_url(app, port)
        s = requests.Session()
        r = s.get(url)
        assert r.status_code == 200 and "guide.js" in r.text
        token = re.search(r'data-csrf="([^"]+)"', r.text).group(1)
        yield s, f"http://127.0.0.1:{port}", token, url


def halves(shape, vertical: bool) -> np.ndarray:
    lab = np.ones(shape, np.uint8)
    if vertical:
        lab[:, shape[1] // 2:] = 2
    else:
        lab[shape[0] // 2:] = 2
    return lab


def form(labels=None, **meta):
    labels = labels or {"content_regions": halves(C_SHAPE, True),
                        "style_regions": halves(S_SHAPE, False)}
    body = {"colours": COLOURS, "points": [], "encoding": "gzip", **meta}
    files = {k: (k, gzip.compress(v.tobytes()) if body["encoding"] == "gzip" else v.tobytes())
             for k, v in labels.items()}
    return {"data": {"meta": json.dumps(body)}, "files": files}


def test_the_token_works_once_and_the_session_guards_everything(home, project):
    app = create_local_app(project)
    with serving(app) as port:
        url = local_url(app, port)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/?token=wrong").status_code == 403
        assert requests.get(f"{base}/state").status_code == 403
        s = requests.Session()
        first = s.get(url, allow_redirects=False)
        assert first.status_code == 302 and first.headers["Location"] == "/"
        assert "HttpOnly" in first.headers["Set-Cookie"]
        assert "SameSite=Strict" in first.headers["Set-Cookie"]
        assert requests.get(url).status_code == 403  # spent
        page = s.get(base + "/")
        assert page.status_code == 200
        csp = page.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe" not in csp
        assert page.headers["X-Frame-Options"] == "DENY"
        assert s.get(base + "/state", headers={"Host": "evil.example"}).status_code == 400


def test_posts_need_csrf_and_same_origin(editor, project):
    s, base, token, _ = editor
    before = project.read_text()
    assert s.post(base + "/save", **form()).status_code == 400
    r = s.post(base + "/save", headers={"X-CSRF-Token": token, "Origin": "http://evil.example"},
               **form())
    assert r.status_code == 403
    assert project.read_text() == before and not (project.parent / "guides").exists()


@pytest.mark.parametrize("change, message", [
    ({"data": {"meta": "{"}}, "'meta' must be JSON"),
    ({"meta": {"colours": [[0, 0, 0]]}}, "not the unpainted black"),
    ({"meta": {"colours": [[1, 2, 3], [1, 2, 3]]}}, "distinct"),
    ({"meta": {"colours": [[1, 2, 300]]}}, "byte triples"),
    ({"meta": {"points": [[1, 2, 3]]}}, "'points' must be"),
    ({"meta": {"points": [[1, 2, 3, "4"]]}}, "'points' must be"),
    ({"meta": {"points": [[1, 2, 3, 4]] * 501}}, "'points' must be"),
    ({"meta": {"points": [[170, 0, 0, 0]]}}, "inside the images"),
    ({"meta": {"digest": 5}}, "'digest' must be a string"),
    ({"labels": {"content_regions": np.ones((10, 10), np.uint8),
                 "style_regions": halves(S_SHAPE, False)}}, "must hold 256×170 labels"),
    ({"labels": {"content_regions": np.full(C_SHAPE, 9, np.uint8),
                 "style_regions": halves(S_SHAPE, False)}}, "does not define"),
    ({"labels": {"content_regions": np.ones(C_SHAPE, np.uint8)}}, "is missing"),
    ({"bomb": True}, "must hold"),
    ({"notgzip": True}, "not gzip data"),
    ({"meta": {"encoding": "raw"}, "labels": {"content_regions": np.ones(C_SHAPE, np.uint8),
                                              "style_regions": np.ones((200, 199), np.uint8)}},
     "must hold 200×200 labels"),
])
def test_hostile_saves_are_one_clear_400_and_write_nothing(editor, project, change, message):
    s, base, token, _ = editor
    before = project.read_text()
    kwargs = form(change.get("labels"), **change.get("meta", {}))
    if "data" in change:
        kwargs["data"] = change["data"]
    if change.get("bomb"):
        kwargs["files"]["content_regions"] = ("c", gzip.compress(bytes(10**8)))
    if change.get("notgzip"):
        kwargs["files"]["content_regions"] = ("c", b"plain bytes")
    r = s.post(base + "/save", headers={"X-CSRF-Token": token}, **kwargs)
    assert r.status_code == 400, r.text
    assert message in r.json()["message"]
    assert project.read_text() == before and not (project.parent / "guides").exists()


def test_saved_guides_read_back_and_a_stale_page_is_refused(editor, project):
    s, base, token, _ = editor
    state = s.get(base + "/state").json()
    assert state["images"]["content"]["width"] == 256 and state["points"] == []
    assert [c["rgb"] for c in state["colours"]] == COLOURS
    saved = s.post(base + "/save", headers={"X-CSRF-Token": token},
                   **form(points=[[10, 20, 30, 40]], digest=state["digest"])).json()
    assert saved["ok"] and saved["points"] == [[10.0, 20.0, 30.0, 40.0]]
    again = s.get(base + "/state").json()
    assert again["digest"] == saved["digest"] != state["digest"]
    labels = np.frombuffer(s.get(base + again["images"]["content"]["labels"]).content, np.uint8)
    np.testing.assert_array_equal(labels.reshape(C_SHAPE), halves(C_SHAPE, True))
    # someone edits the guide by hand (an extra colour): the editor shows it, a stale page
    # may not overwrite it
    guide = project.parent / saved["files"]["style_regions"]
    rgb = np.asarray(Image.open(guide)).copy()
    rgb[:10] = (12, 34, 56)
    Image.fromarray(rgb).save(guide)
    stale = s.post(base + "/save", headers={"X-CSRF-Token": token},
                   **form(digest=saved["digest"]))
    assert stale.status_code == 400 and "changed on disk" in stale.json()["message"]
    fresh = s.get(base + "/state").json()
    assert fresh["colours"][-1] == {"name": "#0c2238", "rgb": [12, 34, 56]}
    style = np.frombuffer(s.get(base + fresh["images"]["style"]["labels"]).content, np.uint8)
    assert set(style.reshape(S_SHAPE)[:10].ravel().tolist()) == {len(COLOURS) + 1}
    image = s.get(base + fresh["images"]["content"]["url"])
    assert image.headers["Content-Type"] == "image/png"


def test_admin_area_needs_a_sign_in_and_stays_under_its_root(home, project, tmp_path,
                                                             monkeypatch):
    db_url = f"sqlite:///{home}/stylestudy.sqlite3"
    monkeypatch.setenv("STYLESTUDY_GUIDE_ROOT", str(project.parent))
    (tmp_path / "outside.yaml").write_text(MANIFEST)
    set_admin_password("ada", "correct horse battery")
    with local_server({"DATABASE_URL": db_url, "SESSION_COOKIE_SECURE": False}) as url:
        anon = requests.get(f"{url}/admin/guide/?m=set.yaml", allow_redirects=False)
        assert anon.status_code == 302 and "/admin/login" in anon.headers["Location"]
        assert requests.get(f"{url}/admin/guide/state?m=set.yaml").status_code == 403
        s = requests.Session()
        token = re.search(r'name="csrf_token" value="([^"]+)"',
                          s.get(f"{url}/admin/login").text).group(1)
        s.post(f"{url}/admin/login", data={"username": "ada",
                                           "password": "correct horse battery",
                                           "csrf_token": token})
        index = s.get(f"{url}/admin/guide/")
        assert index.status_code == 200 and "set.yaml" in index.text
        assert "guide/" in s.get(f"{url}/admin/").text  # the dashboard links the editor
        for bad in ("../outside.yaml", str(tmp_path / "outside.yaml"), "chelsea.png", ""):
            r = s.get(f"{url}/admin/guide/state", params={"m": bad})
            assert r.status_code == 400 and "under the guide root" in r.json()["message"]
        state = s.get(f"{url}/admin/guide/state?m=set.yaml").json()
        page = s.get(f"{url}/admin/guide/?m=set.yaml").text
        token = re.search(r'data-csrf="([^"]+)"', page).group(1)
        r = s.post(f"{url}{state['save_url']}", headers={"X-CSRF-Token": "x"}, **form())
        assert r.status_code == 400 and not (project.parent / "guides").exists()
        raw = form(points=[[1, 1, 1, 1]], encoding="raw")  # 83 kB: over the app's 64 KiB
        r = s.post(f"{url}{state['save_url']}", headers={"X-CSRF-Token": token}, **raw)
        assert r.status_code == 200, r.text
    assert "points:\n      - [1, 1, 1, 1]\n" in project.read_text()


def test_a_preview_that_cannot_run_says_why(editor, tmp_path, monkeypatch):
    s, base, token, _ = editor
    monkeypatch.setenv("STYLESTUDY_WEIGHTS_DIR", str(tmp_path / "no-weights"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no-torch-home"))
    started = s.post(base + "/preview", headers={"X-CSRF-Token": token}, **form()).json()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        st = s.get(base + started["status_url"]).json()
        if st["state"] in ("done", "failed"):
            break
        assert st["state"] in ("starting", "running") and st["elapsed_s"] >= 0
        time.sleep(0.5)
    assert st["state"] == "failed" and "vgg16" in st["error"], st
    assert s.get(base + f"/preview/{started['id']}.png").status_code == 400


def test_the_command_refuses_bad_input_in_one_line(home, project, tmp_path):
    run = [sys.executable, "-m", "stylestudy.cli", "guide", "--no-browser"]
    two = project.read_text().replace("styles: [two-tone.png]",
                                      "styles: [two-tone.png, chelsea-copy.png]")
    Image.open(project.parent / "chelsea.png").save(project.parent / "chelsea-copy.png")
    (project.parent / "two.yaml").write_text(two)
    for args, message in (([str(project.parent / "two.yaml"), "--content", "chelsea.png"],
                           "has 2 pairs; name one"),
                          ([str(project), "--content", "x.png", "--style", "two-tone.png"],
                           "is not a pair"),
                          ([str(tmp_path / "none.yaml")], "manifest not found")):
        r = subprocess.run(run + args, capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and message in r.stderr and "Traceback" not in r.stderr
