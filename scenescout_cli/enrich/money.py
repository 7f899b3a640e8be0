"""Money: price ranges from any provider's representation to (min, max, currency, is_free).

Providers send numbers (Ticketmaster ``priceRanges``, Yelp ``cost``), decimal strings
(Eventbrite ``major_value`` "25.00"), minor-unit integers (Eventbrite ``value`` 2500)
or nothing. :func:`normalise_price` turns any of them into major-unit floats rounded
to the currency's exponent, an ISO 4217 code, and a free flag that is only ever
stated, never guessed from missing prices. Pure; never raises for provider data.
"""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

__all__ = ["MAX_PRICE", "currency_code", "minor_unit_exponent", "normalise_price"]

#: Prices at or above this are not ticket prices (and would overflow numeric(12, 2)).
MAX_PRICE = Decimal(1_000_000_000)


def _word_set(text: str) -> frozenset[str]:
    return frozenset(text.split())


# ISO 4217 codes for money in circulation (funds, metals and test codes excluded),
# plus codes withdrawn since 2020 that stale listings still carry (HRK, SLL, ANG, ZWL).
_ISO_4217 = _word_set(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL
    BSD BTN BWP BYN BZD CAD CDF CHF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP
    ERN ETB EUR FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HRK HTG HUF IDR ILS
    INR IQD IRR ISK JMD JOD JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD
    LSL LYD MAD MDL MGA MKD MMK MNT MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK
    NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG QAR RON RSD RUB RWF SAR SBD SCR SDG SEK
    SGD SHP SLE SLL SOS SRD SSP STN SVC SYP SZL THB TJS TMT TND TOP TRY TTD TWD TZS
    UAH UGX USD UYU UZS VED VES VND VUV WST XAF XCD XCG XOF XPF YER ZAR ZMW ZWG ZWL
    """
)
# Minor-unit exponents that are not 2 (ISO 4217 table).
_EXPONENTS = {
    **dict.fromkeys(
        _word_set("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX VND VUV XAF XOF XPF"), 0
    ),
    **dict.fromkeys(_word_set("BHD IQD JOD KWD LYD OMR TND"), 3),
}
_DEFAULT_EXPONENT = 2

_SYMBOLS = re.compile(r"^[^\d\-+.,]*|[^\d.,]*$")  # leading "$", "US$ ", trailing " USD"
_THOUSANDS = re.compile(r"\d{1,3}(,\d{3})+(\.\d*)?")
_DECIMAL_COMMA = re.compile(r"\d+,\d{1,2}")
_FREE_WORDS = frozenset({"free", "gratis"})


def currency_code(value: Any) -> str | None:
    """``value`` as an upper-case ISO 4217 code, or None when it is not one."""
    if not isinstance(value, str):
        return None
    code = value.strip().upper()
    return code if code in _ISO_4217 else None


def minor_unit_exponent(currency: str | None) -> int:
    """Decimal places of ``currency``'s minor unit (JPY 0, KWD 3, most 2; unknown 2)."""
    return _EXPONENTS.get(currency or "", _DEFAULT_EXPONENT)


def normalise_price(
    min_value: Any,
    max_value: Any,
    currency: Any,
    *,
    minor_units: bool = False,
    is_free: bool | None = None,
) -> tuple[float | None, float | None, str | None, bool | None]:
    """(price_min, price_max, currency, is_free) from a provider's price fields.

    - Values: numbers or numeric strings ("25", "25.00", "1,250.50", "25,50", "$25",
      "25 USD", "Free" = 0). Booleans, negatives, NaN/inf, values ≥ :data:`MAX_PRICE`
      and unparseable text become None — a bad price is dropped, never a reject.
    - ``minor_units=True``: values are integers in the currency's minor unit (2500 USD
      cents = 25.00; 2500 JPY = 2500; 25000 KWD fils = 25.000); unknown currency → 2.
    - Rounded half-even to the currency's exponent; a missing side stays None (a
      "from $15" price has no maximum); min > max are swapped.
    - Currency: upper-case ISO 4217, else None (prices are kept: the caller may know
      the city's currency).
    - is_free: the provider's flag when given; otherwise True only when the maximum
      (or the only price) is 0, False when the lowest known price is above 0, else
      None. Missing prices never make an event free.
    """
    code = currency_code(currency)
    exponent = minor_unit_exponent(code)
    low = _amount(min_value, exponent, minor_units=minor_units)
    high = _amount(max_value, exponent, minor_units=minor_units)
    if low is not None and high is not None and low > high:
        low, high = high, low

    if is_free is None:
        known = [value for value in (low, high) if value is not None]
        if known and max(known) == 0:
            is_free = True
        elif known and min(known) > 0:
            is_free = False
    return _float(low), _float(high), code, is_free


def _amount(value: Any, exponent: int, *, minor_units: bool) -> Decimal | None:
    number = _decimal(value)
    if number is None:
        return None
    if minor_units:
        if number != number.to_integral_value():
            return None  # minor units are whole numbers; 25.5 cents is not a price
        number = number.scaleb(-exponent)
    if number < 0 or number >= MAX_PRICE:
        return None
    return number.quantize(Decimal(1).scaleb(-exponent), rounding=ROUND_HALF_EVEN)


def _decimal(value: Any) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value)) if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if not isinstance(value, str):
        return None
    text = value.strip()
    if text.casefold() in _FREE_WORDS:
        return Decimal(0)
    text = _SYMBOLS.sub("", text).replace(" ", "").replace("\u00a0", "")
    if _THOUSANDS.fullmatch(text):
        text = text.replace(",", "")
    elif _DECIMAL_COMMA.fullmatch(text):
        text = text.replace(",", ".")
    elif "," in text:
        return None  # "1.250,50" and friends: ambiguous, not guessed
    try:
        number = Decimal(text)
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def _float(value: Decimal | None) -> float | None:
    return None if value is None else float(value)
