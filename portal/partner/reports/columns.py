"""The columns of the two partner report kinds, and how a file's header row maps onto them.

Each column has a canonical name (the key of the typed values), an English and a Chinese
header (the templates use them) and aliases seen in real exports. Header text is compared
after `normalise_header`: Unicode NFKC (full-width letters, digits and brackets become
ASCII), BOM and zero-width characters dropped, case folded, and every space, underscore,
hyphen, dot, slash, colon and asterisk removed — so "Unit_Price", "unit price", "ＵＮＩＴ　ＰＲＩＣＥ",
"Unit-Price*" and "\\ufeffunit price" are the same header.

`map_header` finds the required columns, ignores (and lists) unknown ones, and ignores the
`error` column of our own rejected-lines export so that file can be fixed and re-uploaded as is.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from portal.i18n import N_


class Kind(StrEnum):
    INVENTORY = "inventory"
    SELL_THROUGH = "sell_through"


@dataclass(frozen=True)
class Column:
    name: str
    en: str
    zh: str
    label: str  # translatable label (N_), used in messages when the file's own header is unknown
    required: bool = True
    aliases: tuple[str, ...] = ()

    def header(self, language: str) -> str:
        return self.zh if language == "zh" else self.en


INVENTORY_COLUMNS: tuple[Column, ...] = (
    Column(
        "as_of",
        "As-of date",
        "截至日期",
        N_("As-of date"),
        aliases=("as of", "date", "stock date", "inventory date", "snapshot date", "日期", "库存日期", "盘点日期", "统计日期"),
    ),
    Column(
        "location",
        "Location",
        "库存地点",
        N_("Location"),
        aliases=("warehouse", "site", "store", "branch", "stock location", "仓库", "地点", "库位", "门店", "仓库地点", "位置"),
    ),
    Column(
        "sku",
        "SKU",
        "产品编码",
        N_("SKU"),
        aliases=(
            "product code",
            "item code",
            "part number",
            "part no",
            "model",
            "product",
            "item",
            "型号",
            "产品型号",
            "物料编码",
            "料号",
            "商品编码",
        ),
    ),
    Column(
        "quantity",
        "Quantity on hand",
        "库存数量",
        N_("Quantity on hand"),
        aliases=("quantity", "qty", "qty on hand", "on hand", "stock", "stock qty", "数量", "库存", "现有库存", "在库数量"),
    ),
)

SELL_THROUGH_COLUMNS: tuple[Column, ...] = (
    Column(
        "sold_on",
        "Sale date",
        "销售日期",
        N_("Sale date"),
        aliases=("date", "sales date", "sold on", "sold date", "invoice date", "日期", "售出日期", "开票日期"),
    ),
    Column(
        "sku",
        "SKU",
        "产品编码",
        N_("SKU"),
        aliases=(
            "product code",
            "item code",
            "part number",
            "part no",
            "model",
            "product",
            "item",
            "型号",
            "产品型号",
            "物料编码",
            "料号",
            "商品编码",
        ),
    ),
    Column(
        "quantity",
        "Quantity",
        "数量",
        N_("Quantity"),
        aliases=("qty", "units", "quantity sold", "sold qty", "销售数量", "销量"),
    ),
    Column(
        "unit_price",
        "Unit price",
        "单价",
        N_("Unit price"),
        aliases=("price", "unit cost", "selling price", "sales price", "价格", "销售单价", "售价"),
    ),
    Column("currency", "Currency", "币种", N_("Currency"), aliases=("ccy", "currency code", "curr", "货币", "币别")),
    Column(
        "customer_name",
        "End customer name",
        "最终客户名称",
        N_("End customer name"),
        aliases=("end customer", "customer", "customer name", "end user", "客户", "客户名称", "终端客户", "最终客户", "终端客户名称"),
    ),
    Column("country", "Country", "国家", N_("Country"), aliases=("country code", "国家/地区", "国家代码", "国别", "国家地区")),
    Column(
        "postcode",
        "Postcode",
        "邮政编码",
        N_("Postcode"),
        aliases=("postal code", "post code", "zip", "zip code", "zipcode", "邮编"),
    ),
    Column(
        "serial",
        "Serial number",
        "序列号",
        N_("Serial number"),
        required=False,
        aliases=("serial", "serial no", "sn", "s/n", "serial #", "sn码", "产品序列号"),
    ),
    Column(
        "invoice_ref",
        "Invoice reference",
        "发票号",
        N_("Invoice reference"),
        aliases=(
            "invoice",
            "invoice no",
            "invoice number",
            "invoice ref",
            "invoice #",
            "partner invoice",
            "发票号码",
            "发票编号",
            "单据号",
        ),
    ),
)

COLUMNS: dict[Kind, tuple[Column, ...]] = {Kind.INVENTORY: INVENTORY_COLUMNS, Kind.SELL_THROUGH: SELL_THROUGH_COLUMNS}

# The error column of our rejected-lines export (and what people rename it to): never "unknown".
ERROR_HEADER = {"en": "Error", "zh": "错误原因"}
IGNORED_HEADERS = ("error", "errors", "reason", "rejection reason", "错误", "错误原因", "拒绝原因", "原因")

_STRIP = re.compile(r"[\s_\-./:*#'\"()\[\]（）]+")
_INVISIBLE = dict.fromkeys(map(ord, "\ufeff\u200b\u200c\u200d\u2060"), None)


def normalise_header(text: object) -> str:
    if text is None:
        return ""
    value = unicodedata.normalize("NFKC", str(text)).translate(_INVISIBLE).casefold()
    return _STRIP.sub("", value)


def _index(columns: Sequence[Column]) -> dict[str, tuple[str, str]]:
    """normalised header -> (canonical name, language of the header: en/zh/alias)."""
    index: dict[str, tuple[str, str]] = {}
    for column in columns:  # official headers win over aliases
        index.setdefault(normalise_header(column.en), (column.name, "en"))
        index.setdefault(normalise_header(column.zh), (column.name, "zh"))
        index.setdefault(normalise_header(column.name), (column.name, "en"))
    for column in columns:
        for alias in column.aliases:
            lang = "zh" if any(ord(ch) > 0x2E80 for ch in alias) else "en"
            index.setdefault(normalise_header(alias), (column.name, lang))
    return index


_INDEXES = {kind: _index(columns) for kind, columns in COLUMNS.items()}
_IGNORED = frozenset(normalise_header(h) for h in IGNORED_HEADERS)


@dataclass(frozen=True)
class HeaderMap:
    kind: Kind
    cells: tuple[str, ...]  # the header row as the file has it (text), for the rejected-lines export
    positions: dict[str, int]  # canonical name -> 0-based cell index
    missing: tuple[str, ...]  # required canonical names not found
    unknown: tuple[str, ...]  # header texts we did not recognise (their cells are ignored)
    duplicated: tuple[str, ...]  # canonical names given by more than one column (the first one is used)
    language: str  # "en" or "zh": the majority language of the recognised headers
    error_position: int | None  # a previous export's error column, if present

    @property
    def ok(self) -> bool:
        return not self.missing

    def header_of(self, name: str) -> str | None:
        position = self.positions.get(name)
        return None if position is None else self.cells[position]


def map_header(kind: Kind, cells: Sequence[object]) -> HeaderMap:
    index = _INDEXES[kind]
    positions: dict[str, int] = {}
    unknown: list[str] = []
    duplicated: list[str] = []
    votes = {"en": 0, "zh": 0}
    error_position: int | None = None
    texts = tuple("" if cell is None else str(cell).strip() for cell in cells)
    for position, text in enumerate(texts):
        key = normalise_header(text)
        if not key:
            continue
        found = index.get(key)
        if found is None:
            if key in _IGNORED:
                error_position = position if error_position is None else error_position
            else:
                unknown.append(text)
            continue
        name, language = found
        if name in positions:
            duplicated.append(name)
            continue
        positions[name] = position
        votes[language] += 1
    missing = tuple(c.name for c in COLUMNS[kind] if c.required and c.name not in positions)
    language = "zh" if votes["zh"] > votes["en"] else "en"
    return HeaderMap(kind, texts, positions, missing, tuple(unknown), tuple(duplicated), language, error_position)


def column(kind: Kind, name: str) -> Column:
    for candidate in COLUMNS[kind]:
        if candidate.name == name:
            return candidate
    raise KeyError(name)
