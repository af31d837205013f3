"""Per-line validation of partner inventory and sell-through reports.

Every way in (web form, upload, API, CLI) ends here: a row of cells (text from CSV, typed cells
from XLSX) becomes either an accepted, typed line or a rejection listing every problem of the
row (machine-readable `code`, the column it concerns, a translatable message with parameters).

Rules worth knowing (tests/portal/partner/reports/test_validation.py pins each one):

Dates
- XLSX date cells (date or datetime; the time is dropped) are taken as they are.
- Numbers, and numeric text of 5 digits (optionally with a fraction), are Excel serial dates
  (1900 system: day 1 = 1900-01-01; 45 000 = 2023-03-15); only 1990-01-01..2099-12-31 is plausible.
- Year first — `2026-03-15`, `2026/3/5`, `2026.03.15`, `2026年3月15日`, `20260315`, optionally
  followed by a time — is always year-month-day.
- Day and month with the year last — `15/03/2026`, `15.03.2026`, `15-03-26` (two-digit years
  are 20xx) — is day-first when the first number is over 12, month-first when the second one
  is (US exports), and when both are 12 or less (`03/04/2026`) the reading that falls inside
  the reporting period wins; if neither does, day-first (and the line is outside the period).
- English month names: `15-Mar-2026`, `15 March 2026`, `Mar 15, 2026`.
- A date after `today` is `date_future`; outside the period is `date_outside_period`.

Numbers (quantity, unit price)
- Spaces (also no-break and thin), apostrophes and underscores are digit grouping; currency
  signs ($ € £ ¥ ￥ ₩ ₫ ฿ ₱ ₹) are dropped; `-12` and `(12)` are negative.
- With both `,` and `.`, the last one is the decimal separator (`1,234.50`, `1.234,50`).
- A separator that occurs more than once is grouping (`1,234,567`). A single one is grouping
  only when exactly three digits follow it and it is not the file's decimal separator; the
  file's decimal separator is `,` for `;`-delimited CSV, `.` for `,`-delimited CSV, and unknown
  otherwise (tab CSV, text in XLSX), where a lone `,` + 3 digits is grouping and a lone `.` is
  decimal. So an ambiguous value is never silently multiplied by 1000: `1.250` read as 1.25 is
  then rejected as a non-whole quantity or a price with 3 decimals, never stored.
- XLSX numbers are floats: they are read with Excel's 15 significant digits (0.1+0.2 is 0.3).
- Prices become integer hundredths of the currency unit (`unit_price_cents`, as `|money`
  expects for every currency) with `Decimal`, never float; more than 2 decimals is rejected.

Line identity (duplicates within a file and of already accepted lines; per partner — the caller
scopes the accepted keys to the partner):
- inventory: as-of date + location (case/space-folded) + SKU. Quantity is not part of it: a
  second figure for the same place, SKU and day is a duplicate, not an addition.
- sell-through with a serial: SKU + serial (a unit is sold through once; with a serial the
  quantity must be 1).
- sell-through without a serial: sale date + SKU + invoice reference + end customer name +
  postcode (folded). Quantity and price are not part of it: two lines for the same SKU on one
  invoice to one customer must be merged into one line (sum of quantities).
`LineResult.key` is a 32-hex-digit digest of that identity: store it (unique per partner).
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import unicodedata
from array import array
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation

from portal.i18n import N_
from portal.partner.reports.columns import COLUMNS, HeaderMap, Kind
from portal.partner.reports.readers import RawRow

# -- reference data --------------------------------------------------------------------------------
_ISO_4217 = """
AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY
COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR
IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR
MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD
SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYU UZS VES VND VUV WST XAF XCD XOF
XPF YER ZAR ZMW ZWG
"""
CURRENCIES: frozenset[str] = frozenset(_ISO_4217.split())  # ISO 4217, current codes
CURRENCY_ALIASES = {"RMB": "CNY", "NTD": "TWD", "NT$": "TWD", "RM": "MYR", "US$": "USD", "HK$": "HKD", "S$": "SGD", "A$": "AUD"}
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"})
COUNTRY_ALIASES = {
    "UK": "GB",
    "USA": "US",
    "PRC": "CN",
    "MAINLAND CHINA": "CN",
    "中国大陆": "CN",
    "KOREA": "KR",
    "SOUTH KOREA": "KR",
    "HONG KONG": "HK",
    "香港": "HK",
    "MACAU": "MO",
    "MACAO": "MO",
    "澳门": "MO",
    "澳門": "MO",
    "TAIWAN": "TW",
    "台湾": "TW",
    "台灣": "TW",
    "VIETNAM": "VN",
}


def _countries() -> tuple[frozenset[str], dict[str, str]]:
    from babel import Locale

    territories: dict[str, str] = dict(Locale("en").territories)
    codes = frozenset(code for code in territories if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES)
    names: dict[str, str] = {}
    for locale in ("en", "zh", "zh_Hant"):
        localised: dict[str, str] = dict(Locale.parse(locale).territories)
        for code, name in localised.items():
            if code in codes:
                names.setdefault(_fold(name), code)
    for alias, code in COUNTRY_ALIASES.items():
        names[_fold(alias)] = code
    return codes, names


def _fold(text: str) -> str:
    """Case, width and spacing folded: the form text takes inside identity keys."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return " ".join(text.casefold().split())


COUNTRIES, COUNTRY_NAMES = _countries()

# Postcode formats of the markets we sell in (after upper-casing); elsewhere 2-10 letters/digits.
POSTCODE_FORMATS = {
    code: re.compile(pattern)
    for code, pattern in {
        "CN": r"\d{6}",
        "SG": r"\d{6}",
        "IN": r"\d{6}",
        "VN": r"\d{5,6}",
        "MY": r"\d{5}",
        "TH": r"\d{5}",
        "ID": r"\d{5}",
        "KR": r"\d{5}",
        "DE": r"\d{5}",
        "FR": r"\d{5}",
        "IT": r"\d{5}",
        "ES": r"\d{5}",
        "US": r"\d{5}(-\d{4})?",
        "AU": r"\d{4}",
        "NZ": r"\d{4}",
        "PH": r"\d{4}",
        "TW": r"\d{3}(\d{2,3})?",
        "JP": r"\d{3}-?\d{4}",
        "CA": r"[A-Z]\d[A-Z] ?\d[A-Z]\d",
        "GB": r"[A-Z]{1,2}\d[A-Z\d]? ?\d[A-Z]{2}",
        "NL": r"\d{4} ?[A-Z]{2}",
    }.items()
}
_GENERIC_POSTCODE = re.compile(r"[A-Z0-9][A-Z0-9 \-]{1,11}")
# Digits-only formats whose leading zeros Excel drops ("018956" -> 18956): up to two are padded back.
POSTCODE_DIGITS = {
    "CN": 6,
    "SG": 6,
    "IN": 6,
    "MY": 5,
    "TH": 5,
    "ID": 5,
    "KR": 5,
    "DE": 5,
    "FR": 5,
    "IT": 5,
    "ES": 5,
    "US": 5,
    "AU": 4,
    "NZ": 4,
    "PH": 4,
}
NO_POSTCODE = frozenset({"HK", "MO", "AE", "QA", "AO", "AG", "BS", "BZ", "BJ", "BW", "FJ", "GH", "IE", "JM", "KI", "SA", "TT", "ZW"})

MAX_TEXT = {"location": 100, "customer_name": 200, "invoice_ref": 60, "serial": 60, "postcode": 12, "sku": 40}
MAX_QUANTITY = 1_000_000
MAX_PRICE_CENTS = 10**12
EXCEL_EPOCH = date(1899, 12, 30)
FIRST_SERIAL, LAST_SERIAL = (date(1990, 1, 1) - EXCEL_EPOCH).days, (date(2099, 12, 31) - EXCEL_EPOCH).days

DUPLICATE_CODES = frozenset({"duplicate_in_file", "duplicate_accepted"})

# Every code a line can be rejected with, and its message (shown with the column's header).
MESSAGES: dict[str, str] = {
    "required": N_("This value is required."),
    "too_long": N_("Longer than %(max)s characters."),
    "date_invalid": N_("“%(value)s” is not a date we can read (use YYYY-MM-DD)."),
    "date_future": N_("%(date)s is in the future."),
    "date_outside_period": N_("%(date)s is outside the reporting period %(period)s."),
    "quantity_invalid": N_("“%(value)s” is not a number."),
    "quantity_not_integer": N_("“%(value)s” is not a whole number."),
    "quantity_negative": N_("The quantity cannot be negative."),
    "quantity_zero": N_("The quantity sold must be at least 1."),
    "quantity_too_large": N_("The quantity cannot exceed %(max)s."),
    "price_invalid": N_("“%(value)s” is not a price."),
    "price_negative": N_("The price cannot be negative."),
    "price_precision": N_("“%(value)s” has more than two decimals."),
    "price_too_large": N_("The price is too large."),
    "currency_unknown": N_("Unknown currency “%(value)s” (use a three-letter ISO code such as CNY or USD)."),
    "country_unknown": N_("Unknown country “%(value)s” (use a two-letter ISO code such as CN or SG)."),
    "postcode_invalid": N_("“%(value)s” is not a valid postcode for %(country)s."),
    "sku_unknown": N_("Unknown SKU “%(value)s”."),
    "sku_inactive": N_("The SKU %(value)s is no longer active."),
    "serial_unknown": N_("Unknown serial number “%(value)s”."),
    "serial_wrong_sku": N_("The serial number %(value)s belongs to %(actual)s, not to %(sku)s."),
    "serial_quantity": N_("A line with a serial number is for one unit: the quantity must be 1."),
    "duplicate_in_file": N_("The same line as row %(row)s of this file."),
    "duplicate_accepted": N_("This line has already been accepted in an earlier report."),
}

# The stable codes the API and the command line answer with (CONTRACTS.md); the finer code above
# travels beside it as `detail`. Codes outside the contract's list keep a name of the same style.
PUBLIC_CODES: dict[str, str] = {
    "required": "missing_field",
    "too_long": "too_long",
    "date_invalid": "bad_date",
    "date_future": "future_date",
    "date_outside_period": "outside_period",
    "quantity_invalid": "bad_quantity",
    "quantity_not_integer": "bad_quantity",
    "quantity_negative": "bad_quantity",
    "quantity_zero": "bad_quantity",
    "quantity_too_large": "bad_quantity",
    "price_invalid": "bad_price",
    "price_negative": "bad_price",
    "price_precision": "bad_price",
    "price_too_large": "bad_price",
    "currency_unknown": "unknown_currency",
    "country_unknown": "unknown_country",
    "postcode_invalid": "bad_postcode",
    "sku_unknown": "unknown_sku",
    "sku_inactive": "inactive_sku",
    "serial_unknown": "serial_mismatch",
    "serial_wrong_sku": "serial_mismatch",
    "serial_quantity": "bad_quantity",
    "duplicate_in_file": "duplicate",
    "duplicate_accepted": "duplicate",
}
# File-level failures (CONTRACTS.md): only missing columns is told apart.
FILE_PUBLIC_CODES = {"missing_columns": "missing_columns"}


def public_code(code: str) -> str:
    return PUBLIC_CODES.get(code, code)


def public_file_code(code: str) -> str:
    return FILE_PUBLIC_CODES.get(code, "file_unreadable")


# -- values ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Period:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Period:
        """`YYYY-MM` (also `YYYY/MM`, `YYYYMM`). ValueError otherwise."""
        match = re.fullmatch(r"\s*(\d{4})[-/.]?(\d{1,2})\s*", text or "")
        if not match or not 1 <= int(match[2]) <= 12 or int(match[1]) < 1990:
            raise ValueError(f"not a period: {text!r}")
        return cls(int(match[1]), int(match[2]))

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        following = date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return following - timedelta(days=1)

    def __contains__(self, day: object) -> bool:
        return isinstance(day, date) and day.year == self.year and day.month == self.month

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


class Bad(Exception):
    """A value cannot be used: `code` (a MESSAGES key) and the message's parameters."""

    def __init__(self, code: str, **params: object) -> None:
        super().__init__(code)
        self.code = code
        self.params = params


def cell_text(cell: object) -> str:
    """A cell as text: numbers without a spurious `.0`, dates in ISO form, stripped.

    A leading apostrophe before = + - @ (how our exports defuse spreadsheet formulas) is removed."""
    if type(cell) is str:
        text = cell.strip()
        if text[:1] != "'":
            return text
        if len(text) > 1 and text[1] in "=+-@":
            return text[1:]
        return text
    if cell is None:
        return ""
    if isinstance(cell, str):
        text = cell.strip()
        if len(text) > 1 and text[0] == "'" and text[1] in "=+-@":
            return text[1:]
        return text
    if isinstance(cell, bool):
        return "TRUE" if cell else "FALSE"
    if isinstance(cell, int):
        return str(cell)
    if isinstance(cell, float):
        return str(int(cell)) if cell.is_integer() else format(cell, ".15g")
    if isinstance(cell, datetime):
        return cell.date().isoformat() if cell.time() == time() else cell.isoformat(sep=" ")
    if isinstance(cell, date | time):
        return cell.isoformat()
    return str(cell).strip()


_ISO = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}.*)?")
_DAY_MONTH = re.compile(r"(\d{1,2})\s*([-/.])\s*(\d{1,2})\s*\2\s*(\d{4}|\d{2})(?:[ T]\d{1,2}:\d{2}.*)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})")
_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")
_MONTHS = {
    name: number
    for number, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for name in names
}
_DAY_MONTHNAME = re.compile(r"(\d{1,2})[-\s]+([a-z]{3,9})\.?[-\s,]+(\d{4}|\d{2})(?:[ T]\d{1,2}:\d{2}.*)?")
_MONTHNAME_DAY = re.compile(r"([a-z]{3,9})\.?\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})(?:[ T]\d{1,2}:\d{2}.*)?")


def _year(text: str) -> int:
    return 2000 + int(text) if len(text) == 2 else int(text)


def _date(year: int, month: int, day: int, raw: object) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise Bad("date_invalid", value=_show(raw)) from None


def _from_serial(number: float, raw: object) -> date:
    if not FIRST_SERIAL <= number <= LAST_SERIAL + 1:
        raise Bad("date_invalid", value=_show(raw))
    return EXCEL_EPOCH + timedelta(days=int(number))


def parse_date(cell: object, period: Period | None = None) -> date:
    """A cell as a date (see the module docstring for the rules). Raises Bad('date_invalid')."""
    if isinstance(cell, datetime):
        return cell.date()
    if isinstance(cell, date):
        return cell
    if isinstance(cell, bool | time):
        raise Bad("date_invalid", value=_show(cell))
    if isinstance(cell, int | float):
        return _from_serial(cell, cell)
    text = cell_text(cell)
    if len(text) == 10 and text[4] == "-" and text[7] == "-":  # the common case, fast
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    if match := _ISO.fullmatch(text):
        return _date(int(match[1]), int(match[2]), int(match[3]), cell)
    if match := _DAY_MONTH.fullmatch(text):
        first, second, year = int(match[1]), int(match[3]), _year(match[4])
        if first > 12 or second > 12:
            day, month = (first, second) if first > 12 else (second, first)
            return _date(year, month, day, cell)
        day_first = _date(year, second, first, cell)
        if period is not None and day_first not in period:
            month_first = _date(year, first, second, cell)
            if month_first in period:
                return month_first
        return day_first
    if match := _COMPACT.fullmatch(text):
        return _date(int(match[1]), int(match[2]), int(match[3]), cell)
    if _SERIAL.fullmatch(text):
        return _from_serial(float(text), cell)
    lowered = text.lower()
    if (match := _DAY_MONTHNAME.fullmatch(lowered)) and match[2] in _MONTHS:
        return _date(_year(match[3]), _MONTHS[match[2]], int(match[1]), cell)
    if (match := _MONTHNAME_DAY.fullmatch(lowered)) and match[1] in _MONTHS:
        return _date(int(match[3]), _MONTHS[match[1]], int(match[2]), cell)
    raise Bad("date_invalid", value=_show(cell))


_PLAIN_PRICE = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?")
_GROUPING = str.maketrans("", "", " \u00a0\u202f\u2009\u2007'’_")
_SIGNS = "$€£¥￥₩₫฿₱₹"
_PLAIN_NUMBER = re.compile(r"[0-9.,]+")
_GROUPED = {",": re.compile(r"\d{1,3}(?:,\d{3})+"), ".": re.compile(r"\d{1,3}(?:\.\d{3})+")}


def parse_decimal(cell: object, decimal_comma: bool | None, bad: str = "quantity_invalid") -> Decimal:
    """A cell as a Decimal (see the module docstring for the separator rules). Raises Bad(bad)."""
    if isinstance(cell, bool):
        raise Bad(bad, value=_show(cell))
    if isinstance(cell, int):
        return Decimal(cell)
    if isinstance(cell, float):
        if cell != cell or cell in (float("inf"), float("-inf")):
            raise Bad(bad, value=_show(cell))
        return Decimal(format(cell, ".15g"))
    if isinstance(cell, Decimal):
        return cell
    text = cell_text(cell)
    if text.isdigit() and text.isascii():  # the common case, fast
        return Decimal(text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = text.translate(_GROUPING).strip(_SIGNS)
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip(_SIGNS)
    elif text.startswith("-"):
        negative, text = True, text[1:].strip(_SIGNS)
    elif text.endswith("-"):
        negative, text = True, text[:-1]
    elif text.startswith("+"):
        text = text[1:]
    if not text or not _PLAIN_NUMBER.fullmatch(text) or not any(ch.isdigit() for ch in text):
        raise Bad(bad, value=_show(cell))
    commas, dots = text.count(","), text.count(".")
    if commas and dots:
        decimal_sep = "," if text.rindex(",") > text.rindex(".") else "."
        group_sep = "." if decimal_sep == "," else ","
        whole, _, fraction = text.rpartition(decimal_sep)
        if whole.count(decimal_sep) or not _GROUPED[group_sep].fullmatch(whole):
            raise Bad(bad, value=_show(cell))
        text = whole.replace(group_sep, "") + "." + fraction
    elif commas or dots:
        sep = "," if commas else "."
        whole, _, fraction = text.partition(sep)
        file_decimal = {True: ",", False: "."}.get(decimal_comma) if decimal_comma is not None else None
        if file_decimal is None:
            grouping = (sep == "," and len(fraction) == 3) or text.count(sep) > 1
        else:
            grouping = text.count(sep) > 1 or (sep != file_decimal and len(fraction) == 3)
        if grouping:
            if not _GROUPED[sep].fullmatch(text):
                raise Bad(bad, value=_show(cell))
            text = text.replace(sep, "")
        else:
            if not whole and not fraction:
                raise Bad(bad, value=_show(cell))
            text = (whole or "0") + "." + fraction
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise Bad(bad, value=_show(cell)) from None
    return -value if negative else value


def _show(cell: object) -> str:
    text = cell_text(cell)
    return text if len(text) <= 40 else text[:39] + "…"


def normalise_sku(cell: object) -> str:
    text = cell_text(cell)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
        text = re.sub(r"[\u2010-\u2015\u2212]", "-", text)
    return "".join(text.split()).upper()


def normalise_serial(cell: object) -> str:
    """As portal.customer.warranty.normalise_serial (capitals, no spaces), also full-width."""
    text = cell_text(cell)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return "".join(text.split()).upper()


def parse_currency(cell: object, accepted: Collection[str] = CURRENCIES) -> str:
    text = cell_text(cell)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    code = "".join(text.split()).upper()
    code = CURRENCY_ALIASES.get(code, code)
    if code not in accepted:
        raise Bad("currency_unknown", value=_show(cell))
    return code


def parse_country(cell: object) -> str:
    text = cell_text(cell)
    upper = text.upper()
    if upper in COUNTRIES:
        return upper
    code = COUNTRY_NAMES.get(_fold(text))
    if code is None:
        raise Bad("country_unknown", value=_show(cell))
    return code


def parse_postcode(cell: object, country: str | None) -> str:
    text = cell_text(cell)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    text = " ".join(text.upper().split())
    if country is None:
        return text
    if not text:
        if country in NO_POSTCODE:
            return ""
        raise Bad("required")
    digits = POSTCODE_DIGITS.get(country)
    if digits and text.isdigit() and digits - 2 <= len(text) < digits:  # at most two zeros lost
        text = text.zfill(digits)
    pattern = POSTCODE_FORMATS.get(country, _GENERIC_POSTCODE)
    if not pattern.fullmatch(text):
        raise Bad("postcode_invalid", value=_show(cell), country=country)
    return text


# -- lines -----------------------------------------------------------------------------------------
def _digest(text: str, size: int = 16) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=size).digest()


@dataclass(frozen=True, slots=True)
class InventoryLine:
    as_of: date
    location: str
    sku: str
    quantity: int

    def identity(self) -> str:
        return f"inventory|{self.as_of.isoformat()}|{_fold(self.location)}|{self.sku}"

    def content(self) -> str:
        return f"{self.identity()}|{self.quantity}"


@dataclass(frozen=True, slots=True)
class SellThroughLine:
    sold_on: date
    sku: str
    quantity: int
    unit_price_cents: int
    currency: str
    customer_name: str
    country: str
    postcode: str
    serial: str | None
    invoice_ref: str

    def identity(self) -> str:
        if self.serial:
            return f"sell_through|serial|{self.sku}|{self.serial}"
        ref = "".join(_fold(self.invoice_ref).split())
        postcode = "".join(self.postcode.split())
        return f"sell_through|{self.sold_on.isoformat()}|{self.sku}|{ref}|{_fold(self.customer_name)}|{postcode}"

    def content(self) -> str:
        return (
            f"sell_through|{self.sold_on.isoformat()}|{self.sku}|{self.quantity}|{self.unit_price_cents}|{self.currency}|"
            f"{self.customer_name}|{self.country}|{self.postcode}|{self.serial or ''}|{self.invoice_ref}"
        )


Line = InventoryLine | SellThroughLine


def line_key(line: Line) -> str:
    """The line's identity as 32 hex digits (what the caller stores, unique per partner)."""
    return _digest(line.identity()).hex()


@dataclass(frozen=True, slots=True)
class Problem:
    field: str | None  # canonical column name, None for the whole line
    code: str
    params: Mapping[str, object] = dataclasses.field(default_factory=dict)

    @property
    def message(self) -> str:
        """The untranslated message (an N_ msgid with %(name)s placeholders)."""
        return MESSAGES[self.code]

    def render(self, gettext: Callable[..., str] | None = None) -> str:
        if gettext is None:
            return self.message % self.params if self.params else self.message
        return gettext(self.message, **self.params)


@dataclass(frozen=True, slots=True)
class LineResult:
    row: int  # as the spreadsheet shows it
    cells: tuple[object, ...]  # the row as read, for the rejected-lines export
    line: Line | None  # the typed line when accepted
    problems: tuple[Problem, ...] = ()
    key: str | None = None  # identity digest (also on a rejected line when its identity could be read)

    @property
    def accepted(self) -> bool:
        return not self.problems

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(problem.code for problem in self.problems)


def describe(
    result: LineResult,
    header: HeaderMap | None = None,
    gettext: Callable[..., str] | None = None,
    kind: Kind | None = None,
) -> str:
    """All problems of a line in one sentence each, prefixed by the column: as the file names it
    (`header`), else the column's translated label."""
    kind = header.kind if header is not None else kind
    parts = []
    for problem in result.problems:
        text = problem.render(gettext)
        if problem.field:
            label = header.header_of(problem.field) if header is not None else None
            if not label:
                labels = [c.label for c in COLUMNS[kind] if c.name == problem.field] if kind is not None else []
                label = labels[0] if labels else problem.field
                label = gettext(label) if gettext is not None else label
            text = f"{label}: {text}"
        parts.append(text)
    return "; ".join(parts)


# -- context ---------------------------------------------------------------------------------------
SerialLookup = Callable[[frozenset[str]], Mapping[str, str]]
"""Given serials (normalised), returns serial -> SKU for those that exist. Called once per batch."""
AcceptedLookup = Callable[[frozenset[str]], Collection[str]]
"""Given line keys, returns those already accepted (for this partner). Called once per batch."""


def _no_serials(serials: frozenset[str]) -> Mapping[str, str]:
    return {}


def _nothing_accepted(keys: frozenset[str]) -> Collection[str]:
    return ()


def serials_from(mapping: Mapping[str, str]) -> SerialLookup:
    """A SerialLookup over an in-memory serial -> SKU mapping (tests, small catalogues)."""
    return lambda serials: {s: mapping[s] for s in serials if s in mapping}


def accepted_from(keys: Collection[str]) -> AcceptedLookup:
    """An AcceptedLookup over an in-memory collection of keys."""
    return lambda wanted: {k for k in wanted if k in keys}


@dataclass(frozen=True)
class ValidationContext:
    period: Period
    today: date
    skus: Mapping[str, bool]  # SKU -> active
    serial_skus: SerialLookup = _no_serials
    accepted_keys: AcceptedLookup = _nothing_accepted
    currencies: frozenset[str] = CURRENCIES
    reject_unknown_serials: bool = True
    max_quantity: int = MAX_QUANTITY


# -- the validator ---------------------------------------------------------------------------------
class SeenLines:
    """The lines of the file so far: 64-bit line-key prefix -> first row, in two flat arrays with
    open addressing. A dict of a million such ints takes ~110 MB (an object per key and per row
    number); this takes 12 bytes per slot at a load of at most a half (~24 MB), which keeps a
    1,000,000-line file under the 200 MB budget. Keys are uniform hash bits: the low bits index."""

    __slots__ = ("_keys", "_mask", "_rows", "_used")

    def __init__(self, capacity: int = 1 << 12) -> None:
        self._keys = array("Q", bytes(8 * capacity))
        self._rows = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        self._used = 0

    def get(self, key: int) -> int | None:
        key = key or 1  # 0 marks a free slot
        keys, mask = self._keys, self._mask
        slot = key & mask
        while True:
            found = keys[slot]
            if found == key:
                return self._rows[slot]
            if found == 0:
                return None
            slot = (slot + 1) & mask

    def add(self, key: int, row: int) -> None:
        """Record `key` at `row` (the caller has checked it is absent)."""
        if 2 * (self._used + 1) > len(self._keys):
            self._grow()
        key = key or 1
        keys, mask = self._keys, self._mask
        slot = key & mask
        while keys[slot] != 0:
            slot = (slot + 1) & mask
        keys[slot] = key
        self._rows[slot] = row
        self._used += 1

    def _grow(self) -> None:
        old_keys, old_rows = self._keys, self._rows
        capacity = 2 * len(old_keys)
        self._keys = array("Q", bytes(8 * capacity))
        self._rows = array("I", bytes(4 * capacity))
        self._mask = capacity - 1
        self._used = 0
        for key, row in zip(old_keys, old_rows, strict=True):
            if key:
                self.add(key, row)

    def __len__(self) -> int:
        return self._used


@dataclass(slots=True)
class _Draft:
    row: RawRow
    line: Line | None
    problems: list[Problem]
    key: str | None
    sku: str | None = None
    serial: str | None = None


class Validator:
    """Validates the rows of one file, batch by batch, in order.

    Remembers the lines accepted so far (8 bytes of their key + row, ~100 bytes a line) to find
    duplicates within the file, and accumulates the data fingerprint."""

    def __init__(self, kind: Kind, header: HeaderMap, context: ValidationContext, decimal_comma: bool | None = None) -> None:
        self.kind = kind
        self.header = header
        self.context = context
        self.decimal_comma = decimal_comma
        self._positions = header.positions
        missing = 1 << 30  # beyond any row: the cell reads as None
        self._order = tuple(header.positions.get(column.name, missing) for column in COLUMNS[kind])
        self._widest = max(self._order)
        self._seen = SeenLines()
        self._data_sum = 0
        self._data_count = 0

    # Every line that is valid except for being a duplicate counts: the data of the file.
    @property
    def data_fingerprint(self) -> str:
        """Order-independent digest of the file's valid lines (multiset hash): the same data in
        another encoding, delimiter, order or format has the same fingerprint."""
        total = (self._data_sum % (1 << 256)).to_bytes(32, "big")
        return hashlib.sha256(f"{self.kind}|{self._data_count}|".encode() + total).hexdigest()

    def validate(self, rows: Sequence[RawRow]) -> list[LineResult]:
        drafts = [self._parse(row) for row in rows]
        serials = frozenset(d.serial for d in drafts if d.serial and d.sku)
        serial_skus = self.context.serial_skus(serials) if serials else {}
        keys = frozenset(d.key for d in drafts if d.key)
        accepted = self.context.accepted_keys(keys) if keys else ()
        results = []
        for draft in drafts:
            if draft.serial and draft.sku:
                actual = serial_skus.get(draft.serial)
                if actual is None:
                    if self.context.reject_unknown_serials:
                        draft.problems.append(Problem("serial", "serial_unknown", {"value": draft.serial}))
                elif actual != draft.sku:
                    draft.problems.append(
                        Problem("serial", "serial_wrong_sku", {"value": draft.serial, "actual": actual, "sku": draft.sku})
                    )
            key = draft.key
            if key is not None:
                if not draft.problems and draft.line is not None:
                    self._data_sum += int.from_bytes(_digest(draft.line.content(), 32), "big")
                    self._data_count += 1
                if key in accepted:
                    draft.problems.append(Problem(None, "duplicate_accepted"))
                short = int(key[:16], 16)
                first = self._seen.get(short)
                if first is not None:
                    draft.problems.append(Problem(None, "duplicate_in_file", {"row": first}))
                elif not draft.problems:
                    self._seen.add(short, draft.row.number)
            if draft.problems:
                results.append(LineResult(draft.row.number, draft.row.cells, None, tuple(draft.problems), key))
            else:
                results.append(LineResult(draft.row.number, draft.row.cells, draft.line, (), key))
        return results

    def validate_row(self, row: RawRow) -> LineResult:
        return self.validate([row])[0]

    # -- one row ---------------------------------------------------------------------------------
    def _cells(self, cells: tuple[object, ...]) -> list[object]:
        """The row's cells in the order of the kind's columns (None where absent)."""
        if len(cells) > self._widest:
            return [cells[p] for p in self._order]
        n = len(cells)
        return [cells[p] if p < n else None for p in self._order]

    def _parse(self, row: RawRow) -> _Draft:
        if self.kind is Kind.INVENTORY:
            return self._parse_inventory(row)
        return self._parse_sell_through(row)

    def _text(self, name: str, cell: object, problems: list[Problem], required: bool = True) -> str:
        text = cell_text(cell)
        if not text:
            if required:
                problems.append(Problem(name, "required"))
            return ""
        text = " ".join(text.split())
        limit = MAX_TEXT.get(name)
        if limit and len(text) > limit:
            problems.append(Problem(name, "too_long", {"max": limit}))
        return text

    def _day(self, name: str, cell: object, problems: list[Problem]) -> date | None:
        period = self.context.period
        day: date | None = None
        if type(cell) is str and len(cell) == 10 and cell[4] == "-" and cell[7] == "-":  # the common case, fast
            try:
                day = date.fromisoformat(cell)
            except ValueError:
                day = None
        if day is None:
            if cell_text(cell) == "":
                problems.append(Problem(name, "required"))
                return None
            try:
                day = parse_date(cell, period)
            except Bad as exc:
                problems.append(Problem(name, exc.code, exc.params))
                return None
        if day > self.context.today:
            problems.append(Problem(name, "date_future", {"date": day.isoformat()}))
        elif day not in period:
            problems.append(Problem(name, "date_outside_period", {"date": day.isoformat(), "period": str(period)}))
        return day

    def _sku(self, cell: object, problems: list[Problem]) -> str | None:
        sku = normalise_sku(cell)
        if not sku:
            problems.append(Problem("sku", "required"))
            return None
        active = self.context.skus.get(sku)
        if active is None:
            problems.append(Problem("sku", "sku_unknown", {"value": _show(cell)}))
            return None
        if not active:
            problems.append(Problem("sku", "sku_inactive", {"value": sku}))
        return sku

    def _quantity(self, cell: object, problems: list[Problem], allow_zero: bool) -> int | None:
        if isinstance(cell, str) and cell.isdigit() and cell.isascii():  # the common case, fast
            value = Decimal(int(cell))
        elif cell_text(cell) == "":
            problems.append(Problem("quantity", "required"))
            return None
        else:
            try:
                value = parse_decimal(cell, self.decimal_comma)
            except Bad as exc:
                problems.append(Problem("quantity", exc.code, exc.params))
                return None
        if value != value.to_integral_value():
            problems.append(Problem("quantity", "quantity_not_integer", {"value": _show(cell)}))
            return None
        quantity = int(value)
        if quantity < 0:
            problems.append(Problem("quantity", "quantity_negative"))
        elif quantity == 0 and not allow_zero:
            problems.append(Problem("quantity", "quantity_zero"))
        elif quantity > self.context.max_quantity:
            problems.append(Problem("quantity", "quantity_too_large", {"max": self.context.max_quantity}))
        return quantity

    def _price(self, cell: object, problems: list[Problem]) -> int | None:
        if type(cell) is str and self.decimal_comma is not True and (plain := _PLAIN_PRICE.fullmatch(cell)):  # the common case, fast
            return int(plain[1]) * 100 + int((plain[2] or "").ljust(2, "0"))
        if cell_text(cell) == "":
            problems.append(Problem("unit_price", "required"))
            return None
        try:
            value = parse_decimal(cell, self.decimal_comma, bad="price_invalid")
        except Bad as exc:
            problems.append(Problem("unit_price", exc.code, exc.params))
            return None
        cents = value * 100
        if cents != cents.to_integral_value():
            problems.append(Problem("unit_price", "price_precision", {"value": _show(cell)}))
            return None
        if cents < 0:
            problems.append(Problem("unit_price", "price_negative"))
            return None
        if cents > MAX_PRICE_CENTS:
            problems.append(Problem("unit_price", "price_too_large"))
            return None
        return int(cents)

    def _parse_inventory(self, row: RawRow) -> _Draft:
        as_of_cell, location_cell, sku_cell, quantity_cell = self._cells(row.cells)
        problems: list[Problem] = []
        as_of = self._day("as_of", as_of_cell, problems)
        location = self._text("location", location_cell, problems)
        sku = self._sku(sku_cell, problems)
        quantity = self._quantity(quantity_cell, problems, allow_zero=True)
        if as_of is None or not location or sku is None or quantity is None:
            return _Draft(row, None, problems, None)
        line = InventoryLine(as_of, location, sku, quantity)
        return _Draft(row, line, problems, line_key(line))

    def _parse_sell_through(self, row: RawRow) -> _Draft:
        (
            sold_on_cell,
            sku_cell,
            quantity_cell,
            price_cell,
            currency_cell,
            customer_cell,
            country_cell,
            postcode_cell,
            serial_cell,
            invoice_cell,
        ) = self._cells(row.cells)
        problems: list[Problem] = []
        sold_on = self._day("sold_on", sold_on_cell, problems)
        sku = self._sku(sku_cell, problems)
        quantity = self._quantity(quantity_cell, problems, allow_zero=False)
        price = self._price(price_cell, problems)
        currency: str | None = None
        if type(currency_cell) is str and currency_cell in self.context.currencies:  # the common case, fast
            currency = currency_cell
        elif cell_text(currency_cell) == "":
            problems.append(Problem("currency", "required"))
        else:
            try:
                currency = parse_currency(currency_cell, self.context.currencies)
            except Bad as exc:
                problems.append(Problem("currency", exc.code, exc.params))
        customer = self._text("customer_name", customer_cell, problems)
        country: str | None = None
        if type(country_cell) is str and country_cell in COUNTRIES:  # the common case, fast
            country = country_cell
        elif cell_text(country_cell) == "":
            problems.append(Problem("country", "required"))
        else:
            try:
                country = parse_country(country_cell)
            except Bad as exc:
                problems.append(Problem("country", exc.code, exc.params))
        postcode: str | None = None
        try:
            postcode = parse_postcode(postcode_cell, country)
        except Bad as exc:
            problems.append(Problem("postcode", exc.code, exc.params))
        if postcode and len(postcode) > MAX_TEXT["postcode"]:
            problems.append(Problem("postcode", "too_long", {"max": MAX_TEXT["postcode"]}))
        serial = normalise_serial(serial_cell) or None
        if serial is not None:
            if len(serial) > MAX_TEXT["serial"]:
                problems.append(Problem("serial", "too_long", {"max": MAX_TEXT["serial"]}))
            if quantity is not None and quantity > 1:
                problems.append(Problem("quantity", "serial_quantity"))
        invoice_ref = self._text("invoice_ref", invoice_cell, problems)
        if (
            sold_on is None
            or sku is None
            or quantity is None
            or price is None
            or currency is None
            or not customer
            or country is None
            or postcode is None
            or not invoice_ref
        ):
            return _Draft(row, None, problems, None, sku, serial)
        line = SellThroughLine(sold_on, sku, quantity, price, currency, customer, country, postcode, serial, invoice_ref)
        return _Draft(row, line, problems, line_key(line), sku, serial)
