"""Property tests for the open-ended inputs: WHEN values and the duplicate-check keys."""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

import pytest
from conftest import NOW
from hypothesis import example, given
from hypothesis import strategies as st

from crmpool.normalize import company_id_key, email_key, name_key, phone_key
from crmpool.when import BadWhen, from_stored, parse_when, stored


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1),
                    timezones=st.just(UTC)))
def test_stored_times_round_trip_and_sort_as_text(moment):
    moment = moment.replace(microsecond=0)
    text = stored(moment)
    assert len(text) == 20 and from_stored(text) == moment
    later = stored(moment + timedelta(seconds=1))
    assert later > text


@given(st.integers(min_value=1, max_value=5000), st.sampled_from(["d", "w", "h"]),
       st.sampled_from(["+", "-"]))
def test_durations_move_by_exact_spans(n, unit, sign):
    span = {"d": timedelta(days=n), "w": timedelta(weeks=n), "h": timedelta(hours=n)}[unit]
    expected = NOW + span if sign == "+" else NOW - span
    assert parse_when(f"{sign}{n}{unit}", NOW) == expected


def test_months_and_years_are_calendar_spans():
    jan31 = datetime(2027, 1, 31, 2, 0, tzinfo=UTC)  # 10:00 in Beijing
    assert parse_when("+1mo", jan31).date().isoformat() == "2027-02-28"
    assert parse_when("-1y", NOW) == datetime(2025, 11, 23, 10, 0, tzinfo=UTC)


def test_named_and_iso_times_are_local():
    # Tests run in Asia/Shanghai (UTC+8).
    assert parse_when("2026-12-01", NOW) == datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    assert parse_when("2026-12-01T09:30", NOW) == datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    assert parse_when("2026-12-01T09:30Z", NOW) == datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    assert parse_when("today", NOW) == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert parse_when("NOW", NOW) == NOW


@given(st.text(max_size=12))
def test_anything_else_is_refused_cleanly(text):
    try:
        parse_when(text, NOW)
    except BadWhen as exc:
        assert str(exc)


@pytest.mark.parametrize("bad", ["", "  ", "+30", "30d", "+3m", "+1.5d", "+d", "tomorrow",
                                 "2026-13-01", "2026-02-30", "++3d"])
def test_bad_when_values(bad):
    with pytest.raises(BadWhen):
        parse_when(bad, NOW)


MOBILE = st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True)


@given(MOBILE, st.sampled_from(["{}", "+86 {}", "+86-{}", "(0086){}", "0086 {}", "86{}",
                                "+86 {a}-{b}-{c}", "{a} {b} {c}", "（０086）{}"]))
def test_phone_forms_fold_to_one_key(number, form):
    written = form.format(number, a=number[:3], b=number[3:7], c=number[7:])
    assert phone_key(written) == number


@given(MOBILE)
def test_full_width_digits_fold(number):
    full = "".join(chr(ord(d) + 0xFEE0) for d in number)
    assert phone_key(full) == number


def test_landlines_keep_their_area_code():
    assert phone_key("+86 10 6512 3456") == phone_key("010-6512-3456") == "01065123456"
    assert phone_key("") is None and phone_key("n/a") is None


NAME_CORE = st.text(alphabet=string.ascii_letters + "星辰科技云帆物流", min_size=2,
                    max_size=12).filter(lambda s: s.strip() and not s.lower().endswith(
                        ("co", "inc", "ltd", "llc", "corp", "plc", "limited", "company",
                         "gmbh", "公司")))


@given(NAME_CORE, st.sampled_from(["有限公司", "有限责任公司", "股份有限公司", " Co., Ltd.",
                                   " Inc.", " co ltd", " LIMITED", " Corp.", ""]))
def test_company_suffixes_width_case_and_spacing_fold(core, suffix):
    plain = name_key(core)
    assert name_key(core + suffix) == plain
    assert name_key(core.upper() + suffix) == plain
    spaced = " ".join(core) + suffix
    assert name_key(spaced) == plain
    full_width = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in core)
    assert name_key(full_width + suffix) == plain


def test_names_that_merely_end_like_a_suffix_are_kept():
    assert name_key("Costco") == "costco"
    assert name_key("Disco Inc.") == "disco"
    assert name_key("公司") == "公司"


@given(st.emails())
def test_email_key_is_case_and_space_insensitive(address):
    assert email_key(f"  {address.upper()} ") == email_key(address) == address.lower()


def test_company_id_key():
    assert company_id_key("9111 0105-ma01abcd1x") == "91110105MA01ABCD1X"


NAME_TEXT = st.text(alphabet="有限责任股份集团公司客户科技AaIiNnCcLlTtDdOo19 .,（）_-ＡＩ",
                    max_size=14)


@given(NAME_TEXT)
# Found by this test: a name that is only a legal form, and one legal form after another.
@example("有限责任公司")
@example("有限公司有限公司")
def test_name_key_shortcut_matches_the_general_road(raw):
    import unicodedata

    from crmpool.normalize import folded_name_key

    folded = unicodedata.normalize("NFKC", raw).casefold().strip()
    assert name_key(raw) == (folded_name_key(folded) if raw else None)


KEY_TEXT = st.one_of(
    MOBILE, st.text(alphabet="0123456789 +-()（）０８６abcXYZ@.é\t\x1f", max_size=16),
    st.emails().map(lambda e: e.upper()))


@given(KEY_TEXT)
def test_sql_fast_paths_give_the_python_keys(text):
    import sqlite3

    from crmpool.normalize import (
        company_id_key_sql,
        email_key_sql,
        phone_key_sql,
        register_key_functions,
    )

    conn = sqlite3.connect(":memory:")
    register_key_functions(conn)
    cell = text.strip() or None  # cells reach the SQL trimmed, empty as NULL
    got = conn.execute(f"SELECT {phone_key_sql('?1')}, {email_key_sql('?1')},"
                       f" {company_id_key_sql('?1')}", (cell,)).fetchone()
    assert got == (phone_key(cell), email_key(cell), company_id_key(cell))
