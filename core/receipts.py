"""Case numbers and query passwords: what a citizen keeps to follow a case.

Case numbers are random, not sequential, so nobody can count cases or walk through neighbours' numbers;
the Luhn digit catches most typos (one wrong digit, two swapped) before any lookup is spent on them.
The password is the actual secret; the number only names the case.
"""

from __future__ import annotations

import secrets

CASE_NUMBER_LENGTH = 12
PASSWORD_LENGTH = 8


def _luhn_check_digit(payload: str) -> str:
    total = 0
    # Walking from the right, the digit next to the (future) check digit is doubled first.
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def new_case_number() -> str:
    first = str(1 + secrets.randbelow(9))  # no leading zero: it would get lost in spreadsheets
    rest = f"{secrets.randbelow(10 ** (CASE_NUMBER_LENGTH - 2)):0{CASE_NUMBER_LENGTH - 2}d}"
    payload = first + rest
    return payload + _luhn_check_digit(payload)


def is_well_formed_case_number(digits: str) -> bool:
    if len(digits) != CASE_NUMBER_LENGTH or not (digits.isascii() and digits.isdigit()):
        return False
    return _luhn_check_digit(digits[:-1]) == digits[-1]


def format_case_number(digits: str) -> str:
    """Groups of four, as it is read aloud on the phone and printed on receipts."""
    return "-".join(digits[start : start + 4] for start in range(0, len(digits), 4))


def new_password() -> str:
    return f"{secrets.randbelow(10**PASSWORD_LENGTH):0{PASSWORD_LENGTH}d}"
