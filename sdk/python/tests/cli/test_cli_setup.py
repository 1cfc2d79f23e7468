"""`observable setup` in a pseudo-terminal against the real server."""

from __future__ import annotations

import json
import stat

from cli_helpers import code_of, strip_ansi
from cli_qr import decode_printed_qr, printed_width

NO_COLOR = {"NO_COLOR": "1"}


def config_of(home):
    path = home / ".observable-code" / "config.json"
    return path, json.loads(path.read_text())


def test_setup_pairs_a_phone_in_one_scan(shared_server, terminal, home):
    t = terminal("setup", "--api-url", shared_server.url, env=NO_COLOR)
    url = t.wait_url()
    t.expect("left")  # the countdown runs while the CLI waits
    # What a phone's camera reads on a dark terminal is the pairing link.
    assert decode_printed_qr(t.text, "dark") == url
    assert printed_width(t.text) <= 80
    assert url.startswith(shared_server.url + "/pair/")

    path, saved = config_of(home)
    assert saved["api_url"] == shared_server.url
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert [p.name for p in path.parent.iterdir()] == ["config.json"]  # no temp file left
    session = shared_server.session(saved["session_id"])
    assert session["paired"] is False

    shared_server.claim(code_of(url), name="Ada's phone")
    t.expect("Paired with")
    assert t.finish() == 0

    out = strip_ansi(t.text)
    assert "Paired with “Ada's phone”" in out
    assert "import observable" in out
    assert '@observable.track("nightly_backup")' in out
    assert "def nightly_backup():" in out
    assert "Sent a test event" in out
    assert "Traceback" not in out
    # The URL and its expiry are printed under the QR code, in full.
    assert out.index("█") < out.index(f"open this link on your phone: {url}")
    assert "expires at" in out
    events = shared_server.events(saved["session_id"])
    assert [e["name"] for e in events] == ["observable setup"]
    assert shared_server.session(saved["session_id"])["paired"] is True


def test_loopback_pairing_link_is_called_out_before_the_code(shared_server, terminal):
    t = terminal("setup", "--api-url", shared_server.url, env=NO_COLOR)
    t.wait_url()
    out = strip_ansi(t.text)
    warning = out.index("points at 127.0.0.1, which your phone cannot reach")
    assert warning < out.index("█")
    assert "--public-url" in out
    t.kill()


def test_reachable_public_url_gets_no_warning(make_server, terminal):
    server = make_server("--public-url", "http://observable.example:3000")
    t = terminal("setup", "--api-url", server.url, env=NO_COLOR)
    url = t.wait_url()
    assert url.startswith("http://observable.example:3000/pair/")
    assert decode_printed_qr(t.text, "dark") == url
    assert "cannot reach" not in t.text
    t.kill()


def test_colour_code_scans_on_dark_and_light_terminals(shared_server, terminal):
    t = terminal("setup", "--api-url", shared_server.url)
    url = t.wait_url()
    assert "\x1b[" in t.text
    assert decode_printed_qr(t.text, "dark") == url
    assert decode_printed_qr(t.text, "light") == url
    t.kill()


def test_invert_for_a_light_terminal_without_colour(shared_server, terminal):
    t = terminal("setup", "--invert", "--api-url", shared_server.url, env=NO_COLOR)
    url = t.wait_url()
    assert "\x1b[97" not in t.text and "\x1b[30" not in t.text
    assert decode_printed_qr(t.text, "light") == url
    t.kill()


def test_light_background_is_detected_from_colorfgbg(shared_server, terminal):
    t = terminal("setup", "--api-url", shared_server.url, env={**NO_COLOR, "COLORFGBG": "0;15"})
    url = t.wait_url()
    assert decode_printed_qr(t.text, "light") == url
    t.kill()


def test_already_paired_points_to_pair_and_force(shared_server, terminal, saved_session, home):
    created = shared_server.create_session()
    shared_server.claim(created["pairing"]["code"], name="Old phone")
    path = saved_session(created["session_id"], shared_server.url)
    before = path.read_bytes()

    t = terminal("setup", env=NO_COLOR)  # the API URL comes from the saved file
    assert t.finish() == 0
    out = strip_ansi(t.text)
    assert "Already set up" in out and "paired with Old phone" in out
    assert "observable pair" in out and "observable setup --force" in out
    assert path.read_bytes() == before


def test_force_starts_over_and_keeps_the_previous_file(shared_server, terminal, saved_session,
                                                       home):
    created = shared_server.create_session()
    shared_server.claim(created["pairing"]["code"])
    path = saved_session(created["session_id"], shared_server.url)

    t = terminal("setup", "--force", env=NO_COLOR)
    url = t.wait_url()
    _, saved = config_of(home)
    assert saved["session_id"] != created["session_id"]
    previous = path.with_name("config.json.previous")
    assert json.loads(previous.read_text())["session_id"] == created["session_id"]
    assert stat.S_IMODE(previous.stat().st_mode) == 0o600
    shared_server.claim(code_of(url))
    assert t.finish() == 0


def test_unpaired_saved_session_is_resumed(shared_server, terminal, saved_session, home):
    created = shared_server.create_session()
    saved_session(created["session_id"], shared_server.url)
    t = terminal("setup", env=NO_COLOR)
    url = t.wait_url()
    assert "Resuming your saved session" in t.text
    shared_server.claim(code_of(url))
    assert t.finish() == 0
    assert config_of(home)[1]["session_id"] == created["session_id"]
    assert shared_server.session(created["session_id"])["paired"] is True


def test_unknown_saved_session_is_replaced(shared_server, terminal, saved_session, home):
    saved_session("00000000-0000-4000-8000-000000000000", shared_server.url)
    t = terminal("setup", env=NO_COLOR)
    t.wait_url()
    assert "not known to" in t.text
    assert config_of(home)[1]["session_id"] != "00000000-0000-4000-8000-000000000000"
    t.kill()


def test_unreachable_server_changes_nothing(terminal, saved_session, home):
    path = saved_session("11111111-1111-4111-8111-111111111111", "http://127.0.0.1:9")
    before = path.read_bytes()
    t = terminal("setup", "--force", env=NO_COLOR)
    assert t.finish() == 3
    out = strip_ansi(t.text)
    assert "Could not reach the server at http://127.0.0.1:9" in out
    assert "POST http://127.0.0.1:9/api/v1/sessions" in out
    assert "observable-server" in out and "--api-url" in out
    assert "Traceback" not in out
    assert path.read_bytes() == before
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.json"]


def test_corrupt_config_is_kept_aside(shared_server, terminal, home):
    folder = home / ".observable-code"
    folder.mkdir(mode=0o700)
    (folder / "config.json").write_text("{not json")
    t = terminal("setup", "--api-url", shared_server.url, env=NO_COLOR)
    t.wait_url()
    assert "cannot read" in t.text
    assert (folder / "config.json.bad").read_text() == "{not json"
    assert config_of(home)[1]["api_url"] == shared_server.url
    t.kill()


def test_session_in_the_environment_is_pointed_out(shared_server, terminal):
    t = terminal("setup", "--force", "--api-url", shared_server.url,
                 env={**NO_COLOR, "OBSERVABLE_CODE_SESSION_ID": "22222222-2222-4222-8222-222222222222"})
    t.wait_url()
    assert "OBSERVABLE_CODE_SESSION_ID is set" in t.text
    t.kill()


def test_rate_limit_says_when_to_try_again(make_server, terminal):
    server = make_server("--sessions-per-minute", "1")
    server.create_session()
    t = terminal("setup", "--api-url", server.url, env=NO_COLOR)
    assert t.finish() == 3
    out = strip_ansi(t.text)
    assert "answered 429" in out and "try again in" in out
    assert "Traceback" not in out
