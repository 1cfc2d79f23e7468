"""`observable run` on a terminal: the command gets a pseudo-terminal of ours
for its output, so it still sees a terminal (colours, sizes, progress bars)
while the head and tail are kept, as text a screen would show."""

from __future__ import annotations

import shlex

import pexpect
import pytest

from cli_helpers import CLI, EXPECT_TIMEOUT, Terminal
from jobs_helpers import PY, jobs, script  # noqa: F401  (jobs is a fixture)
from observable._cli_run_pty import MAX_LINE, TermText, clean


# TermText: what the phone keeps of a terminal's bytes.

def test_clean_strips_colours_titles_and_links():
    assert clean(b"\x1b[1;31mFAILED\x1b[0m ok\n") == "FAILED ok\n"
    assert clean(b"\x1b]0;a title\x07\x1b]8;;https://x.test\x1b\\link\x1b]8;;\x1b\\\n") == "link\n"
    assert clean(b"\x1b(B\x1b=\x1b[?25lhidden cursor\x1b[?25h\n") == "hidden cursor\n"
    assert clean(b"bell\x07 and \x0fshift\n") == "bell and shift\n"


def test_clean_keeps_the_last_state_of_a_redrawn_line():
    assert clean(b"  0%\r 50%\r100%\ndone\n") == "100%\ndone\n"
    assert clean(b"downloading 10%\r\x1b[Kok\n") == "ok\n"
    assert clean(b"downloading 10%\rok\n") == "okwnloading 10%\n"  # as the screen shows it
    assert clean(b"a line\r\nnext\r\n") == "a line\nnext\n"  # \r\n ends a line, erases nothing
    assert clean(b"abc\x08\x08XY\n") == "aXY\n"
    assert clean(b"12345\x1b[3G_\x1b[2D|\x1b[2C>\n") == "1|_4>\n"
    assert clean(b"abcdef\x1b[3G\x1b[1K\n") == "   def\n"
    assert clean(b"spin\r\x1b[2K") == ""
    assert clean(b"no newline at the end") == "no newline at the end"


def test_clean_joins_sequences_split_across_reads():
    data = "\x1b[38;5;196mrød\x1b[0m \x1b]0;t\x1b\\x\r  1%\r100% ✓\n".encode()
    whole = clean(data)
    assert whole == "100% ✓\n"
    t = TermText()
    pieces = b"".join(t.feed(data[i:i + 1]) for i in range(len(data))) + t.flush()
    assert pieces.decode() == whole


def test_clean_holds_a_line_that_never_ends_in_bounded_pieces():
    t = TermText()
    out = t.feed(b"x" * (3 * MAX_LINE + 10))
    assert len(out) == 3 * MAX_LINE
    assert t.flush() == b"x" * 10
    assert clean(b"\x1b]0;" + b"t" * 10000) == "]0;" + "t" * 10000  # an OSC never ended is text


# The CLI in a pseudo-terminal, with the real server.

def finished(t: Terminal, code: int) -> None:
    assert t.finish() == code, t.text


def test_run_in_a_terminal_keeps_the_output_as_text(jobs):
    t = Terminal(["run", "--name", "coloured", "--", "sh", "-c",
                  '[ -t 1 ] && echo stdout-is-a-tty; [ -t 2 ] && echo stderr-is-a-tty >&2; '
                  'printf "\\033[1;31mFAILED\\033[0m: disk full\\n"'], jobs.env)
    try:
        t.expect("disk full")
        finished(t, 0)
    finally:
        t.kill()
    # The terminal got the bytes as written, colours included, and no \r\r\n.
    assert "stdout-is-a-tty\r\nstderr-is-a-tty\r\n\x1b[1;31mFAILED\x1b[0m: disk full\r\n" in t.text
    meta = jobs.last_run("coloured")["final"]["metadata"]
    assert meta["output"] == "stdout-is-a-tty\nstderr-is-a-tty\nFAILED: disk full\n"
    assert meta["output_bytes"] == len(meta["output"])


def test_run_in_a_terminal_keeps_a_progress_bars_last_state(jobs):
    bar = ('for i in 0 25 50 75 100; do printf "\\rcopying [%3s%%]" $i; sleep 0.02; done; '
           'printf "\\n"; printf "\\r\\033[Kalmost\\rdone\\033[K\\n"')
    t = Terminal(["run", "--name", "progress", "--", "sh", "-c", bar], jobs.env)
    try:
        finished(t, 0)
    finally:
        t.kill()
    assert "\rcopying [ 25%]\rcopying [ 50%]" in t.text  # the terminal saw every redraw
    assert jobs.last_run("progress")["final"]["metadata"]["output"] == "copying [100%]\ndone\n"


SIZES = """\
import os, signal, sys
def show(*_):  # one write: a handler may run inside another's print
    cols, rows = os.get_terminal_size(1)
    os.write(1, b"size %dx%d\\n" % (rows, cols))
signal.signal(signal.SIGWINCH, show)
show()
sys.stdin.readline()
print("bye")
"""


def test_run_in_a_terminal_gives_the_command_the_terminals_size_and_its_resizes(jobs):
    sizes = script(jobs.tmp, "sizes.py", SIZES)
    t = Terminal(["run", "--name", "sizes", "--", *PY, sizes], jobs.env, columns=91, rows=27)
    try:
        t.expect("size 27x91")
        t.child.setwinsize(33, 120)  # the terminal signals its foreground group
        t.expect("size 33x120")
        t.child.setwinsize(20, 70)
        t.expect("size 20x70")
        t.child.sendline("")
        t.expect("bye")
        finished(t, 0)
    finally:
        t.kill()
    lines = jobs.last_run("sizes")["final"]["metadata"]["output"].splitlines()
    assert lines[0] == "size 27x91" and lines[-2:] == ["size 20x70", "bye"], lines


KEY_AT_A_TIME = """\
import os, termios, tty
saved = termios.tcgetattr(1)
tty.setcbreak(1)  # as curses does: the modes set through stdout
os.write(1, b"press a key\\n")
key = os.read(0, 1)
termios.tcsetattr(1, termios.TCSADRAIN, saved)
os.write(1, b"got " + key + b"\\n")
"""


def test_run_in_a_terminal_mirrors_the_input_modes_a_program_sets_on_its_stdout(jobs):
    import termios

    prog = script(jobs.tmp, "key.py", KEY_AT_A_TIME)
    t = Terminal(["run", "--name", "key", "--", *PY, prog], jobs.env)
    try:
        before = termios.tcgetattr(t.child.child_fd)
        t.expect("press a key")
        # The real terminal took the program's modes before its output reached it.
        assert not termios.tcgetattr(t.child.child_fd)[3] & (termios.ICANON | termios.ECHO)
        t.child.send("x")  # one key, no Enter, not echoed
        t.expect("got x")
        t.expect(pexpect.EOF)
        assert termios.tcgetattr(t.child.child_fd) == before  # and its restore too
        finished(t, 0)
    finally:
        t.kill()
    assert "press a key\r\ngot x\r\n" in t.text
    assert jobs.last_run("key")["final"]["metadata"]["output"] == "press a key\ngot x\n"


def run_redirected(jobs, name: str, cmd: str, redirect: str) -> "pexpect.spawn":
    """observable run -- sh -c CMD in a terminal, one of its streams redirected; run to its end, 0."""
    line = " ".join(shlex.quote(a) for a in [*CLI, "run", "--name", name, "--", "sh", "-c", cmd])
    child = to_the_end(jobs, "/bin/sh", ["-c", f"exec {line} {redirect}"])
    assert child.exitstatus == 0, child.before
    return child


def to_the_end(jobs, program: str, args: list) -> "pexpect.spawn":
    """program in a terminal of pexpect's, read until it exits."""
    child = pexpect.spawn(program, args, env=jobs.env, encoding="utf-8", timeout=EXPECT_TIMEOUT)
    try:
        child.expect(pexpect.EOF)
        child.close()
    finally:
        if child.isalive():
            child.terminate(force=True)
    return child


def test_run_in_a_terminal_with_stderr_to_a_file_keeps_stderr_there(jobs):
    err = jobs.tmp / "err.txt"
    cmd = ('[ -t 1 ] && echo to-stdout-a-tty; [ -t 2 ] || echo to-stderr-a-file >&2; '
           'echo more-stdout')
    child = run_redirected(jobs, "split", cmd, f"2>{shlex.quote(str(err))}")
    assert "to-stdout-a-tty\r\nmore-stdout\r\n" in child.before
    assert "to-stderr-a-file" not in child.before
    assert err.read_text() == "to-stderr-a-file\n"
    output = jobs.last_run("split")["final"]["metadata"]["output"]
    assert sorted(output.splitlines()) == ["more-stdout", "to-stderr-a-file", "to-stdout-a-tty"]


def test_run_in_a_terminal_with_stdout_to_a_file_gives_stderr_the_pty(jobs):
    out = jobs.tmp / "out.txt"
    cmd = '[ -t 1 ] || echo to-stdout-a-file; [ -t 2 ] && printf "\\033[33mwarn\\033[0m\\n" >&2'
    child = run_redirected(jobs, "split2", cmd, f">{shlex.quote(str(out))}")
    assert "\x1b[33mwarn\x1b[0m\r\n" in child.before
    assert out.read_text() == "to-stdout-a-file\n"
    output = jobs.last_run("split2")["final"]["metadata"]["output"]
    assert sorted(output.splitlines()) == ["to-stdout-a-file", "warn"]


def test_run_in_a_terminal_with_no_capture_writes_to_the_terminal_itself(jobs):
    # The real terminal, not a pty of ours: the same device as stdin's.
    t = Terminal(["run", "--no-capture", "--name", "direct", "--", "sh", "-c",
                  'exec 3>&1; [ "$(tty)" = "$(tty <&3)" ] && echo same-terminal'], jobs.env)
    try:
        t.expect("same-terminal")
        finished(t, 0)
    finally:
        t.kill()
    assert "not captured" in jobs.last_run("direct")["final"]["metadata"]["output"]


def test_run_in_a_terminal_without_ptys_falls_back_to_the_terminal_itself(jobs):
    # A platform without ptys, as os.openpty fails there: the command writes to
    # the real terminal, as with --no-capture, and says nothing of it.
    no_pty = ("import os, runpy, sys\n"
              "def fail(): raise OSError(2, 'No such file or directory: /dev/ptmx')\n"
              "os.openpty = fail\n"
              "sys.argv[0] = 'observable'\n"
              "runpy.run_module('observable', run_name='__main__')\n")
    child = to_the_end(jobs, PY[0], [*PY[1:], "-c", no_pty, "run", "--name", "no_pty", "--", "sh", "-c",
                                     'exec 3>&1; [ "$(tty)" = "$(tty <&3)" ] && echo same-terminal'])
    assert child.exitstatus == 0 and child.before == "same-terminal\r\n", child.before
    assert "not captured" in jobs.last_run("no_pty")["final"]["metadata"]["output"]


def test_run_in_a_terminal_ctrl_z_and_fg_work_as_without_us(jobs):
    # A real shell's job control: Ctrl-Z stops the foreground job (the wrapper
    # and the command, one process group), `fg` gives it the terminal back.
    line = " ".join(shlex.quote(a) for a in [*CLI, "run", "--name", "suspended", "--", "sh", "-c",
                                             'echo ready; read x; echo "resumed $x"'])
    env = dict(jobs.env, PS1="shell$ ")
    child = pexpect.spawn("bash", ["--norc", "--noprofile", "-i"], env=env, encoding="utf-8",
                          timeout=EXPECT_TIMEOUT, dimensions=(40, 100))
    try:
        child.expect_exact("shell$ ")
        child.sendline(line)
        child.expect_exact("ready\r\n")  # the command's, not the echo of the line typed
        child.sendcontrol("z")
        child.expect("Stopped")
        child.expect_exact("shell$ ")
        child.sendline("fg")
        child.sendline("ok")
        child.expect_exact("resumed ok")
        child.expect_exact("shell$ ")
        child.sendline("echo status=$?")
        child.expect_exact("status=0")
        child.sendline("exit")
        child.expect(pexpect.EOF)
    finally:
        child.terminate(force=True)
    final = jobs.last_run("suspended")["final"]
    assert final["status"] == "completed"
    assert "resumed ok\n" in final["metadata"]["output"]


@pytest.mark.parametrize("code", [0, 3])
def test_run_in_a_terminal_exits_with_the_commands_status(jobs, code):
    t = Terminal(["run", "--name", f"status_{code}", "--", "sh", "-c", f"echo bye; exit {code}"],
                 jobs.env)
    try:
        finished(t, code)
    finally:
        t.kill()
    final = jobs.last_run(f"status_{code}")["final"]
    assert final["metadata"]["output"] == "bye\n"
    assert final["status"] == ("completed" if code == 0 else "failed")
