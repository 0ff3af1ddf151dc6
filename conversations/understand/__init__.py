"""Turning messy citizen text into values the conversation flows can act on.

Citizens write on feature phones and in a hurry: full-width digits, Chinese numerals, Traditional
characters, typos, emoji, "嗯 我想查一下".  Every function here accepts any ``str`` without raising and
answers ``None`` when it is not sure, so the flow can ask again instead of acting on a guess.
"""

from .choices import Option, match_option
from .departments import DONT_KNOW, match_department
from .identifiers import parse_case_number, parse_id_number, parse_name, parse_password
from .intents import Intent, global_intent, menu_intent
from .normalize import normalize
from .numbers import parse_number
from .ratings import parse_rating
from .yesno import parse_yes_no

__all__ = [
    "DONT_KNOW",
    "Intent",
    "Option",
    "global_intent",
    "match_department",
    "match_option",
    "menu_intent",
    "normalize",
    "parse_case_number",
    "parse_id_number",
    "parse_name",
    "parse_number",
    "parse_password",
    "parse_rating",
    "parse_yes_no",
]
