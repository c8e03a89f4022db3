"""Text checks, templates, names and topics: the pure pieces of the synth stage."""

import keyword
import random

import pytest

from phi1.errors import Phi1Error
from phi1.llm.prompts import TEMPLATES, check_template, load_templates, render
from phi1.synth import checks
from phi1.synth.exercises import ExerciseSettings
from phi1.synth.names import function_names, name_space, read_names
from phi1.synth.textbooks import TextbookSettings, check_section
from phi1.synth.topics import AUDIENCES, STYLES, draw, leaves


def test_code_blocks_and_parse_errors(SECTION):
    blocks = checks.python_blocks(SECTION)
    assert len(blocks) == 2 and blocks[0].startswith("def count_words")
    assert all(checks.parses(b, console=True) is None for b in blocks)  # console transcripts
    assert checks.parses(blocks[1]) is not None
    doc = 'def f():\n    """\n    >>> f([\n    ...     1])\n    """\n    return 1\n'
    assert checks.parses(doc) is None and checks.parses(doc, console=True) is None
    assert checks.parses("def f(:\n    pass") == "line 1: invalid syntax"
    assert checks.unclosed_fence("```python\nx = 1\n") and not checks.unclosed_fence(SECTION)
    assert checks.python_blocks("```bash\nls\n```\n```\nx = 1\n```") == ["x = 1\n"]
    in_a_list = "1. **Loop:**\n\n   ```python\n   for n in [1, 2]:\n       print(n)\n   ```\n"
    (block,) = checks.python_blocks(in_a_list)
    assert block == "for n in [1, 2]:\n    print(n)\n" and checks.parses(block) is None


def test_refusals_and_boilerplate(SECTION):
    assert checks.is_refusal("I'm sorry, but I can't help with that.")
    assert checks.is_refusal("As an AI language model, I cannot write textbooks.")
    assert not checks.is_refusal(SECTION)
    wrapped = "Sure! Here's a section on dictionaries:\n\n" + SECTION + "\nI hope this helps!"
    assert checks.strip_boilerplate(wrapped) == SECTION.strip()
    assert checks.compression_ratio("same line\n" * 300) < 0.05
    assert checks.compression_ratio(SECTION) > 0.3


def test_check_section_reasons(SECTION):
    settings = TextbookSettings(min_words=50, max_words=400)
    text, problem = check_section(SECTION, "stop", settings)
    assert problem == "" and text == SECTION.strip()
    assert check_section(SECTION, "length", settings)[1] == "truncated"
    assert check_section("I'm sorry, I cannot do that.", "stop", settings)[1] == "refusal"
    assert check_section("word " * 10, "stop", settings)[1] == "too_short: 10 words"
    assert check_section(SECTION + " more" * 400, "stop", settings)[1].startswith("too_long")
    no_code = SECTION.replace("```python", "```text")
    assert check_section(no_code, "stop", settings)[1] == "no_code: 0 python blocks"
    broken = SECTION.replace("def count_words(text):", "def count_words(text:")
    assert check_section(broken, "stop", settings)[1].startswith("code_does_not_parse: block 0")
    looping = SECTION + "\n" + "The loop repeats. " * 300
    assert check_section(looping, "stop", TextbookSettings(max_words=5000))[1].startswith(
        "repetitive"
    )


def test_templates_render_and_refuse_missing_fields(tmp_path):
    fields = {"name": "f", "topic": "t", "difficulty": "easy", "examples": 2}
    text = render(TEMPLATES, "exercise.function", **fields)
    assert "`f`" in text and "$" not in text
    with pytest.raises(Phi1Error, match="template 'exercise.function': missing field 'name'"):
        render(TEMPLATES, "exercise.function", topic="t", difficulty="d", examples=1)
    custom = tmp_path / "prompts.yaml"
    custom.write_text("exercise.function: 'Write `$name` about $topic for $level'\n")
    templates = load_templates(custom)
    with pytest.raises(Phi1Error, match=r"uses field\(s\) \$level that this stage does not"):
        check_template(templates, "exercise.function", set(fields))
    bad = tmp_path / "bad.yaml"
    bad.write_text("textbook.chapter: hello\n")
    with pytest.raises(Phi1Error, match="unknown template 'textbook.chapter'"):
        load_templates(bad)
    bad.write_text("a: [unclosed\n")
    with pytest.raises(Phi1Error, match="invalid YAML"):
        load_templates(bad)


def test_names_are_distinct_plausible_and_prefix_stable(tmp_path):
    space = name_space()
    assert len(space) == len(set(space)) > 2_000
    assert all(n.isidentifier() and not keyword.iskeyword(n) for n in space)
    # every name is one of a kind's operations on one of that kind's nouns
    assert "count_even_scores" in space and "merge_overlapping_meetings" in space
    assert "count_even_prices" not in space  # parity is for counts, not measurements
    first = function_names(200, seed=3)
    assert len(set(first)) == 200 and set(first) <= set(space)
    assert function_names(500, seed=3)[:200] == first  # growing a run keeps its names
    assert function_names(200, seed=4) != first
    # past the end of the space the names come round again, in a new order
    more = function_names(len(space) + 50, seed=3)
    assert len(set(more[: len(space)])) == len(space) and set(more[len(space) :]) <= set(space)
    assert more[len(space) : len(space) + 50] != more[:50]
    old = name_space("combinatorial")  # the first generator, kept for the runs made with it
    assert len(old) == len(set(old)) > 50_000 and "flatten_consecutive_triangles" in old
    assert function_names(2, 0, space="combinatorial") == [
        "flatten_consecutive_triangles",
        "interleave_duplicate_teams",
    ]  # the names of examples/synth/teacher-1.5b: those runs re-run
    with pytest.raises(Phi1Error, match="exercise.names must be one of coherent"):
        name_space("fancy")
    with pytest.raises(Phi1Error, match="exercise.names must be one of coherent"):
        ExerciseSettings(names="fancy")
    names = tmp_path / "names.txt"
    names.write_text("# mine\nrolling_sum\n\nmerge_ranges\n")
    assert function_names(2, 0, names) == ["rolling_sum", "merge_ranges"]
    with pytest.raises(Phi1Error, match="only 2 names"):
        function_names(3, 0, names)
    names.write_text("ok_name\nclass\n")
    with pytest.raises(Phi1Error, match=r"names.txt:2: 'class' is not a valid"):
        read_names(names)


def test_topic_tree_has_hundreds_of_leaves_and_draws_are_seeded():
    topics = leaves()
    assert len(topics) >= 250 and len({t.leaf for t in topics}) == len(topics)
    a = draw(random.Random("0:textbook:5"), topics, AUDIENCES, STYLES)
    b = draw(random.Random("0:textbook:5"), topics, AUDIENCES, STYLES)
    assert a == b


def test_the_name_space_is_part_of_a_runs_key_except_for_the_first_generator():
    from phi1.llm.prompts import TEMPLATES
    from phi1.synth.exercises import exercise_fingerprint

    class Named:  # what the fingerprint reads of a model: its name
        def identity(self):
            return {"name": "m"}

    def key(**kw):
        return exercise_fingerprint(ExerciseSettings(**kw), Named(), dict(TEMPLATES))

    assert key()["names"].startswith("coherent:")  # a changed list of names is another run
    assert "names" not in key(names="combinatorial")  # runs made before the setting re-run
    assert "names" not in key(names_file="names.txt")
