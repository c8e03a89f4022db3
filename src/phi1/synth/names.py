"""Distinct, coherent function names: the constraint that gives CodeExercises diversity.

phi-1 made its exercises diverse by constraining function names. A name here is an
operation applied to a kind of data it fits (``count_even_scores``,
``merge_overlapping_meetings``, ``validate_email``, ``transpose_grid``): every kind of data
(numbers that are counts, measurements, words, one text, intervals, points, grids, tables
of amounts, strings with a format, single integers) has its nouns and the operations that
make sense on them, so every name states a task a student could be given. The space holds
about 2,700 names; they are drawn without repetition from a seeded shuffle, so the first N
names of a seed never change when N grows (a resumed or extended run asks for the same
exercises). Past the end of the space the names come round again in a new shuffle (the
topic and difficulty drawn for each exercise still differ). A user list (one name per
line) replaces the generator.

The first generator (``names: combinatorial``, kept so that runs made with it re-run) joined
any verb, qualifier and noun: 67,000 names, most of them ``verb_qualifier_noun`` that do not
fit together, such as ``flatten_consecutive_triangles``; the teacher then invented a task to
fit the name, and that is where vague exercises started (examples/synth/README.md).
"""

from __future__ import annotations

import keyword
import os
import random
import re

# Each kind: its nouns (singular, plural) and the operations that fit them, written with
# {s} (singular) and {p} (plural).
# fmt: off
KINDS: dict[str, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]] = {
    # a list of whole numbers that count something
    "counts": (
        (
            ("score", "scores"), ("vote", "votes"), ("age", "ages"), ("step", "steps"),
            ("goal", "goals"), ("visit", "visits"), ("page_count", "page_counts"),
            ("number", "numbers"), ("point_total", "point_totals"), ("ticket", "tickets"),
            ("stock_level", "stock_levels"), ("attendance", "attendances"), ("level", "levels"),
            ("year", "years"), ("id", "ids"),
        ),
        (
            "sum_{p}", "count_even_{p}", "count_odd_{p}", "filter_even_{p}", "filter_odd_{p}",
            "find_largest_{s}", "find_smallest_{s}", "find_second_largest_{s}",
            "find_most_common_{s}", "count_unique_{p}", "remove_duplicate_{p}",
            "find_duplicate_{p}", "find_missing_{p}", "sort_{p}", "reverse_{p}", "rank_{p}",
            "compute_running_total_of_{p}", "find_median_{s}", "compute_average_{s}",
            "count_{p}_above_average", "find_longest_increasing_run_of_{p}", "split_{p}_by_parity",
            "count_{p}_in_range", "find_pairs_of_{p}_with_sum", "rotate_{p}", "find_range_of_{p}",
            "normalize_{p}", "group_{p}_by_last_digit", "compute_differences_between_{p}",
            "check_{p}_sorted", "find_peak_{p}", "count_{p}_divisible_by", "merge_sorted_{p}",
            "find_common_{p}", "interleave_{p}", "chunk_{p}", "compute_cumulative_maximum_of_{p}",
        ),
    ),
    # a list of measurements (floats allowed)
    "measures": (
        (
            ("price", "prices"), ("temperature", "temperatures"), ("height", "heights"),
            ("weight", "weights"), ("distance", "distances"), ("duration", "durations"),
            ("reading", "readings"), ("salary", "salaries"),
            ("rainfall_amount", "rainfall_amounts"), ("speed", "speeds"), ("balance", "balances"),
            ("expense", "expenses"), ("measurement", "measurements"), ("rating", "ratings"),
            ("grade", "grades"),
        ),
        (
            "sum_{p}", "compute_average_{s}", "find_largest_{s}", "find_smallest_{s}",
            "find_median_{s}", "sort_{p}", "rank_{p}", "normalize_{p}", "round_{p}", "clamp_{p}",
            "scale_{p}", "filter_{p}_above_threshold", "filter_{p}_below_threshold",
            "count_{p}_above_average", "compute_running_total_of_{p}",
            "compute_moving_average_of_{p}", "find_range_of_{p}", "compute_changes_in_{p}",
            "find_largest_change_in_{p}", "count_{p}_in_range",
            "find_longest_rising_streak_of_{p}", "find_index_of_largest_{s}",
            "compute_standard_deviation_of_{p}", "convert_{p}_to_percentages", "bucket_{p}",
            "find_closest_{s}", "find_top_{p}", "remove_outlier_{p}",
            "compute_weighted_average_{s}", "check_{p}_increasing",
        ),
    ),
    # a list of short strings
    "words": (
        (
            ("word", "words"), ("name", "names"), ("title", "titles"), ("tag", "tags"),
            ("keyword", "keywords"), ("username", "usernames"), ("city", "cities"),
            ("color", "colors"), ("fruit", "fruits"), ("product_name", "product_names"),
            ("country", "countries"), ("label", "labels"), ("filename", "filenames"),
            ("command", "commands"), ("ingredient", "ingredients"), ("song", "songs"),
            ("team", "teams"), ("player", "players"),
        ),
        (
            "find_longest_{s}", "find_shortest_{s}", "sort_{p}", "sort_{p}_by_length",
            "group_{p}_by_length", "group_{p}_by_first_letter", "count_unique_{p}",
            "remove_duplicate_{p}", "find_duplicate_{p}", "find_most_common_{s}", "count_{p}",
            "capitalize_{p}", "reverse_{p}", "find_common_{p}", "join_{p}", "filter_{p}_by_prefix",
            "filter_{p}_by_length", "abbreviate_{p}", "find_{p}_with_vowels",
            "count_{p}_starting_with", "find_anagram_{p}", "find_palindrome_{p}", "pad_{p}",
            "truncate_{p}", "merge_{p}", "rank_{p}", "index_{p}_by_initial",
            "find_first_repeated_{s}", "interleave_{p}", "search_{p}",
        ),
    ),
    # one string of text
    "texts": (
        (
            ("sentence", "sentences"), ("text", "texts"), ("message", "messages"),
            ("paragraph", "paragraphs"), ("phrase", "phrases"), ("headline", "headlines"),
            ("comment", "comments"), ("review", "reviews"), ("line", "lines"),
            ("string", "strings"),
        ),
        (
            "count_vowels_in_{s}", "count_words_in_{s}", "reverse_words_in_{s}", "reverse_{s}",
            "capitalize_words_in_{s}", "find_longest_word_in_{s}", "remove_vowels_from_{s}",
            "remove_punctuation_from_{s}", "count_letters_in_{s}",
            "find_first_repeated_character_in_{s}", "find_first_unique_character_in_{s}",
            "check_palindrome_{s}", "compress_{s}", "count_character_frequencies_in_{s}",
            "find_most_common_letter_in_{s}", "wrap_{s}", "center_{s}", "censor_{s}",
            "encode_{s}_with_caesar_shift", "decode_{s}_with_caesar_shift", "acronym_of_{s}",
            "count_uppercase_letters_in_{s}", "swap_case_of_{s}", "collapse_spaces_in_{s}",
            "extract_digits_from_{s}", "extract_numbers_from_{s}", "split_{s}_into_words",
            "check_balanced_brackets_in_{s}", "count_sentences_in_{s}", "title_case_{s}",
            "find_repeated_words_in_{s}", "remove_duplicate_words_from_{s}", "check_anagram_{p}",
            "count_substring_in_{s}", "replace_word_in_{s}", "mask_digits_in_{s}",
            "convert_{s}_to_snake_case", "convert_{s}_to_camel_case",
        ),
    ),
    # (start, end) pairs
    "intervals": (
        (
            ("interval", "intervals"), ("meeting", "meetings"), ("booking", "bookings"),
            ("shift", "shifts"), ("reservation", "reservations"), ("session", "sessions"),
            ("time_slot", "time_slots"), ("range", "ranges"), ("trip", "trips"),
            ("lesson", "lessons"),
        ),
        (
            "merge_overlapping_{p}", "count_overlapping_{p}", "check_overlapping_{p}",
            "find_gaps_between_{p}", "sort_{p}_by_start", "sort_{p}_by_length", "find_longest_{s}",
            "compute_total_length_of_{p}", "find_max_concurrent_{p}", "find_{p}_containing",
            "remove_covered_{p}", "intersect_{p}", "find_free_time_between_{p}",
            "count_{p}_at_time",
        ),
    ),
    # (x, y) pairs
    "points": (
        (
            ("point", "points"), ("location", "locations"), ("coordinate", "coordinates"),
            ("vertex", "vertices"), ("marker", "markers"), ("star", "stars"),
            ("station", "stations"), ("target", "targets"),
        ),
        (
            "find_closest_{s}", "find_farthest_{s}", "sort_{p}_by_distance",
            "compute_centroid_of_{p}", "count_{p}_in_rectangle", "count_{p}_in_circle",
            "find_bounding_box_of_{p}", "find_closest_pair_of_{p}", "translate_{p}", "scale_{p}",
            "group_{p}_by_quadrant", "compute_path_length_of_{p}", "find_leftmost_{s}",
            "check_{p}_collinear", "remove_duplicate_{p}", "filter_{p}_within_distance",
        ),
    ),
    # a list of lists of numbers
    "grids": (
        (
            ("matrix", "matrices"), ("grid", "grids"), ("board", "boards"),
            ("spreadsheet", "spreadsheets"), ("image", "images"),
            ("seating_chart", "seating_charts"), ("heightmap", "heightmaps"),
        ),
        (
            "transpose_{s}", "rotate_{s}", "flatten_{s}", "sum_{s}_rows", "sum_{s}_columns",
            "find_{s}_diagonal", "find_largest_in_{s}", "count_zeros_in_{s}",
            "check_symmetric_{s}", "read_{s}_in_spiral_order", "flip_{s}_horizontally",
            "flip_{s}_vertically", "find_row_with_largest_sum_in_{s}", "count_islands_in_{s}",
            "find_neighbors_in_{s}", "compute_row_averages_of_{s}", "add_{p}", "scale_{s}",
            "find_position_of_value_in_{s}", "check_{s}_square", "count_positive_cells_in_{s}",
            "replace_negatives_in_{s}", "pad_{s}", "crop_{s}", "shift_{s}_rows",
        ),
    ),
    # a dict from names to amounts
    "tables": (
        (
            ("inventory", "inventories"), ("gradebook", "gradebooks"),
            ("price_list", "price_lists"), ("scoreboard", "scoreboards"),
            ("word_count", "word_counts"), ("budget", "budgets"), ("stock", "stocks"),
            ("population_table", "population_tables"), ("vote_tally", "vote_tallies"),
            ("shopping_cart", "shopping_carts"),
        ),
        (
            "invert_{s}", "find_key_with_largest_value_in_{s}", "sort_{s}_by_value",
            "sum_values_of_{s}", "filter_{s}_by_value", "merge_{p}", "count_keys_in_{s}",
            "find_keys_above_average_in_{s}", "update_{s}", "remove_empty_entries_from_{s}",
            "rank_{s}", "top_entries_of_{s}", "group_{s}_by_value", "scale_{s}", "compare_{p}",
            "format_{s}",
        ),
    ),
    # one string with a format to check or read
    "formats": (
        (
            ("email", "emails"), ("password", "passwords"), ("url", "urls"),
            ("username", "usernames"), ("ip_address", "ip_addresses"),
            ("phone_number", "phone_numbers"), ("postal_code", "postal_codes"),
            ("hex_color", "hex_colors"), ("date_string", "date_strings"),
            ("time_string", "time_strings"), ("isbn", "isbns"),
            ("version_string", "version_strings"), ("license_plate", "license_plates"),
            ("credit_card_number", "credit_card_numbers"),
        ),
        (
            "validate_{s}", "parse_{s}", "normalize_{s}", "filter_valid_{p}", "mask_{s}",
            "count_valid_{p}", "sort_{p}", "extract_{p}",
        ),
    ),
    # one whole number
    "integers": (
        (
            ("number", "numbers"), ("integer", "integers"),
        ),
        (
            "sum_digits_of_{s}", "reverse_digits_of_{s}", "count_digits_of_{s}", "check_prime_{s}",
            "find_factors_of_{s}", "count_divisors_of_{s}", "convert_{s}_to_binary",
            "convert_{s}_to_roman", "check_perfect_{s}", "check_palindrome_{s}",
            "find_next_prime_after_{s}", "compute_factorial_of_{s}", "compute_fibonacci_{s}",
            "check_power_of_two_{s}", "count_set_bits_in_{s}", "find_digital_root_of_{s}",
            "check_armstrong_{s}", "find_gcd_of_{p}", "find_lcm_of_{p}", "format_{s}_with_commas",
            "convert_{s}_to_words", "list_primes_up_to_{s}", "compute_collatz_steps_of_{s}",
            "round_{s}_to_multiple",
        ),
    ),
}
# fmt: on

# names: combinatorial, the first generator
VERBS = (
    "count", "find", "sum", "merge", "filter", "sort", "group", "reverse", "validate", "parse",
    "format", "compute", "normalize", "rotate", "flatten", "split", "compress", "encode",
    "decode", "rank", "score", "balance", "match", "detect", "extract", "remove", "replace",
    "convert", "check", "build", "generate", "simulate", "schedule", "partition",
    "deduplicate", "summarize", "transpose", "interleave", "shift", "clamp",
)  # fmt: skip
QUALIFIERS = (
    "longest", "shortest", "unique", "duplicate", "sorted", "nested", "consecutive",
    "missing", "even", "odd", "weighted", "common", "largest", "smallest", "first", "last",
    "adjacent", "overlapping", "valid", "rare",
)  # fmt: skip
NOUNS = (
    "vowels", "words", "digits", "primes", "intervals", "matrix", "pairs", "palindromes",
    "anagrams", "brackets", "timestamps", "scores", "temperatures", "coordinates", "paths",
    "inventory", "orders", "students", "grades", "sentences", "tokens", "numbers", "fractions",
    "polynomials", "dates", "emails", "passwords", "urls", "files", "records", "transactions",
    "prices", "votes", "rainfall", "heights", "tasks", "meetings", "flights", "routes",
    "edges", "nodes", "trees", "graph", "grid", "islands", "ranges", "segments", "substrings",
    "subsequences", "subarrays", "bits", "bytes", "colors", "cards", "dice", "moves",
    "players", "teams", "books", "recipes", "ingredients", "sensors", "readings", "events",
    "logs", "versions", "tags", "keywords", "queries", "triangles", "rectangles", "circles",
    "points", "vectors", "stacks", "queues", "counters", "histogram", "frequencies",
    "permutations",
)  # fmt: skip

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
SPACES = ("coherent", "combinatorial")


def check_space(space: str) -> None:
    """Raise the setting's error unless ``space`` is a generated name space."""
    if space not in SPACES:
        from phi1.errors import Phi1Error

        raise Phi1Error(f"exercise.names must be one of {', '.join(SPACES)}, got {space!r}")


def name_space(space: str = "coherent") -> list[str]:
    """Every generated name of ``space``, distinct, in a fixed order."""
    if space == "combinatorial":
        names = [f"{v}_{n}" for v in VERBS for n in NOUNS]
        return names + [f"{v}_{q}_{n}" for v in VERBS for q in QUALIFIERS for n in NOUNS]
    check_space(space)
    out: dict[str, None] = {}
    for nouns, operations in KINDS.values():
        for op in operations:
            for singular, plural in nouns:
                out.setdefault(op.format(s=singular, p=plural), None)
    return list(out)


def function_names(
    n: int, seed: int, names_file: str | os.PathLike | None = None, space: str = "coherent"
) -> list[str]:
    """The first ``n`` names of the seeded order of ``space`` (past its end, the space again
    in a new order), or of the user's file, in its order."""
    from phi1.errors import Phi1Error

    if names_file is not None:
        names = read_names(names_file)
        if n > len(names):
            raise Phi1Error(f"{names_file}: {n} exercises asked for, but only {len(names)} names")
        return names[:n]
    every = name_space(space)
    names = []
    for lap in range(-(-n // len(every))):
        order = list(every)
        random.Random(f"{seed}:function-names" + (f":{lap}" if lap else "")).shuffle(order)
        names += order
    return names[:n]


def read_names(path: str | os.PathLike) -> list[str]:
    """Distinct Python identifiers, one per line; blank lines and ``#`` comments skipped."""
    from phi1.errors import Phi1Error

    try:
        lines = open(path, encoding="utf-8").read().splitlines()
    except OSError as e:
        raise Phi1Error(f"{path}: {e.strerror}") from None
    names, seen = [], set()
    for lineno, line in enumerate(lines, 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        if not _IDENT.match(name) or keyword.iskeyword(name):
            raise Phi1Error(f"{path}:{lineno}: {name!r} is not a valid Python function name")
        if name in seen:
            raise Phi1Error(f"{path}:{lineno}: duplicate name {name!r}")
        seen.add(name)
        names.append(name)
    return names
