"""What a name, label or key may hold: no control characters. A NUL is
refused by PostgreSQL in text columns (a 500 if it got that far), and tabs,
newlines and the like have no place in a one-line name."""
import unicodedata


def control_character_problem(value):
    """A message naming the first control character in ``value``, else None."""
    for position, character in enumerate(value, 1):
        if unicodedata.category(character) == "Cc":
            return f"Control characters are not allowed (U+{ord(character):04X} at position {position})."
    return None
