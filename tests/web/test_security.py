"""Sessions, lockout, CSRF and upload limits over HTTP."""
from __future__ import annotations

import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from ivr400.db.models import Seat, WebSession, WebUser
from ivr400.provisioning import users
from ivr400.web.app import create_app
from tests.conftest import NOW
from tests.factories import PNG

from .conftest import CSRF, PASSWORD, Client, WebWorld, login


def _login_attempt(client: TestClient, username: str, password: str):
    token = CSRF.search(client.get("/login").text).group(1)  # type: ignore[union-attr]
    return client.post("/login", data={"csrf_token": token, "username": username, "password": password})


def test_session_cookie_flags_and_logout_revokes(web: WebWorld) -> None:
    client = Client(create_app(web.config), follow_redirects=False)
    r = _login_attempt(client, "op-a", PASSWORD)
    cookie = r.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Secure" not in cookie
    with Session(web.engine) as s:
        stored = s.scalars(select(WebSession.token_hash)).all()
    assert client.cookies["ivr400_session"] not in stored  # only the hash is kept
    client.csrf = CSRF.search(client.get("/").text).group(1)  # type: ignore[union-attr]
    assert client.form_post("/logout").status_code == 303
    client.cookies.set("ivr400_session", r.cookies["ivr400_session"])  # replaying the old cookie
    assert client.get("/").status_code == 303


def test_secure_cookie_behind_tls(web: WebWorld) -> None:
    client = TestClient(create_app(web.config), base_url="https://testserver", follow_redirects=False)
    r = _login_attempt(client, "op-a", PASSWORD)
    assert "Secure" in r.headers["set-cookie"]


def test_lockout_after_repeated_failures_even_with_the_right_password(web: WebWorld) -> None:
    client = TestClient(create_app(web.config), follow_redirects=False)
    for _ in range(users.MAX_FAILED_LOGINS - 1):
        assert _login_attempt(client, "op-a", "wrong password!").status_code == 401
    locked = _login_attempt(client, "op-a", "wrong password!")
    assert locked.status_code == 429 and "password: locked" in locked.text
    assert _login_attempt(client, "op-a", PASSWORD).status_code == 429
    web.clock.advance(users.LOCKOUT + timedelta(seconds=1))
    assert _login_attempt(client, "op-a", PASSWORD).status_code == 303


def test_idle_and_absolute_timeouts(web: WebWorld) -> None:
    client = login(web, "op-a")
    web.clock.advance(web.config.idle_timeout - timedelta(minutes=1))
    assert client.get("/").status_code == 200  # refreshes last_seen
    web.clock.advance(web.config.idle_timeout - timedelta(minutes=1))
    assert client.get("/").status_code == 200
    web.clock.advance(web.config.idle_timeout + timedelta(seconds=1))
    assert client.get("/").status_code == 303
    client = login(web, "op-a")
    for _ in range(int(web.config.absolute_timeout / (web.config.idle_timeout / 2)) + 1):
        web.clock.advance(web.config.idle_timeout / 2)
        last = client.get("/").status_code
    assert last == 303


def test_disabling_an_account_ends_its_sessions(web: WebWorld) -> None:
    client = login(web, "op-a")
    with Session(web.engine) as s:
        user = users.find_user(s, "op-a")
        users.set_disabled(s, user, True, now=NOW, actor="test")
        s.commit()
    assert client.get("/").status_code == 303
    assert _login_attempt(TestClient(create_app(web.config), follow_redirects=False), "op-a",
                          PASSWORD).status_code == 401


def test_csrf_token_and_origin_are_both_required(web: WebWorld, clients) -> None:
    c = clients["op-a"]
    with Session(web.engine) as s:
        seat = s.scalar(select(Seat).where(Seat.hotline_id == web.a.hotline, Seat.department_id.is_(None),
                                           Seat.position == 1))
        seat_id = seat.id  # type: ignore[union-attr]
    url = f"/seats/{seat_id}/move"
    assert c.post(url, data={"direction": "down"}).status_code == 403  # no token
    assert c.post(url, data={"direction": "down", "csrf_token": "x" * 43}).status_code == 403  # wrong token
    other = clients["op-b"].csrf
    assert c.post(url, data={"direction": "down", "csrf_token": other}).status_code == 403  # another session's
    assert c.form_post(url, {"direction": "down"}, headers={"Origin": "https://evil.example"}).status_code == 403
    assert c.form_post(url, {"direction": "down"}, headers={"Sec-Fetch-Site": "cross-site"}).status_code == 403
    with Session(web.engine) as s:
        assert s.get(Seat, seat_id).position == 1  # type: ignore[union-attr]
    ok = c.form_post(url, {"direction": "down"}, headers={"Origin": "http://testserver",
                                                          "Sec-Fetch-Site": "same-origin"})
    assert ok.status_code == 303
    assert c.post(url, data={"direction": "up"}, headers={"X-CSRF-Token": c.csrf}).status_code == 303


def test_login_needs_its_csrf_cookie(web: WebWorld) -> None:
    client = TestClient(create_app(web.config), follow_redirects=False)
    r = client.post("/login", data={"username": "op-a", "password": PASSWORD, "csrf_token": "forged"})
    assert r.status_code == 403
    with Session(web.engine) as s:
        assert s.scalar(select(WebUser.failed_logins).where(WebUser.username == "op-a")) == 0


def test_upload_too_large_or_not_a_document_is_refused(web: WebWorld, clients) -> None:
    web.config.max_upload_bytes = 1024
    c = clients["op-b"]
    url = f"/destinations/{web.b.pending_destination}/evidence"
    big = c.post(url, data={"csrf_token": c.csrf, "kind": "carrier_bill"},
                 files={"file": ("big.png", PNG + b"\x00" * 4096, "image/png")})
    assert big.status_code == 400 and "file: larger than" in big.text
    script = c.post(url, data={"csrf_token": c.csrf, "kind": "carrier_bill"},
                    files={"file": ("bill.png", b"<script>alert(1)</script>", "image/png")})
    assert script.status_code == 400 and "file: not a PDF or an image" in script.text
    huge = c.post(url, data={"csrf_token": c.csrf, "kind": "carrier_bill"},
                  files={"file": ("x.png", PNG + b"\x00" * (3 * 1024 * 1024), "image/png")})
    assert huge.status_code == 413
    assert not list(web.store.glob(".incoming-web/*"))


def test_every_post_form_on_every_page_carries_the_sessions_token(web: WebWorld, clients) -> None:
    c = clients["admin"]
    pages = ["/", "/hotlines", f"/hotlines/{web.a.hotline}/seats", "/destinations",
             f"/destinations/{web.a.destination}", "/review", "/records", "/simulator", "/audit",
             f"/hotlines/{web.a.hotline}/rules", "/voicemail", "/accounts", "/password", "/tones"]
    for url in pages:
        text = c.get(url).text
        forms = re.findall(r'<form method="post".*?</form>', text, flags=re.S)
        assert forms, url  # at least the logout form
        for form in forms:
            assert f'name="csrf_token" value="{c.csrf}"' in form, (url, form[:200])


def test_own_password_change_ends_every_session(web: WebWorld) -> None:
    c = login(web, "op-a")
    other = login(web, "op-a")
    for data, field in (({"current": "wrong", "new": "a new password", "confirm": "a new password"}, "current"),
                        ({"current": PASSWORD, "new": "short", "confirm": "short"}, "password"),
                        ({"current": PASSWORD, "new": "a new password", "confirm": "another one!"}, "confirm")):
        r = c.form_post("/password", data)
        assert r.status_code == 400 and f'data-field="{field}">{field}: ' in r.text
    assert c.form_post("/password", {"current": PASSWORD, "new": "a new password",
                                     "confirm": "a new password"}).status_code == 303
    assert c.get("/").status_code == 303 and other.get("/").status_code == 303
    login(web, "op-a", "a new password")
