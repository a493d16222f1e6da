"""Files a reader gets wrong: encodings, blank files, huge headers and fields, duplicate
names and names that look like glob patterns. Each says what is wrong, and nothing changes."""

from __future__ import annotations

from pathlib import Path

import pytest

from segmentation.errors import InvalidInputError
from segmentation.ingest import ingest
from segmentation.store import Database
from tests.test_ingest import db, loaded, snapshot, write

__all__ = ["db", "loaded"]  # the fixtures, shared with test_ingest


def test_utf16_file_with_bom_is_read(loaded: Database, tmp_path: Path) -> None:
    # Excel's "Unicode Text": UTF-16 LE with a BOM, tab separated.
    text = "profile_id\tcity\tage\np9\tZürich\t31\np10\tMünchen\t\n"
    path = write(tmp_path, "unicode.txt", text.encode("utf-16"))
    report = ingest(loaded, "profiles", path, mode="append")
    assert report.rows_loaded == 2
    assert any("UTF-16" in w for w in report.warnings)
    assert loaded.rows("SELECT city, age FROM profiles WHERE profile_id = 'p9'") == [("Zürich", 31)]


def test_file_name_with_brackets_is_a_name_not_a_glob(loaded: Database, tmp_path: Path) -> None:
    write(tmp_path, "profiles1.csv", "profile_id,age\nWRONG,1\n")  # what the glob matches
    path = write(tmp_path, "profiles[1].csv", "profile_id,age\np9,33\n")
    report = ingest(loaded, "profiles", path, mode="append")
    assert report.rows_loaded == 1
    ids = [r[0] for r in loaded.rows("SELECT profile_id FROM profiles ORDER BY 1")]
    assert ids == ["p1", "p2", "p3", "p9"]


def test_parquet_name_with_glob_characters(loaded: Database, tmp_path: Path) -> None:
    con = loaded.connection()
    con.sql("SELECT 'p8' AS profile_id, 7 AS age").write_parquet(str(tmp_path / "a*b?.parquet"))
    con.sql("SELECT 'WRONG' AS profile_id, 1 AS age").write_parquet(str(tmp_path / "axbc.parquet"))
    ingest(loaded, "profiles", tmp_path / "a*b?.parquet", mode="append")
    assert loaded.scalar("SELECT count(*) FROM profiles WHERE profile_id = 'WRONG'") == 0
    assert loaded.scalar("SELECT age FROM profiles WHERE profile_id = 'p8'") == 7


WIDE_HEADER = "profile_id," + ",".join(f"c{i}" for i in range(1_000_000)) + "\n"

BAD_FILES = [
    pytest.param(
        "blank.csv",
        "\n\n   \n\r\n",
        ["blank.csv holds only blank lines: there is no header and no rows to load."],
        id="blank-lines-only",
    ),
    pytest.param(
        "wide.csv",
        WIDE_HEADER + "p9" + "," * 1_000_000 + "\n",
        ["wide.csv: the header (line 1) is longer than 2,000,000 bytes", "at most 5,000 columns"],
        id="million-column-header",
    ),
    pytest.param(
        "wide.csv",
        "profile_id," + ",".join(f"c{i}" for i in range(6000)) + "\np9\n",
        ["wide.csv: the header (line 1) has 6,001 fields; a table can have at most 5,000"],
        id="too-many-columns",
    ),
    pytest.param(
        "field.csv",
        "profile_id,bio\np9,short\np10," + "y" * 10_000_000 + "\n",
        [
            "field.csv",
            "line 3 is 10,000,005 bytes long, over the 2,000,000-byte maximum for one row",
        ],
        id="ten-megabyte-field",
    ),
    pytest.param(
        "dups.csv",
        "profile_id,name,profile_id\np9,Ada,p10\n",
        ["dups.csv has two columns named 'profile_id': column 1 and column 3"],
        id="duplicate-column",
    ),
    pytest.param(
        "dups.csv",
        "profile_id;Name;age;name\np9;Ada;3;ada\n",
        ["dups.csv has two columns named 'Name': column 2 and column 4 ('name')"],
        id="duplicate-column-other-case",
    ),
    pytest.param(
        "u32.csv",
        "profile_id\np9\n".encode("utf-32"),
        ["u32.csv is UTF-32 text: save it as UTF-8"],
        id="utf32",
    ),
]


@pytest.mark.parametrize(("name", "content", "fragments"), BAD_FILES)
def test_bad_files_say_what_is_wrong_and_change_nothing(
    loaded: Database, tmp_path: Path, name: str, content: str | bytes, fragments: list[str]
) -> None:
    before = snapshot(loaded)
    path = write(tmp_path, name, content)
    with pytest.raises(InvalidInputError) as err:
        ingest(loaded, "profiles", path, mode="append")
    for fragment in fragments:
        assert fragment in err.value.message
    assert "CSV Error on Line" not in err.value.message
    assert snapshot(loaded) == before
