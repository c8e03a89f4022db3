# ruff: noqa: E501 (templates are data: one line of code per string)
"""A seeded generator of plausible Python exercises unrelated to HumanEval (no LLM needed).

Each exercise is a function on an everyday topic (text formatting, dict counting, list
reshaping, small arithmetic, records), built from a template with several implementations,
names drawn from pools, a docstring drawn from paraphrases, optional type hints, an optional
input guard, and a doctest example computed by running the code. Topics that HumanEval
covers (primes, palindromes, Fibonacci, vowels, sorting puzzles, ...) are left out, so a
flag on one of these is a false positive.

Records follow docs/ARCHITECTURE.md "Exercises": ``id``, ``prompt`` (signature +
docstring), ``completion`` (body), ``text`` = prompt + completion, ``meta``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

LIST = ["items", "values", "numbers", "data", "seq", "xs", "elements", "entries", "nums"]
TEXT = ["text", "s", "sentence", "line", "phrase", "message", "content", "raw"]
DICT = ["mapping", "d", "table", "counts", "record", "lookup", "scores_by_key"]
OUT = ["result", "out", "acc", "res", "collected", "output", "answer", "buf"]
LOOP = ["x", "item", "value", "v", "elem", "entry", "n"]
IDX = ["i", "idx", "pos", "k", "j"]


@dataclass
class Template:
    topic: str
    names: list[str]
    args: list[tuple[list[str], str]]  # (name pool, type hint)
    returns: str
    docs: list[str]
    bodies: list[str]
    example: str  # argument list, a Python expression
    guard: str = ""  # optional first statement(s), uses the same placeholders


T = Template
TEMPLATES = [
    T(
        "text",
        ["slugify", "make_slug", "to_slug", "url_slug"],
        [(TEXT, "str")],
        "str",
        [
            "Turn {a0} into a lowercase URL slug: words joined by single dashes.",
            "Convert a title into a slug suitable for web addresses.",
            "Produce a dash-separated, lowercase version of the given title.",
        ],
        [
            "{o} = []\nfor {w} in {a0}.lower().split():\n    cleaned = ''.join(c for c in {w} if c.isalnum())\n    if cleaned:\n        {o}.append(cleaned)\nreturn '-'.join({o})",
            "words = [''.join(ch for ch in {w} if ch.isalnum()) for {w} in {a0}.lower().split()]\nreturn '-'.join(w for w in words if w)",
        ],
        "'Hello, World of Python!'",
    ),
    T(
        "dict counting",
        ["word_frequencies", "count_words", "word_counts", "tally_words"],
        [(TEXT, "str")],
        "dict",
        [
            "Count how often each word appears in {a0}, ignoring case.",
            "Return a dictionary mapping every lowercase word to its number of occurrences.",
            "Build a word frequency table for a piece of text.",
        ],
        [
            "{o} = {{}}\nfor {w} in {a0}.lower().split():\n    {o}[{w}] = {o}.get({w}, 0) + 1\nreturn {o}",
            "{o} = {{}}\nfor {w} in {a0}.lower().split():\n    if {w} in {o}:\n        {o}[{w}] += 1\n    else:\n        {o}[{w}] = 1\nreturn {o}",
            "from collections import Counter\nreturn dict(Counter({a0}.lower().split()))",
        ],
        "'the cat and the hat'",
    ),
    T(
        "list reshaping",
        ["chunk", "split_into_chunks", "batch_items", "make_batches"],
        [(LIST, "list"), (["size", "n", "width", "batch_size"], "int")],
        "list",
        [
            "Split {a0} into consecutive pieces of length {a1}; the last piece may be shorter.",
            "Group a list into batches of a fixed size.",
            "Return a list of sublists, each holding at most {a1} elements.",
        ],
        [
            "return [{a0}[{i}:{i} + {a1}] for {i} in range(0, len({a0}), {a1})]",
            "{o} = []\nfor {i} in range(0, len({a0}), {a1}):\n    {o}.append({a0}[{i}:{i} + {a1}])\nreturn {o}",
            "{o} = []\ncurrent = []\nfor {w} in {a0}:\n    current.append({w})\n    if len(current) == {a1}:\n        {o}.append(current)\n        current = []\nif current:\n    {o}.append(current)\nreturn {o}",
        ],
        "[1, 2, 3, 4, 5, 6, 7], 3",
        "if {a1} <= 0:\n    raise ValueError('size must be positive')",
    ),
    T(
        "list reshaping",
        ["flatten", "flatten_once", "concat_lists", "join_sublists"],
        [(["nested", "groups", "rows", "lists", "batches"], "list")],
        "list",
        [
            "Flatten one level of nesting: a list of lists becomes a single list.",
            "Concatenate all the inner lists of {a0} into one list, keeping their order.",
            "Return the elements of every sublist, in order, as one flat list.",
        ],
        [
            "{o} = []\nfor sub in {a0}:\n    for {w} in sub:\n        {o}.append({w})\nreturn {o}",
            "return [{w} for sub in {a0} for {w} in sub]",
            "{o} = []\nfor sub in {a0}:\n    {o}.extend(sub)\nreturn {o}",
        ],
        "[[1, 2], [3], [], [4, 5]]",
    ),
    T(
        "dicts",
        ["merge_counts", "add_tallies", "combine_totals", "sum_dicts"],
        [(["first", "left", "a", "base"], "dict"), (["second", "right", "b", "extra"], "dict")],
        "dict",
        [
            "Merge two dictionaries of counts, adding the values of shared keys.",
            "Combine {a0} and {a1} into a new dict; values of keys present in both are summed.",
            "Return the key-wise sum of two tallies without modifying either input.",
        ],
        [
            "{o} = dict({a0})\nfor key, {w} in {a1}.items():\n    {o}[key] = {o}.get(key, 0) + {w}\nreturn {o}",
            "keys = set({a0}) | set({a1})\nreturn {{key: {a0}.get(key, 0) + {a1}.get(key, 0) for key in keys}}",
            "{o} = {{}}\nfor source in ({a0}, {a1}):\n    for key, {w} in source.items():\n        {o}[key] = {o}.get(key, 0) + {w}\nreturn {o}",
        ],
        "{'apples': 2, 'pears': 1}, {'pears': 4, 'plums': 3}",
    ),
    T(
        "dicts",
        ["invert_mapping", "reverse_lookup", "group_keys_by_value", "invert_dict"],
        [(DICT, "dict")],
        "dict",
        [
            "Invert a dictionary: map each value to the list of keys that had it.",
            "Return a dict from every value in {a0} to the keys holding that value.",
            "Build a reverse index of a mapping; several keys may share one value.",
        ],
        [
            "{o} = {{}}\nfor key, {w} in {a0}.items():\n    {o}.setdefault({w}, []).append(key)\nreturn {o}",
            "{o} = {{}}\nfor key, {w} in {a0}.items():\n    if {w} not in {o}:\n        {o}[{w}] = []\n    {o}[{w}].append(key)\nreturn {o}",
        ],
        "{'ann': 'red', 'bob': 'blue', 'cy': 'red'}",
    ),
    T(
        "dicts",
        ["group_by_initial", "index_by_first_letter", "bucket_words", "words_by_letter"],
        [(["words", "names", "tokens", "terms"], "list")],
        "dict",
        [
            "Group words by their first letter (lowercased); empty strings are skipped.",
            "Return a dict mapping each initial letter to the words that start with it.",
            "Organise a list of names into buckets keyed by initial.",
        ],
        [
            "{o} = {{}}\nfor {w} in {a0}:\n    if not {w}:\n        continue\n    {o}.setdefault({w}[0].lower(), []).append({w})\nreturn {o}",
            "{o} = {{}}\nfor {w} in {a0}:\n    if {w}:\n        letter = {w}[0].lower()\n        {o}[letter] = {o}.get(letter, []) + [{w}]\nreturn {o}",
        ],
        "['apple', 'Avocado', 'banana', '', 'cherry']",
    ),
    T(
        "statistics",
        ["moving_average", "sliding_mean", "window_averages", "smooth"],
        [(LIST, "list"), (["window", "k", "span", "width"], "int")],
        "list",
        [
            "Return the averages of every run of {a1} consecutive values in {a0}.",
            "Compute a simple moving average with the given window length.",
            "Smooth a series by averaging each full window of {a1} neighbours.",
        ],
        [
            "{o} = []\nfor {i} in range(len({a0}) - {a1} + 1):\n    {o}.append(sum({a0}[{i}:{i} + {a1}]) / {a1})\nreturn {o}",
            "return [sum({a0}[{i}:{i} + {a1}]) / {a1} for {i} in range(len({a0}) - {a1} + 1)]",
            "{o} = []\ntotal = sum({a0}[:{a1}])\nif len({a0}) >= {a1}:\n    {o}.append(total / {a1})\nfor {i} in range({a1}, len({a0})):\n    total += {a0}[{i}] - {a0}[{i} - {a1}]\n    {o}.append(total / {a1})\nreturn {o}",
        ],
        "[2, 4, 6, 8, 10], 2",
        "if {a1} <= 0:\n    raise ValueError('window must be positive')",
    ),
    T(
        "statistics",
        ["running_totals", "cumulative_sum", "prefix_sums", "accumulate_values"],
        [(LIST, "list")],
        "list",
        [
            "Return the running totals of {a0}: element i is the sum of the first i + 1 values.",
            "Compute cumulative sums of a list of numbers.",
            "Give the prefix sums of the input sequence.",
        ],
        [
            "{o} = []\ntotal = 0\nfor {w} in {a0}:\n    total += {w}\n    {o}.append(total)\nreturn {o}",
            "from itertools import accumulate\nreturn list(accumulate({a0}))",
        ],
        "[3, 1, 4, 1, 5]",
    ),
    T(
        "strings",
        ["run_length_encode", "rle_compress", "compress_runs", "encode_runs"],
        [(TEXT, "str")],
        "list",
        [
            "Run-length encode {a0} as a list of (character, count) pairs.",
            "Compress runs of repeated characters into (char, run length) tuples.",
            "Describe a string as consecutive runs: each run is a character and its length.",
        ],
        [
            "{o} = []\nfor ch in {a0}:\n    if {o} and {o}[-1][0] == ch:\n        {o}[-1] = ({o}[-1][0], {o}[-1][1] + 1)\n    else:\n        {o}.append((ch, 1))\nreturn {o}",
            "from itertools import groupby\nreturn [(ch, len(list(run))) for ch, run in groupby({a0})]",
        ],
        "'aaabccdddd'",
    ),
    T(
        "strings",
        ["run_length_decode", "expand_runs", "rle_expand", "decode_runs"],
        [(["pairs", "runs", "encoded", "chunks"], "list")],
        "str",
        [
            "Rebuild a string from (character, count) pairs.",
            "Expand a run-length encoding back into the original text.",
            "Inverse of run-length encoding: repeat each character by its count.",
        ],
        [
            "return ''.join(ch * count for ch, count in {a0})",
            "{o} = []\nfor ch, count in {a0}:\n    {o}.append(ch * count)\nreturn ''.join({o})",
        ],
        "[('a', 3), ('b', 1), ('c', 2)]",
    ),
    T(
        "matrices",
        ["transpose", "flip_matrix", "swap_rows_columns", "matrix_transpose"],
        [(["matrix", "grid", "rows", "table"], "list")],
        "list",
        [
            "Transpose a rectangular matrix given as a list of rows.",
            "Return the columns of {a0} as rows.",
            "Swap rows and columns of a 2-D list.",
        ],
        [
            "if not {a0}:\n    return []\nreturn [[row[c] for row in {a0}] for c in range(len({a0}[0]))]",
            "return [list(col) for col in zip(*{a0})]",
            "{o} = []\nfor c in range(len({a0}[0]) if {a0} else 0):\n    column = []\n    for row in {a0}:\n        column.append(row[c])\n    {o}.append(column)\nreturn {o}",
        ],
        "[[1, 2, 3], [4, 5, 6]]",
    ),
    T(
        "matrices",
        ["column_totals", "sum_columns", "column_sums", "totals_per_column"],
        [(["matrix", "grid", "rows", "sheet"], "list")],
        "list",
        [
            "Return the sum of each column of a rectangular table of numbers.",
            "Add up every column of {a0}.",
            "Compute per-column totals for a list of equally long rows.",
        ],
        [
            "if not {a0}:\n    return []\n{o} = [0] * len({a0}[0])\nfor row in {a0}:\n    for c, {w} in enumerate(row):\n        {o}[c] += {w}\nreturn {o}",
            "return [sum(col) for col in zip(*{a0})]",
        ],
        "[[1, 2], [3, 4], [5, 6]]",
    ),
    T(
        "conversion",
        ["to_fahrenheit", "celsius_to_fahrenheit", "convert_temperatures"],
        [(["celsius", "temps", "readings", "degrees"], "list")],
        "list",
        [
            "Convert a list of Celsius temperatures to Fahrenheit, rounded to one decimal.",
            "Map each reading in {a0} from degrees Celsius to degrees Fahrenheit.",
            "Return Fahrenheit equivalents (one decimal place) of the given temperatures.",
        ],
        [
            "return [round({w} * 9 / 5 + 32, 1) for {w} in {a0}]",
            "{o} = []\nfor {w} in {a0}:\n    {o}.append(round({w} * 9 / 5 + 32, 1))\nreturn {o}",
        ],
        "[0, 37.5, 100]",
    ),
    T(
        "commerce",
        ["cart_total", "checkout_total", "order_total", "basket_price"],
        [
            (["cart", "order", "basket", "lines"], "list"),
            (["discount", "percent_off", "rebate"], "float"),
        ],
        "float",
        [
            "Total a shopping cart of (price, quantity) pairs and apply a percentage discount.",
            "Return the cost of {a0} after taking {a1} percent off, rounded to cents.",
            "Sum price times quantity over all lines, then subtract the discount.",
        ],
        [
            "subtotal = 0\nfor price, qty in {a0}:\n    subtotal += price * qty\nreturn round(subtotal * (1 - {a1} / 100), 2)",
            "subtotal = sum(price * qty for price, qty in {a0})\nreturn round(subtotal - subtotal * {a1} / 100, 2)",
        ],
        "[(2.5, 4), (10.0, 1)], 10",
        "if not 0 <= {a1} <= 100:\n    raise ValueError('discount must be a percentage')",
    ),
    T(
        "finance",
        ["compound_balance", "grow_savings", "balance_after_years", "compound"],
        [
            (["principal", "deposit", "amount"], "float"),
            (["rate", "yearly_rate"], "float"),
            (["years", "periods", "n_years"], "int"),
        ],
        "float",
        [
            "Return the balance after compounding {a0} yearly at {a1} for {a2} years.",
            "Grow an initial amount by a fixed yearly interest rate, rounded to cents.",
            "Apply compound interest year by year and report the final balance.",
        ],
        [
            "balance = {a0}\nfor _ in range({a2}):\n    balance += balance * {a1}\nreturn round(balance, 2)",
            "return round({a0} * (1 + {a1}) ** {a2}, 2)",
        ],
        "1000.0, 0.05, 3",
    ),
    T(
        "parsing",
        ["parse_settings", "parse_key_values", "read_config_line", "parse_pairs"],
        [(TEXT, "str")],
        "dict",
        [
            "Parse a string like 'a=1;b=2' into a dict of strings; blank parts are ignored.",
            "Split {a0} on semicolons and each part on the first '=' into key and value.",
            "Read semicolon-separated key=value settings into a dictionary.",
        ],
        [
            "{o} = {{}}\nfor part in {a0}.split(';'):\n    part = part.strip()\n    if not part:\n        continue\n    key, _, {w} = part.partition('=')\n    {o}[key.strip()] = {w}.strip()\nreturn {o}",
            "pairs = [p.split('=', 1) for p in {a0}.split(';') if '=' in p]\nreturn {{k.strip(): v.strip() for k, v in pairs}}",
        ],
        "'host=localhost; port=8080;;debug=true'",
    ),
    T(
        "formatting",
        ["format_phone", "pretty_phone_number", "phone_display", "format_us_phone"],
        [(["digits", "number", "phone", "raw"], "str")],
        "str",
        [
            "Format a 10-digit phone number as '(xxx) xxx-xxxx'; other characters are dropped.",
            "Keep only the digits of {a0} and lay them out as a US phone number.",
            "Return a readable phone number, or raise ValueError without exactly ten digits.",
        ],
        [
            "only = ''.join(c for c in {a0} if c.isdigit())\nif len(only) != 10:\n    raise ValueError('need ten digits')\nreturn f'({{only[:3]}}) {{only[3:6]}}-{{only[6:]}}'",
            "only = [c for c in {a0} if c.isdigit()]\nif len(only) != 10:\n    raise ValueError('need ten digits')\nreturn '(' + ''.join(only[:3]) + ') ' + ''.join(only[3:6]) + '-' + ''.join(only[6:])",
        ],
        "'555.123.4567'",
    ),
    T(
        "privacy",
        ["mask_email", "hide_email", "obscure_address", "redact_email"],
        [(["email", "address", "addr"], "str")],
        "str",
        [
            "Hide the user part of an e-mail address except its first character.",
            "Return {a0} with every character before '@' but the first replaced by '*'.",
            "Mask an e-mail address for display, keeping the domain.",
        ],
        [
            "user, _, domain = {a0}.partition('@')\nif not domain:\n    raise ValueError('not an e-mail address')\nreturn user[:1] + '*' * (len(user) - 1) + '@' + domain",
            "at = {a0}.index('@')\nreturn {a0}[0] + '*' * (at - 1) + {a0}[at:]",
        ],
        "'jonathan@example.org'",
    ),
    T(
        "text",
        ["headline_case", "title_words", "capitalize_title", "smart_title"],
        [(TEXT, "str")],
        "str",
        [
            "Capitalise each word of a title except short joining words (a, an, the, of, and).",
            "Return {a0} in headline case; the first word is always capitalised.",
            "Title-case a phrase while keeping small words lowercase.",
        ],
        [
            "small = {{'a', 'an', 'the', 'of', 'and', 'in', 'on'}}\n{o} = []\nfor {i}, {w} in enumerate({a0}.lower().split()):\n    if {i} > 0 and {w} in small:\n        {o}.append({w})\n    else:\n        {o}.append({w}.capitalize())\nreturn ' '.join({o})",
            "small = {{'a', 'an', 'the', 'of', 'and', 'in', 'on'}}\nwords = {a0}.lower().split()\nreturn ' '.join(w if i and w in small else w.capitalize() for i, w in enumerate(words))",
        ],
        "'the lord of the rings'",
    ),
    T(
        "text",
        ["count_long_lines", "lines_over_limit", "too_long_lines", "long_line_count"],
        [(TEXT, "str"), (["limit", "width", "max_len"], "int")],
        "int",
        [
            "Count the lines of {a0} that are longer than {a1} characters.",
            "Return how many lines exceed the given width.",
            "Report the number of lines whose length is above the limit.",
        ],
        [
            "{o} = 0\nfor row in {a0}.splitlines():\n    if len(row) > {a1}:\n        {o} += 1\nreturn {o}",
            "return sum(1 for row in {a0}.splitlines() if len(row) > {a1})",
        ],
        "'short\\na much longer line here\\nok', 6",
    ),
    T(
        "sequences",
        ["pairwise_differences", "deltas", "successive_changes", "step_sizes"],
        [(LIST, "list")],
        "list",
        [
            "Return the differences between consecutive elements of {a0}.",
            "Compute how much each value changed from the previous one.",
            "List b - a for every adjacent pair (a, b).",
        ],
        [
            "return [b - a for a, b in zip({a0}, {a0}[1:])]",
            "{o} = []\nfor {i} in range(1, len({a0})):\n    {o}.append({a0}[{i}] - {a0}[{i} - 1])\nreturn {o}",
        ],
        "[10, 13, 9, 9, 20]",
    ),
    T(
        "dict counting",
        ["top_words", "most_common_words", "frequent_terms", "leading_words"],
        [(TEXT, "str"), (["n", "count", "how_many"], "int")],
        "list",
        [
            "Return the {a1} most frequent words of {a0}, most frequent first, ties alphabetical.",
            "Find the most common words in a text.",
            "List the top words by frequency; equal counts are ordered alphabetically.",
        ],
        [
            "tally = {{}}\nfor {w} in {a0}.lower().split():\n    tally[{w}] = tally.get({w}, 0) + 1\nranked = sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))\nreturn [word for word, _ in ranked[:{a1}]]",
            "from collections import Counter\ntally = Counter({a0}.lower().split())\nreturn [w for w, _ in sorted(tally.items(), key=lambda kv: (-kv[1], kv[0]))][:{a1}]",
        ],
        "'b a b c a b', 2",
    ),
    T(
        "dict counting",
        ["age_histogram", "bucket_ages", "ages_by_decade", "decade_counts"],
        [(["ages", "people", "years_old"], "list")],
        "dict",
        [
            "Count people per decade of age: 0-9 -> 0, 10-19 -> 10, and so on.",
            "Return a dict from decade start to the number of ages in {a0} within it.",
            "Histogram of ages grouped into ten-year buckets.",
        ],
        [
            "{o} = {{}}\nfor age in {a0}:\n    decade = age // 10 * 10\n    {o}[decade] = {o}.get(decade, 0) + 1\nreturn {o}",
            "{o} = {{}}\nfor age in {a0}:\n    decade = age - age % 10\n    if decade not in {o}:\n        {o}[decade] = 0\n    {o}[decade] += 1\nreturn {o}",
        ],
        "[3, 15, 17, 42, 48, 41]",
    ),
    T(
        "lists",
        ["rotate_left", "shift_items", "rotate_list", "cycle_left"],
        [(LIST, "list"), (["steps", "k", "by"], "int")],
        "list",
        [
            "Rotate {a0} to the left by {a1} positions (wrapping around).",
            "Move the first {a1} elements to the end of the list.",
            "Return a left rotation of the list; an empty list stays empty.",
        ],
        [
            "if not {a0}:\n    return []\n{a1} %= len({a0})\nreturn {a0}[{a1}:] + {a0}[:{a1}]",
            "{o} = list({a0})\nfor _ in range({a1} % len({a0}) if {a0} else 0):\n    {o}.append({o}.pop(0))\nreturn {o}",
        ],
        "[1, 2, 3, 4, 5], 2",
    ),
    T(
        "text",
        ["average_word_length", "mean_word_length", "avg_word_size"],
        [(TEXT, "str")],
        "float",
        [
            "Return the average length of the words in {a0}, or 0.0 when there are none.",
            "Compute the mean number of letters per word, rounded to two decimals.",
            "Average word length of a sentence (punctuation counts as part of a word).",
        ],
        [
            "words = {a0}.split()\nif not words:\n    return 0.0\nreturn round(sum(len(w) for w in words) / len(words), 2)",
            "words = {a0}.split()\ntotal = 0\nfor {w} in words:\n    total += len({w})\nreturn round(total / len(words), 2) if words else 0.0",
        ],
        "'data flows one way'",
    ),
    T(
        "dicts",
        ["filter_by_minimum", "keep_large_values", "entries_at_least", "prune_small"],
        [(DICT, "dict"), (["threshold", "minimum", "floor"], "float")],
        "dict",
        [
            "Keep only the entries of {a0} whose value is at least {a1}.",
            "Return a new dict without the items below the threshold.",
            "Drop the keys whose numbers are smaller than the given minimum.",
        ],
        [
            "return {{key: {w} for key, {w} in {a0}.items() if {w} >= {a1}}}",
            "{o} = {{}}\nfor key, {w} in {a0}.items():\n    if {w} >= {a1}:\n        {o}[key] = {w}\nreturn {o}",
        ],
        "{'a': 5, 'b': 1, 'c': 3}, 3",
    ),
    T(
        "recursion",
        ["nested_sum", "deep_total", "sum_nested_values", "total_of_tree"],
        [(["tree", "nested", "config", "node"], "dict")],
        "float",
        [
            "Add up all numbers in a dictionary whose values are numbers or nested dictionaries.",
            "Return the total of every numeric leaf in {a0}.",
            "Recursively sum the values of a nested dict.",
        ],
        [
            "{o} = 0\nfor {w} in {a0}.values():\n    if isinstance({w}, dict):\n        {o} += {f}({w})\n    else:\n        {o} += {w}\nreturn {o}",
            "return sum({f}(v) if isinstance(v, dict) else v for v in {a0}.values())",
        ],
        "{'a': 1, 'b': {'c': 2, 'd': {'e': 3}}}",
    ),
    T(
        "recursion",
        ["nesting_depth", "max_depth", "list_depth", "depth_of"],
        [(["nested", "obj", "structure"], "list")],
        "int",
        [
            "Return how deeply lists are nested in {a0}: a flat list has depth 1.",
            "Compute the maximum nesting level of a list of lists.",
            "Depth of a nested list; non-list elements do not add depth.",
        ],
        [
            "if not isinstance({a0}, list):\n    return 0\nreturn 1 + max(({f}(el) for el in {a0}), default=0)",
            "if not isinstance({a0}, list):\n    return 0\ndeepest = 0\nfor el in {a0}:\n    deepest = max(deepest, {f}(el))\nreturn deepest + 1",
        ],
        "[1, [2, [3, 4]], []]",
    ),
    T(
        "search",
        ["binary_search", "find_sorted_index", "locate", "bisect_find"],
        [
            (["sorted_items", "arr", "ordered", "keys"], "list"),
            (["target", "wanted", "key"], "int"),
        ],
        "int",
        [
            "Return the index of {a1} in the ascending list {a0}, or -1 if it is absent.",
            "Binary search a sorted list for a value.",
            "Find a value in sorted data in logarithmic time; -1 when missing.",
        ],
        [
            "lo, hi = 0, len({a0}) - 1\nwhile lo <= hi:\n    mid = (lo + hi) // 2\n    if {a0}[mid] == {a1}:\n        return mid\n    if {a0}[mid] < {a1}:\n        lo = mid + 1\n    else:\n        hi = mid - 1\nreturn -1",
            "from bisect import bisect_left\n{i} = bisect_left({a0}, {a1})\nif {i} < len({a0}) and {a0}[{i}] == {a1}:\n    return {i}\nreturn -1",
        ],
        "[1, 4, 9, 16, 25], 16",
    ),
    T(
        "geometry",
        ["path_length", "route_distance", "walk_length", "polyline_length"],
        [(["points", "route", "waypoints", "path"], "list")],
        "float",
        [
            "Total Manhattan length of a path through the (x, y) points of {a0}.",
            "Sum the city-block distances between consecutive points.",
            "Return how far one walks along a grid path visiting the points in order.",
        ],
        [
            "{o} = 0\nfor (x1, y1), (x2, y2) in zip({a0}, {a0}[1:]):\n    {o} += abs(x2 - x1) + abs(y2 - y1)\nreturn {o}",
            "{o} = 0\nfor {i} in range(1, len({a0})):\n    dx = {a0}[{i}][0] - {a0}[{i} - 1][0]\n    dy = {a0}[{i}][1] - {a0}[{i} - 1][1]\n    {o} += abs(dx) + abs(dy)\nreturn {o}",
        ],
        "[(0, 0), (3, 4), (3, 1)]",
    ),
    T(
        "health",
        ["bmi_category", "classify_bmi", "weight_class", "body_mass_label"],
        [(["weight_kg", "mass", "kg"], "float"), (["height_m", "height", "metres"], "float")],
        "str",
        [
            "Classify a body mass index computed from {a0} (kg) and {a1} (m).",
            "Return 'underweight', 'normal', 'overweight' or 'obese' for the given measurements.",
            "Compute BMI = weight / height squared and name its category.",
        ],
        [
            "bmi = {a0} / {a1} ** 2\nif bmi < 18.5:\n    return 'underweight'\nif bmi < 25:\n    return 'normal'\nif bmi < 30:\n    return 'overweight'\nreturn 'obese'",
            "bmi = {a0} / ({a1} * {a1})\nfor limit, label in ((18.5, 'underweight'), (25, 'normal'), (30, 'overweight')):\n    if bmi < limit:\n        return label\nreturn 'obese'",
        ],
        "70.0, 1.75",
        "if {a1} <= 0:\n    raise ValueError('height must be positive')",
    ),
    T(
        "time",
        ["format_duration", "seconds_to_clock", "as_hms", "duration_string"],
        [(["seconds", "total", "elapsed"], "int")],
        "str",
        [
            "Format a number of seconds as HH:MM:SS.",
            "Return {a0} seconds written as hours, minutes and seconds with two digits each.",
            "Turn a duration in seconds into a clock-style string.",
        ],
        [
            "hours, rest = divmod({a0}, 3600)\nminutes, secs = divmod(rest, 60)\nreturn f'{{hours:02d}}:{{minutes:02d}}:{{secs:02d}}'",
            "hours = {a0} // 3600\nminutes = {a0} % 3600 // 60\nsecs = {a0} % 60\nreturn '%02d:%02d:%02d' % (hours, minutes, secs)",
        ],
        "3725",
        "if {a0} < 0:\n    raise ValueError('negative duration')",
    ),
    T(
        "text",
        ["acronym", "make_acronym", "initials", "abbreviate"],
        [(TEXT, "str")],
        "str",
        [
            "Build an upper-case acronym from the first letter of each word in {a0}.",
            "Return the initials of a phrase; hyphens separate words too.",
            "Abbreviate a name like 'portable network graphics' to 'PNG'.",
        ],
        [
            "words = {a0}.replace('-', ' ').split()\nreturn ''.join(w[0].upper() for w in words)",
            "{o} = ''\nfor {w} in {a0}.replace('-', ' ').split():\n    {o} += {w}[0].upper()\nreturn {o}",
        ],
        "'portable network graphics'",
    ),
    T(
        "dict counting",
        ["count_types", "type_histogram", "tally_types", "kinds_of_values"],
        [(LIST, "list")],
        "dict",
        [
            "Count the elements of {a0} by type name (int, str, ...).",
            "Return a dict from type name to how many elements have that type.",
            "Summarise a heterogeneous list by the types it contains.",
        ],
        [
            "{o} = {{}}\nfor {w} in {a0}:\n    name = type({w}).__name__\n    {o}[name] = {o}.get(name, 0) + 1\nreturn {o}",
            "from collections import Counter\nreturn dict(Counter(type({w}).__name__ for {w} in {a0}))",
        ],
        "[1, 'a', 2.5, 'b', None, 3]",
    ),
    T(
        "text",
        ["split_camel_case", "camel_to_words", "uncamel", "words_from_camel"],
        [(["name", "identifier", "camel"], "str")],
        "list",
        [
            "Split a camelCase or PascalCase identifier into lowercase words.",
            "Return the words of {a0}, breaking before each capital letter.",
            "Turn 'parseHttpResponse' into ['parse', 'http', 'response'].",
        ],
        [
            "{o} = []\ncurrent = ''\nfor ch in {a0}:\n    if ch.isupper() and current:\n        {o}.append(current.lower())\n        current = ch\n    else:\n        current += ch\nif current:\n    {o}.append(current.lower())\nreturn {o}",
            "import re\nreturn [w.lower() for w in re.findall(r'[A-Z]?[a-z0-9]+|[A-Z]+(?![a-z])', {a0})]",
        ],
        "'parseHttpResponse'",
    ),
    T(
        "lists",
        ["clamp_all", "limit_range", "clip_values", "bound_values"],
        [(LIST, "list"), (["low", "lo", "minimum"], "float"), (["high", "hi", "maximum"], "float")],
        "list",
        [
            "Clamp every value of {a0} into the closed range [{a1}, {a2}].",
            "Return the list with values below the floor raised and above the ceiling lowered.",
            "Clip numbers to lie between two bounds.",
        ],
        [
            "return [min(max({w}, {a1}), {a2}) for {w} in {a0}]",
            "{o} = []\nfor {w} in {a0}:\n    if {w} < {a1}:\n        {o}.append({a1})\n    elif {w} > {a2}:\n        {o}.append({a2})\n    else:\n        {o}.append({w})\nreturn {o}",
        ],
        "[-5, 3, 12, 7], 0, 10",
        "if {a1} > {a2}:\n    raise ValueError('low must not exceed high')",
    ),
    T(
        "arithmetic",
        ["safe_ratios", "divide_pairs", "elementwise_divide", "ratios_or_default"],
        [(["numerators", "tops", "a"], "list"), (["denominators", "bottoms", "b"], "list")],
        "list",
        [
            "Divide {a0} by {a1} element by element; a zero denominator gives None.",
            "Return the quotients of two equally long lists, with None where dividing by zero.",
            "Elementwise division that does not fail on zero.",
        ],
        [
            "{o} = []\nfor top, bottom in zip({a0}, {a1}):\n    {o}.append(top / bottom if bottom else None)\nreturn {o}",
            "return [None if y == 0 else x / y for x, y in zip({a0}, {a1})]",
        ],
        "[1, 4, 9], [2, 0, 3]",
    ),
    T(
        "inventory",
        ["items_to_restock", "low_stock", "reorder_list", "needs_restock"],
        [
            (["stock", "inventory", "levels"], "dict"),
            (["minimum", "threshold", "reorder_at"], "int"),
        ],
        "list",
        [
            "Return, sorted by name, the products in {a0} whose quantity is below {a1}.",
            "List the items that must be reordered because stock fell under the threshold.",
            "Find products running low in an inventory dict of name -> quantity.",
        ],
        [
            "return sorted(name for name, qty in {a0}.items() if qty < {a1})",
            "{o} = []\nfor name, qty in {a0}.items():\n    if qty < {a1}:\n        {o}.append(name)\n{o}.sort()\nreturn {o}",
        ],
        "{'bolts': 3, 'nuts': 40, 'washers': 0}, 5",
    ),
    T(
        "records",
        ["student_averages", "average_marks", "mean_scores", "grade_means"],
        [(["marks", "grades", "results"], "dict")],
        "dict",
        [
            "Map each student in {a0} to the mean of their marks, rounded to one decimal.",
            "Return a dict from name to average score; students without marks get 0.0.",
            "Average the list of marks of every student.",
        ],
        [
            "{o} = {{}}\nfor name, values in {a0}.items():\n    {o}[name] = round(sum(values) / len(values), 1) if values else 0.0\nreturn {o}",
            "return {{name: round(sum(v) / len(v), 1) if v else 0.0 for name, v in {a0}.items()}}",
        ],
        "{'ana': [8, 9, 10], 'ben': [], 'cy': [5, 6]}",
    ),
    T(
        "sequences",
        ["longest_run", "longest_streak", "max_repeat_run", "longest_equal_run"],
        [(LIST, "list")],
        "int",
        [
            "Return the length of the longest run of equal adjacent elements in {a0}.",
            "How many times in a row does the most repeated value occur consecutively?",
            "Length of the longest streak of identical consecutive items (0 for an empty list).",
        ],
        [
            "if not {a0}:\n    return 0\nbest = current = 1\nfor {i} in range(1, len({a0})):\n    if {a0}[{i}] == {a0}[{i} - 1]:\n        current += 1\n        best = max(best, current)\n    else:\n        current = 1\nreturn best",
            "from itertools import groupby\nreturn max((len(list(g)) for _, g in groupby({a0})), default=0)",
        ],
        "[1, 1, 2, 2, 2, 3, 2]",
    ),
    T(
        "dicts",
        ["zip_to_dict", "pair_up", "make_lookup", "keys_with_values"],
        [(["keys", "names", "labels"], "list"), (["vals", "values", "amounts"], "list")],
        "dict",
        [
            "Pair keys with values into a dict; keys without a value map to None.",
            "Build a dictionary from two lists, padding missing values with None.",
            "Return {{key: value}} for matching positions of {a0} and {a1}.",
        ],
        [
            "{o} = {{}}\nfor {i}, key in enumerate({a0}):\n    {o}[key] = {a1}[{i}] if {i} < len({a1}) else None\nreturn {o}",
            "from itertools import zip_longest\nreturn {{k: v for k, v in zip_longest({a0}, {a1}[:len({a0})])}}",
        ],
        "['a', 'b', 'c'], [1, 2]",
    ),
    T(
        "text",
        ["strip_punctuation", "remove_punctuation", "only_words", "clean_text"],
        [(TEXT, "str")],
        "str",
        [
            "Remove all punctuation characters from {a0}, keeping letters, digits and spaces.",
            "Return the text without punctuation.",
            "Delete every character of a sentence that is not alphanumeric or whitespace.",
        ],
        [
            "return ''.join(ch for ch in {a0} if ch.isalnum() or ch.isspace())",
            "import string\nreturn {a0}.translate(str.maketrans('', '', string.punctuation))",
            "{o} = []\nfor ch in {a0}:\n    if ch.isalnum() or ch.isspace():\n        {o}.append(ch)\nreturn ''.join({o})",
        ],
        "'Hi! Is this... ok?'",
    ),
    T(
        "text",
        ["count_starting_with", "words_beginning_with", "initial_count", "count_prefix"],
        [(TEXT, "str"), (["letter", "initial", "ch"], "str")],
        "int",
        [
            "Count the words of {a0} that start with {a1}, ignoring case.",
            "Return how many words begin with the given letter.",
            "Number of words whose first character matches the letter (case-insensitive).",
        ],
        [
            "return sum(1 for w in {a0}.split() if w.lower().startswith({a1}.lower()))",
            "{o} = 0\nfor {w} in {a0}.split():\n    if {w}[0].lower() == {a1}.lower():\n        {o} += 1\nreturn {o}",
        ],
        "'Sally sells sea shells', 's'",
    ),
    T(
        "units",
        ["kilometres_to_miles", "km_to_miles", "convert_distances", "to_miles"],
        [(["distances", "km", "legs"], "list")],
        "list",
        [
            "Convert distances in kilometres to miles, rounded to two decimals.",
            "Return each value of {a0} expressed in miles.",
            "Map a list of kilometre distances to miles (1 km = 0.621371 mi).",
        ],
        [
            "return [round(d * 0.621371, 2) for d in {a0}]",
            "{o} = []\nfactor = 0.621371\nfor d in {a0}:\n    {o}.append(round(d * factor, 2))\nreturn {o}",
        ],
        "[5, 10, 42.195]",
    ),
    T(
        "records",
        ["oldest_person", "find_oldest", "eldest_name", "max_age_name"],
        [(["people", "records", "rows"], "list")],
        "str",
        [
            "Return the name of the oldest person in a list of {{'name', 'age'}} dicts.",
            "Given people as dictionaries with name and age, name the oldest; '' if none.",
            "Find who is oldest in {a0}; the first one wins a tie.",
        ],
        [
            "if not {a0}:\n    return ''\nbest = {a0}[0]\nfor person in {a0}[1:]:\n    if person['age'] > best['age']:\n        best = person\nreturn best['name']",
            "if not {a0}:\n    return ''\nreturn max({a0}, key=lambda p: p['age'])['name']",
        ],
        "[{'name': 'ann', 'age': 31}, {'name': 'bo', 'age': 45}]",
    ),
]


def _render(t: Template, rng: random.Random, idx: int) -> dict:
    name = rng.choice(t.names)
    if rng.random() < 0.4:
        name = rng.choice(["get_", "compute_", "calc_", ""]) + name
    args, used = [], set()
    for pool, _ in t.args:
        choices = [p for p in pool if p not in used]
        args.append(rng.choice(choices))
        used.add(args[-1])
    fill = {f"a{k}": a for k, a in enumerate(args)}
    fill |= {
        "o": rng.choice([o for o in OUT if o not in used]),
        "w": rng.choice([w for w in LOOP if w not in used]),
        "i": rng.choice([i for i in IDX if i not in used]),
        "f": name,
    }
    hints = rng.random() < 0.6
    if hints:
        sig = ", ".join(f"{a}: {h}" for a, (_, h) in zip(args, t.args, strict=True))
        sig = f"def {name}({sig}) -> {t.returns}:"
    else:
        sig = f"def {name}({', '.join(args)}):"
    body = rng.choice(t.bodies).format(**fill)
    if t.guard and rng.random() < 0.5:
        body = t.guard.format(**fill) + "\n" + body
    doc = rng.choice(t.docs).format(**fill)
    if rng.random() < 0.5:
        doc += "\n\n" + rng.choice(
            [
                "Args and return value are plain Python objects.",
                "The input is not modified.",
                f"Example topic: {t.topic}.",
                "Runs in linear time in the size of the input.",
                "Raises nothing for empty inputs unless stated.",
            ]
        )
    quote = '"' * 3

    def prompt_for(doc: str) -> str:
        return f"{sig}\n{_indent(quote + doc)}\n    {quote}\n"

    example = _example(prompt_for(doc) + _indent(body) + "\n", name, t.example)
    if example:
        doc += f"\n\n>>> {name}({t.example})\n{example}"
    prompt = prompt_for(doc)
    completion = _indent(body) + "\n"
    return {
        "id": f"gen-{idx:06d}",
        "prompt": prompt,
        "completion": completion,
        "text": prompt + completion,
        "meta": {"source": "decontam-fixture", "topic": t.topic, "function": name},
    }


def _indent(block: str) -> str:
    return "\n".join(("    " + line) if line else "" for line in block.split("\n"))


def _example(code: str, name: str, args: str) -> str | None:
    scope: dict = {}
    try:
        exec(code, scope)  # our own generated code: the example shows its real output
        return repr(eval(f"{name}({args})", scope))
    except Exception:
        return None


def generate(n: int, seed: int = 0) -> list[dict]:
    """``n`` exercises, the same for the same seed."""
    rng = random.Random(seed)
    return [_render(rng.choice(TEMPLATES), rng, i) for i in range(n)]
