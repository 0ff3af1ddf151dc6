from __future__ import annotations

from datetime import date

import pytest

from core.idcard import (
    IdProblem,
    check_digit,
    check_id_number,
    make_id_number,
    mask_account,
    mask_id_number,
    normalize_id_number,
)


def test_the_classic_example_is_valid() -> None:
    assert check_id_number("11010519491231002X") is None
    assert check_id_number("11010519491231002x") is None


def test_check_digit_by_hand() -> None:
    # 4 4 0 3 0 4 1 9 9 0 0 1 0 1 1 2 3 with weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2:
    # 28+36+0+15+0+16+2+9+54+0+0+9+0+5+8+8+6 = 196; 196 mod 11 = 9 → "3".
    assert check_digit("44030419900101123") == "3"
    assert check_id_number("440304199001011233") is None
    # 28+18+0+5+0+24+4+0+0+0+0+9+0+5+0+0+2 = 95; 95 mod 11 = 7 → "5".
    assert check_digit("42010620000101001") == "5"
    assert check_id_number("420106200001010015") is None


def test_make_id_number_round_trips() -> None:
    for sequence in (0, 1, 2, 57, 999):
        number = make_id_number("320102", date(1985, 7, 14), sequence)
        assert len(number) == 18 and number.startswith("32010219850714")
        assert check_id_number(number) is None
    assert make_id_number("110105", date(1949, 12, 31), 2) == "11010519491231002X"


@pytest.mark.parametrize(
    ("number", "problem"),
    [
        ("1101051949123100", IdProblem.LENGTH),
        ("11010519491231002X1", IdProblem.LENGTH),
        ("", IdProblem.LENGTH),
        ("1101051949123100XX", IdProblem.CHARACTERS),
        ("11010519491231002Y", IdProblem.CHARACTERS),
        ("11010519491231 02X", IdProblem.CHARACTERS),
        ("１１０１０５１９４９１２３１００２X", IdProblem.CHARACTERS),  # full-width needs normalising first
        ("110105194902300023", IdProblem.BIRTHDATE),  # 30 February
        ("110105194913010023", IdProblem.BIRTHDATE),  # month 13
        ("110105180001010023", IdProblem.BIRTHDATE),  # too old to be alive
        ("110105194912310021", IdProblem.CHECKSUM),
        ("11010519491231003X", IdProblem.CHECKSUM),
    ],
)
def test_problems(number: str, problem: IdProblem) -> None:
    assert check_id_number(number) is problem


def test_birth_in_the_future_is_wrong_only_when_today_is_given() -> None:
    number = make_id_number("110105", date(2030, 1, 1), 11)
    assert check_id_number(number) is None
    assert check_id_number(number, today=date(2026, 3, 2)) is IdProblem.BIRTHDATE
    assert check_id_number(number, today=date(2030, 1, 1)) is None


def test_a_single_typo_or_a_swap_fails_the_checksum() -> None:
    good = "440304199001011233"
    wrong_digit = good[:16] + "4" + good[17]
    swapped = good[:14] + good[15] + good[14] + good[16:]
    assert check_id_number(wrong_digit) is IdProblem.CHECKSUM
    assert check_id_number(swapped) is IdProblem.CHECKSUM


def test_normalize_handles_how_people_type() -> None:
    assert normalize_id_number(" １１０１０５ 19491231002x ") == "11010519491231002X"


def test_make_id_number_rejects_bad_parts() -> None:
    with pytest.raises(ValueError):
        make_id_number("11010", date(2000, 1, 1), 1)
    with pytest.raises(ValueError):
        make_id_number("110105", date(2000, 1, 1), 1000)


def test_masks() -> None:
    assert mask_id_number("11010519491231002X") == "110***********002X"
    assert mask_id_number("123") == "***"
    assert mask_account("6217000012341234") == "6217********1234"
    assert mask_account("6217 0000 1234 1234 567") == "6217***********4567"
    assert mask_account("12345678") == "******78"
    assert mask_account("12") == "**"
