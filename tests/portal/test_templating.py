"""The page filters: Babel's formats, memoised without mixing up zones, locales or formats."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

from babel.dates import format_date, format_datetime
from babel.numbers import format_currency

from portal.templating import make_environment

ENV = make_environment(Path(__file__).resolve().parents[2] / "templates")
MOMENT = datetime(2026, 12, 7, 15, 30, tzinfo=UTC)


def test_datetimes_are_babels_in_each_locale_and_format_also_when_repeated() -> None:
    show = ENV.filters["datetime"]
    for _ in range(2):  # the second time from the memo
        assert show(MOMENT, "en") == format_datetime(MOMENT, format="medium", locale="en_GB")
        assert show(MOMENT, "zh") == format_datetime(MOMENT, format="medium", locale="zh_Hans_CN")
        assert show(MOMENT, "en", "short") == format_datetime(MOMENT, format="short", locale="en_GB")
    assert show(None) == ""


def test_the_same_instant_in_another_zone_is_written_in_that_zone() -> None:
    show = ENV.filters["datetime"]
    singapore = MOMENT.astimezone(timezone(timedelta(hours=8)))
    assert singapore == MOMENT  # equal (and equal hashes) ...
    assert show(MOMENT, "en") != show(singapore, "en")  # ... but not the same text
    assert show(singapore, "en") == format_datetime(singapore, format="medium", locale="en_GB")
    assert "23:30" in show(singapore, "en")


def test_dates_and_money() -> None:
    assert ENV.filters["date"](MOMENT, "en") == format_date(date(2026, 12, 7), format="medium", locale="en_GB")
    assert ENV.filters["money"](123456, "EUR", "en") == format_currency(1234.56, "EUR", locale="en_GB")
    assert ENV.filters["money"](123456, "USD", "zh") == format_currency(1234.56, "USD", locale="zh_Hans_CN")
