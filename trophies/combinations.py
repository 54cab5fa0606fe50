"""Mixed-radix numbering of a trophy's combinations.

A combination is one option index per slot, slots in compositing order. The
last slot changes fastest, so consecutive indexes share the longest possible
prefix of lower slots: that is what lets the render engine reuse composites.
No Django import: the engine and the models both use this.
"""
from math import prod


def count(radices):
    """Number of combinations of slots with these option counts."""
    return prod(radices) if radices else 0


def digits_of(index, radices):
    """The option index of each slot for combination ``index``."""
    total = count(radices)
    if not 0 <= index < total:
        raise IndexError(f"combination {index} is outside 0..{total - 1}")
    digits = [0] * len(radices)
    for position in range(len(radices) - 1, -1, -1):
        index, digits[position] = divmod(index, radices[position])
    return digits


def index_of(digits, radices):
    """Inverse of :func:`digits_of`."""
    if len(digits) != len(radices):
        raise ValueError(f"expected {len(radices)} choices, got {len(digits)}")
    index = 0
    for digit, radix in zip(digits, radices):
        if not 0 <= digit < radix:
            raise IndexError(f"choice {digit} is outside 0..{radix - 1}")
        index = index * radix + digit
    return index


def first_changed(previous, current):
    """Position of the first slot whose choice differs (len if none)."""
    for position, (a, b) in enumerate(zip(previous, current)):
        if a != b:
            return position
    return len(current)


def describe(radices):
    """'3 x 30 x 5 = 450 combinations' (people read the factors)."""
    total = count(radices)
    noun = "combination" if total == 1 else "combinations"
    if len(radices) < 2:
        return f"{total:,} {noun}"
    return f"{' x '.join(str(r) for r in radices)} = {total:,} {noun}"


def digits_used(radices, start, stop):
    """For each slot, the sorted option indexes that combinations
    start..stop-1 use: a chunk loads only those layers."""
    used = []
    block = count(radices)
    for radix in radices:
        block //= radix  # combinations per step of this slot's digit
        first, last = start // block, (stop - 1) // block
        if last - first + 1 >= radix:
            used.append(list(range(radix)))
        else:
            used.append(sorted({step % radix for step in range(first, last + 1)}))
    return used
