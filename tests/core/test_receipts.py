from __future__ import annotations

import pytest

from core.receipts import format_case_number, is_well_formed_case_number, new_case_number, new_password


def test_new_case_numbers_are_well_formed_and_varied() -> None:
    numbers = {new_case_number() for _ in range(2000)}
    assert len(numbers) == 2000
    for number in numbers:
        assert len(number) == 12 and number.isdigit() and number[0] != "0"
        assert is_well_formed_case_number(number)
    assert {n[0] for n in numbers} == set("123456789")


def test_luhn_known_value() -> None:
    # 79927398713 is the textbook Luhn example; padded with a leading digit it stays valid.
    assert is_well_formed_case_number("079927398713")
    assert not is_well_formed_case_number("079927398710")


def test_every_single_digit_typo_is_caught() -> None:
    number = new_case_number()
    for position in range(12):
        for digit in "0123456789":
            if digit != number[position]:
                typo = number[:position] + digit + number[position + 1 :]
                assert not is_well_formed_case_number(typo)


def test_adjacent_swaps_are_caught() -> None:
    good = new_case_number()
    for position in range(11):
        a, b = good[position], good[position + 1]
        # Luhn misses only the 0↔9 swap.
        if a != b and {a, b} != {"0", "9"}:
            swapped = good[:position] + b + a + good[position + 2 :]
            assert not is_well_formed_case_number(swapped)


@pytest.mark.parametrize(
    "text", ["", "12345678901", "1234567890123", "12345678901a", "１２３４５６７８９０１２"]
)
def test_malformed(text: str) -> None:
    assert not is_well_formed_case_number(text)


def test_format() -> None:
    assert format_case_number("483122079154") == "4831-2207-9154"


def test_passwords_are_eight_digits_with_leading_zeros_possible() -> None:
    passwords = [new_password() for _ in range(3000)]
    assert all(len(p) == 8 and p.isdigit() for p in passwords)
    assert len(set(passwords)) > 2990
    assert any(p.startswith("0") for p in passwords)  # ~1 in 10; all 3000 missing it is ~1e-137
