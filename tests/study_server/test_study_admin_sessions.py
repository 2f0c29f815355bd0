"""Admin logins held on the server: logout (or a new password) ends a login for every copy
of its cookie; a login does the same password-hashing work whether the user exists or not."""

from __future__ import annotations

import hashlib
import re

import pytest
from study_helpers import spec

from stylestudy.study_server.study.studies import create_study
from stylestudy.study_server.web.admin import set_admin_password

PASSWORD = "correct horse battery"


@pytest.fixture
def app(app, db_url, engine, monkeypatch):
    """The conftest's app with a study and an admin login."""
    monkeypatch.setenv("STYLESTUDY_DATABASE_URL", db_url)
    create_study(spec(), engine)
    set_admin_password("ada", PASSWORD)
    return app


def csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def login(client, username: str = "ada", password: str = PASSWORD):
    token = csrf(client.get("/admin/login").text)
    return client.post("/admin/login", data={"username": username, "password": password,
                                             "csrf_token": token})


def cookie(client) -> str:
    return client.get_cookie("session").value


def with_cookie(app, value: str):
    other = app.test_client()
    other.set_cookie("session", value)
    return other


def test_logout_ends_the_login_for_a_copied_cookie(app):
    """A cookie copied while logged in opens the admin until the login logs out; after it,
    the copy is sent to the login page like any stranger."""
    client = app.test_client()
    assert login(client).status_code == 302
    copied = cookie(client)
    assert with_cookie(app, copied).get("/admin/").status_code == 200
    page = client.get("/admin/study/s1").text
    assert client.post("/admin/logout", data={"csrf_token": csrf(page)}).status_code == 302
    for path in ("/admin/", "/admin/study/s1", "/admin/study/s1/export.csv"):
        r = with_cookie(app, copied).get(path)
        assert r.status_code == 302 and "/admin/login" in r.headers["Location"], path
    r = with_cookie(app, copied).post("/admin/study/s1/state",
                                      data={"state": "closed", "csrf_token": csrf(page)})
    assert r.status_code == 302 and "/admin/login" in r.headers["Location"]
    assert login(client).status_code == 302  # logging in again works
    assert client.get("/admin/").status_code == 200


def test_a_new_password_ends_every_login(app):
    a, b = app.test_client(), app.test_client()
    assert login(a).status_code == 302 and login(b).status_code == 302
    set_admin_password("ada", "another good password")
    assert a.get("/admin/").status_code == 302 and b.get("/admin/").status_code == 302
    assert login(a, password="another good password").status_code == 302
    assert a.get("/admin/").status_code == 200


def test_login_hashes_once_whether_or_not_the_user_exists(app, monkeypatch):
    """Every login attempt derives one scrypt key with the same work factor (n, r, p):
    a right password, a wrong one, and a user name that does not exist (which used to
    skip hashing and answer ~30 times faster)."""
    calls = []
    real = hashlib.scrypt

    def counted(password, *, salt, n, r, p, maxmem=0, dklen=64):
        calls.append((n, r, p, dklen))
        return real(password, salt=salt, n=n, r=r, p=p, maxmem=maxmem, dklen=dklen)

    monkeypatch.setattr(hashlib, "scrypt", counted)
    work = {}
    for name, password, status in [("ada", PASSWORD, 302), ("ada", "wrong password", 401),
                                   ("nobody", "wrong password", 401),
                                   ("x" * 300, PASSWORD, 401)]:
        client = app.test_client()
        token = csrf(client.get("/admin/login").text)
        calls.clear()
        r = client.post("/admin/login", data={"username": name, "password": password,
                                              "csrf_token": token})
        assert r.status_code == status
        work[(name[:10], password)] = list(calls)
    assert all(len(c) == 1 for c in work.values()), work
    assert len({c[0] for c in work.values()}) == 1, work


def test_the_decoy_hash_costs_what_a_new_password_costs():
    """The hash checked for unknown users has werkzeug's current default method and work
    factor (a werkzeug upgrade that changes them fails here: make a new decoy)."""
    from werkzeug.security import generate_password_hash

    from stylestudy.study_server.web.admin import DECOY_HASH

    assert DECOY_HASH.split("$")[0] == generate_password_hash("x").split("$")[0]
