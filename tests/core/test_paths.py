"""The output folder and the database file are checked before anything is sent: each problem
is one ConfigError line naming the option."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from reelforge.core.errors import ConfigError
from reelforge.core.paths import check_database, check_output_dir, database_location
from reelforge.store import Store
from reelforge.store.engine import opening


def _message(call: object) -> str:
    assert callable(call)
    with pytest.raises(ConfigError) as caught:
        call()
    assert "\n" not in caught.value.message
    return caught.value.message


# -- the output folder --------------------------------------------------------------------------


def test_a_missing_output_folder_is_created_and_left_empty(tmp_path: Path) -> None:
    out = tmp_path / "a" / "b"

    assert check_output_dir(out) == out
    assert out.is_dir()
    assert list(out.iterdir()) == []


def test_an_output_folder_that_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "reelforge-out"
    out.write_text("not a folder", encoding="utf-8")

    assert _message(lambda: check_output_dir(out)) == f"--out {out} is a file, not a folder"


def test_an_output_folder_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    out = tmp_path / "file" / "videos"

    assert _message(lambda: check_output_dir(out)) == (
        f"--out {out}: {tmp_path / 'file'} is a file, not a folder"
    )


def test_a_read_only_output_folder(read_only_dir: Path) -> None:
    assert _message(lambda: check_output_dir(read_only_dir)) == (
        f"--out {read_only_dir}: read-only file system (cannot create files there)"
    )
    assert _message(lambda: check_output_dir(read_only_dir / "new")) == (
        f"--out {read_only_dir / 'new'}: read-only file system (cannot create the folder)"
    )


@pytest.mark.parametrize("folder", ["/proc", "/sys"])
def test_a_kernel_folder_takes_no_files(folder: str) -> None:
    message = _message(lambda: check_output_dir(Path(folder), option="--events-dir"))

    assert message.startswith(f"--events-dir {folder}: ")
    assert message.endswith("(cannot create files there)")


# -- the database -------------------------------------------------------------------------------


def test_a_new_database_file_gets_its_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'state' / 'reelforge.db'}"

    assert check_database(url) == url
    assert (tmp_path / "state").is_dir()
    assert not (tmp_path / "state" / "reelforge.db").exists()


def test_an_existing_database_and_an_empty_file_are_fine(tmp_path: Path) -> None:
    sqlite3.connect(tmp_path / "real.db").close()
    (tmp_path / "empty.db").touch()

    for name in ("real.db", "empty.db"):
        url = f"sqlite:///{tmp_path / name}"
        assert check_database(url) == url


def test_a_folder_is_not_a_database(tmp_path: Path) -> None:
    assert _message(lambda: check_database(f"sqlite:///{tmp_path}")) == (
        f"--db {tmp_path}: is a folder; give a database file path or URL"
    )


def test_a_text_file_is_not_a_database(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("hello", encoding="utf-8")

    assert _message(lambda: check_database(f"sqlite:///{notes}")) == (
        f"--db {notes}: is not a SQLite database (give a database file, or a path where none "
        "exists yet)"
    )


def test_a_database_in_a_read_only_folder(read_only_dir: Path) -> None:
    for name in ("new.db", "existing.db"):
        assert _message(lambda name=name: check_database(f"sqlite:///{read_only_dir / name}")) == (
            f"--db {read_only_dir / name}: read-only file system "
            f"(cannot create files in {read_only_dir})"
        )


def test_a_database_where_no_file_can_be_created() -> None:
    message = _message(lambda: check_database("sqlite:////proc/reelforge.db"))

    assert message.startswith("--db /proc/reelforge.db: ")
    assert message.endswith("(cannot create files in /proc)")


def test_a_database_under_a_file(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")
    db = tmp_path / "file" / "x.db"

    assert _message(lambda: check_database(f"sqlite:///{db}")) == (
        f"--db {db}: {tmp_path / 'file'} is a file, not a folder"
    )


@pytest.mark.parametrize(
    "url",
    [
        "sqlite://",
        "sqlite:///:memory:",
        "sqlite:///file:reelforge?mode=memory&uri=true",
        "postgresql://app:secret@db.invalid/reelforge",
    ],
)
def test_other_databases_pass_through_untouched(url: str) -> None:
    assert check_database(url) == url


def test_an_unknown_driver_or_a_broken_url() -> None:
    assert _message(lambda: check_database("mongodb://app:secret@db/x")).startswith(
        "--db mongodb://app:***@db/x: no database driver 'mongodb'"
    )
    assert _message(lambda: check_database("://nothing")).startswith("--db: not a database URL")


def test_a_database_path_whose_folder_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x", encoding="utf-8")

    assert _message(lambda: database_location("/proc/reelforge/x.db")) == (
        "--db /proc/reelforge/x.db: no such file or directory "
        "(cannot create the folder /proc/reelforge)"
    )
    assert _message(lambda: database_location(str(tmp_path / "file" / "x.db"))) == (
        f"--db {tmp_path / 'file' / 'x.db'}: {tmp_path / 'file'} is a file, not a folder"
    )
    assert database_location(tmp_path / "ok.db") == f"sqlite:///{tmp_path / 'ok.db'}"


def test_a_database_that_cannot_be_opened_is_one_config_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.db"
    broken.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200)  # the header, then garbage
    url = f"sqlite:///{broken}"
    store = Store(url)

    try:
        message = _message(lambda: _migrate(store))
    finally:
        store.close()

    assert message == f"--db {broken}: cannot be opened as a database (file is not a database)"


def _migrate(store: Store) -> None:
    with opening(store.url):
        store.migrate()
