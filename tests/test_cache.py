"""The cache folder: what ``hbilstm cache`` lists and clears, and reads marking entries as used."""

import json
import os
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from hbilstm.cache import beyond, entries, human_size, parse_size, remove
from hbilstm.cli import app
from hbilstm.data.token_cache import TokenCache
from hbilstm.data.tokenizer import TweetTokenizer
from hbilstm.errors import ConfigError
from hbilstm.training.distillation import TeacherCache

DAY = 86400


def make_cache(root, now):
    """Two token tables (one used 40 days ago), a tokenizer snapshot, two teacher entries (one 10
    days old), a temporary being written now and one left 3 days ago, and files that are not
    the cache's."""
    def put(path, size, age_days):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"x" * size)
        os.utime(path, (now - age_days * DAY,) * 2)
        return path

    put(root / "tokens" / "aaa" / "data-00000-of-00001.arrow", 300, 0)
    put(root / "tokens" / "aaa" / "state.json", 20, 0)
    os.utime(root / "tokens" / "aaa", (now - 40 * DAY,) * 2)
    put(root / "tokens" / "bbb" / "data-00000-of-00001.arrow", 500, 0)
    os.utime(root / "tokens" / "bbb", (now - 1 * DAY,) * 2)
    put(root / "tokenizer" / "spacy-3.8-abc.json", 70, 2)
    put(root / "teachers" / "old.npy", 1000, 10)
    put(root / "teachers" / "new.npy", 2000, 0.5)
    put(root / "teachers" / ".new.npy.host.1.ab.tmp", 9, 0)  # being written
    put(root / "teachers" / ".old.npy.host.2.cd.tmp", 7, 3)  # left by a killed write
    put(root / "notes.txt", 5, 100)  # not the cache's: never listed or removed
    put(root / "other" / "thing.bin", 5, 100)


def test_entries_select_by_kind_and_age_and_leave_other_files_alone(tmp_path):
    now = time.time()
    make_cache(tmp_path, now)
    found = entries(tmp_path, now=now)
    names = [e.path.name for e in found]
    assert names == ["aaa", "old.npy", ".old.npy.host.2.cd.tmp", "spacy-3.8-abc.json", "bbb", "new.npy"]
    sizes = {e.path.name: e.size for e in found}
    assert sizes["aaa"] == 320 and sizes["bbb"] == 500 and sizes["new.npy"] == 2000
    old = entries(tmp_path, older_than=5 * DAY, now=now)
    assert sorted(e.path.name for e in old) == ["aaa", "old.npy"]
    assert [e.path.name for e in entries(tmp_path, ["teachers"], now=now)] == ["old.npy", ".old.npy.host.2.cd.tmp",
                                                                            "new.npy"]
    assert remove(old) == (2, 1320, [])
    assert not (tmp_path / "tokens" / "aaa").exists() and not (tmp_path / "teachers" / "old.npy").exists()
    assert remove(old) == (0, 0, [])  # already gone: nothing counted
    assert remove(entries(tmp_path, now=now)) == (4, 2577, [])
    left = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*") if p.is_file())
    assert left == ["notes.txt", "other/thing.bin", "teachers/.new.npy.host.1.ab.tmp"]
    assert entries(tmp_path / "missing") == []


def test_human_size():
    assert [human_size(n) for n in (0, 999, 1000, 1536, 2_500_000, 7_100_000_000)] == \
        ["0 B", "999 B", "1.0 kB", "1.5 kB", "2.5 MB", "7.1 GB"]


def test_cache_command_lists_and_clears(tmp_path, monkeypatch):
    make_cache(tmp_path, time.time())
    monkeypatch.setenv("HBILSTM_CACHE_DIR", str(tmp_path))
    runner = CliRunner()
    listed = runner.invoke(app, ["cache"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0] == f"cache: {tmp_path}"
    assert lines[2].split()[:4] == ["tokens", "2", "820", "B"]
    assert lines[3].split()[:4] == ["tokenizer", "1", "70", "B"]
    assert lines[4].split()[:4] == ["teachers", "3", "3.0", "kB"]  # 1,000 + 2,000 + 7 bytes (the leftover temporary)
    old = runner.invoke(app, ["cache", "--json", "--older-than", "5"])
    assert sorted(e["path"].rsplit("/", 1)[1] for e in json.loads(old.output)["entries"]) == \
        ["aaa", "old.npy"]
    cleared = runner.invoke(app, ["cache", "--clear", "--kind", "teachers", "--older-than", "5"])
    assert cleared.exit_code == 0 and f"removed 1 entry (1.0 kB) from {tmp_path}" in cleared.output
    assert (tmp_path / "teachers" / "new.npy").exists() and (tmp_path / "tokens" / "aaa").exists()
    cleared = runner.invoke(app, ["cache", "--clear"])
    assert "removed 5 entries" in cleared.output and not any((tmp_path / "tokens").iterdir())
    locked = tmp_path / "teachers" / "locked.npy"
    locked.write_bytes(b"x")
    real_unlink = type(locked).unlink

    def unlink(path, *args, **kwargs):  # as a folder the user may not write to refuses
        if path.name == "locked.npy":
            raise PermissionError(13, "Permission denied")
        return real_unlink(path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(type(locked), "unlink", unlink)
        refused = runner.invoke(app, ["cache", "--clear", "--kind", "teachers"])
    assert refused.exit_code == 2, refused.output
    assert f"could not remove 1 entry; the first, {locked}: Permission denied" in " ".join(refused.output.split())
    assert locked.exists() and "removed 0 entries" in refused.output
    bad = runner.invoke(app, ["cache", "--kind", "vectors"])
    assert bad.exit_code == 2 and "unknown cache kind 'vectors'; the kinds are: tokens, tokenizer, teachers" \
        in bad.output and "Traceback" not in bad.output


def test_keep_removes_the_least_recently_used_until_the_rest_fit(tmp_path, monkeypatch):
    make_cache(tmp_path, time.time())
    found = entries(tmp_path)  # by last use: aaa 320 B (40 days), old.npy 1,000 (10), ... new.npy 2,000 (0.5)
    assert [e.path.name for e in beyond(found, 3_000)] == ["aaa", "old.npy"]  # 3,897 -> 2,577 bytes
    assert beyond(found, 10_000) == [] and len(beyond(found, 0)) == len(found)
    assert parse_size("2GB") == 2 * 10**9 and parse_size("500 mb") == 5 * 10**8 and parse_size("1.5k") == 1500
    assert parse_size("0") == 0
    for bad in ("", "-1GB", "2 GiB", "lots"):
        with pytest.raises(ValueError, match="not a size"):
            parse_size(bad)
    monkeypatch.setenv("HBILSTM_CACHE_DIR", str(tmp_path))
    runner = CliRunner()
    cleared = runner.invoke(app, ["cache", "--clear", "--keep", "3kB"])
    assert cleared.exit_code == 0 and f"removed 2 entries (1.3 kB) from {tmp_path}" in cleared.output
    assert not (tmp_path / "tokens" / "aaa").exists() and (tmp_path / "teachers" / "new.npy").exists()
    assert sum(e.size for e in entries(tmp_path)) <= 3000
    for args, message in ((["--keep", "1GB"], "--keep says how much --clear leaves"),
                          (["--clear", "--keep", "lots"], "--keep: 'lots' is not a size")):
        refused = runner.invoke(app, ["cache", *args])
        assert refused.exit_code == 2 and message in refused.output and "Traceback" not in refused.output


def test_reading_an_entry_marks_it_used(tmp_path):
    cache = TokenCache(TweetTokenizer(), tmp_path)
    cache.tokenize(["one two"])
    (table,) = (tmp_path / "tokens").iterdir()
    long_ago = time.time() - 40 * DAY
    os.utime(table, (long_ago, long_ago))
    again = TokenCache(TweetTokenizer(), tmp_path)
    assert again.tokenize(["one two"]) == [["one", "two"]] and again.hits == 1
    assert table.stat().st_mtime > long_ago + DAY
    teachers = TeacherCache(tmp_path, ["a", "b"])
    entry = tmp_path / "teachers" / "t.npy"
    teachers.write(entry, np.array([[0.5, 0.5], [0.1, 0.9]]))
    os.utime(entry, (long_ago, long_ago))
    assert teachers.read(entry, 2) is not None and entry.stat().st_mtime > long_ago + DAY
    assert entries(tmp_path, older_than=30 * DAY) == []


def test_a_limit_keeps_the_cache_within_it_as_commands_write(tmp_path, monkeypatch):
    now = time.time()
    make_cache(tmp_path, now)  # 3,897 bytes in six entries, the oldest used 40 days ago
    monkeypatch.setenv("HBILSTM_CACHE_LIMIT", "3.5kB")
    cache = TokenCache(TweetTokenizer(), tmp_path)
    cache.tokenize(["a new split to keep"])
    (new,) = [p for p in (tmp_path / "tokens").iterdir() if p.name not in ("aaa", "bbb")]
    found = entries(tmp_path)
    assert new in [e.path for e in found] and sum(e.size for e in found) <= 3500
    assert not (tmp_path / "tokens" / "aaa").exists()  # the least recently used went first
    assert (tmp_path / "teachers" / "new.npy").exists()  # used half a day ago: still room for it
    teachers = TeacherCache(tmp_path, ["a", "b"])
    entry = tmp_path / "teachers" / "big.npy"
    monkeypatch.setenv("HBILSTM_CACHE_LIMIT", "10")  # smaller than the new entry alone
    teachers.write(entry, np.zeros((2, 2)))
    assert [e.path for e in entries(tmp_path)] == [entry]  # the new one stays, every other went
    assert (tmp_path / "teachers" / ".new.npy.host.1.ab.tmp").exists()  # a write in progress: left alone
    monkeypatch.delenv("HBILSTM_CACHE_LIMIT")
    TokenCache(TweetTokenizer(), tmp_path).tokenize(["another"])
    assert len(entries(tmp_path)) == 2  # no limit, nothing removed
    monkeypatch.setenv("HBILSTM_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("HBILSTM_CACHE_LIMIT", "2GB")
    listed = CliRunner().invoke(app, ["cache"])
    assert "limit: 2.0 GB ($HBILSTM_CACHE_LIMIT" in listed.output
    monkeypatch.setenv("HBILSTM_CACHE_LIMIT", "lots")
    refused = CliRunner().invoke(app, ["cache"])
    assert refused.exit_code == 2 and "HBILSTM_CACHE_LIMIT: 'lots' is not a size" in refused.output
    with pytest.raises(ConfigError, match="HBILSTM_CACHE_LIMIT"):
        TokenCache(TweetTokenizer(), tmp_path)
