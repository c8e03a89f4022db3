"""Write stack_python.parquet: a few rows in The Stack v1.2's schema (bigcode/the-stack-dedup,
data/python), including the bad rows a reader must count and skip. Run from this folder:
``python make_stack_parquet.py``; the output is committed."""

import pyarrow as pa
import pyarrow.parquet as pq

GOOD = [
    (
        "src/mathutils/gcd.py",
        "alice/mathutils",
        'def gcd(a, b):\n    """Greatest common divisor by Euclid\'s algorithm."""\n'
        "    while b:\n        a, b = b, a % b\n    return a\n",
    ),
    (
        "setup.py",
        "bob/widgets",
        "from setuptools import setup\n\n"
        "setup(name='widgets', version='0.1', packages=['widgets'])\n",
    ),
    (
        "tests/test_strings.py",
        "carol/strs",
        "import unittest\n\n\nclass T(unittest.TestCase):\n    def test_upper(self):\n"
        "        self.assertEqual('a'.upper(), 'A')\n",
    ),
]
BAD = [
    ("bin/blob.py", "dave/blob", "PK\x03\x04\x00\x00binary"),  # a NUL byte: binary
    ("empty.py", "erin/empty", "   \n\n"),  # whitespace only
    ("missing.py", "frank/missing", None),  # null content
]


def main() -> None:
    rows = GOOD + BAD
    n = len(rows)
    content = [c for _, _, c in rows]
    table = pa.table(
        {
            "hexsha": [f"{i:040x}" for i in range(n)],
            "size": pa.array([len((c or "").encode()) for c in content], pa.int64()),
            "ext": ["py"] * n,
            "lang": ["Python"] * n,
            "max_stars_repo_path": [p for p, _, _ in rows],
            "max_stars_repo_name": [r for _, r, _ in rows],
            "max_stars_repo_head_hexsha": ["0" * 40] * n,
            "max_stars_repo_licenses": [["MIT"]] * n,
            "max_stars_count": pa.array([10 * i if i % 2 else None for i in range(n)], pa.int64()),
            "max_stars_repo_stars_event_min_datetime": ["2015-01-01T00:00:00.000Z"] * n,
            "max_stars_repo_stars_event_max_datetime": ["2021-01-01T00:00:00.000Z"] * n,
            "content": pa.array(content, pa.string()),
            "avg_line_length": [20.5] * n,
            "max_line_length": pa.array([80] * n, pa.int64()),
            "alphanum_fraction": [0.6] * n,
        }
    )
    pq.write_table(table, "stack_python.parquet", row_group_size=4)


if __name__ == "__main__":
    main()
