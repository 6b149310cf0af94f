"""okrs.yaml is read as PyYAML's SafeLoader reads it, with the line of every key, merge keys included,
and hostile or odd YAML gets a one-line problem with its line instead of a traceback."""
from __future__ import annotations

from datetime import date, datetime, timezone

import pytest
import yaml

from mapping.errors import ConfigError
from mapping.loader import load_config
from mapping.yaml_lines import load_yaml_with_lines

SAME_AS_SAFE_LOAD = {
    "scalars": "a: true\nb: False\nc: ~\nd: null\ne: .inf\ni: 0x1f\nj: 1_000\nl: 2026-10-01\n"
               "m: 2026-10-01T10:00:00Z\nn: 1e3\no: '1e3'\nq: !!str 123\nr: !!int '5'\ns: !!float 3\nt: !!binary aGVsbG8=\n",
    "collections": "s: !!set {a, b}\no: !!omap [a: 1, b: 2]\np: !!pairs [a: 1, a: 2]\nm: !!map {a: 1}\nq: !!seq [1]\n",
    "anchors": "a: &x {k: 1, l: [1, 2]}\nb: *x\nc: [*x, *x]\nd: &s [1, {m: 2}]\ne: *s\n",
    "keys": "2: a\ntrue: c\n1.5: e\n? a\n: 1\n",
    "merge": "base: &b {a: 1, b: 2}\nmore: &m {c: 3}\nx:\n  <<: *b\n  b: 20\ny:\n  <<: [*b, *m]\n  d: 4\n",
    "documents": "- 1\n- [2, 3]\n- {a: b}\n",
    "text": "a: |\n  line1\n  line2\nb: >\n  folded\n  text\n",
}


def test_plain_scalars_read_as_yaml_1_2_not_as_yaml_1_1(tmp_path):
    """The YAML 1.1 readings that turn text into numbers or booleans behind the author's back are gone."""
    path = tmp_path / "okrs.yaml"
    path.write_text("a: yes\nb: No\nc: on\nd: OFF\ne: 1:30\nf: 190:20:30\ng: 012\nh: 0o17\ni: -0x10\nj: TRUE\nk: 1.5\n")
    data, _ = load_yaml_with_lines(path)
    assert data == {"a": "yes", "b": "No", "c": "on", "d": "OFF", "e": "1:30", "f": "190:20:30", "g": 12, "h": 15, "i": "-0x10",
                    "j": True, "k": 1.5}


@pytest.mark.parametrize("name", sorted(SAME_AS_SAFE_LOAD))
def test_values_are_those_of_pyyaml_safe_load(tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(SAME_AS_SAFE_LOAD[name], encoding="utf-8")
    data, _ = load_yaml_with_lines(path)
    expected = yaml.safe_load(SAME_AS_SAFE_LOAD[name])
    assert data == expected
    assert repr(data) == repr(expected)  # the same types too (True is not 1, a date is not a datetime)


def test_typed_values_come_out_as_python_values(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("d: 2026-10-01\nt: 2026-10-01T10:00:00Z\nflag: true\nhex: 0x1f\n", encoding="utf-8")
    data, _ = load_yaml_with_lines(path)
    assert data == {"d": date(2026, 10, 1), "t": datetime(2026, 10, 1, 10, tzinfo=timezone.utc), "flag": True, "hex": 31}


def test_every_key_path_and_list_item_has_its_line(tmp_path):
    path = tmp_path / "l.yaml"
    path.write_text("period: 2026-Q4\n"          # 1
                    "objectives:\n"              # 2
                    "  - id: a\n"                # 3
                    "    key_results:\n"         # 4
                    "      - id: k\n"            # 5
                    "        target: 1\n"        # 6
                    "tags: [x, y]\n", encoding="utf-8")  # 7
    _, lines = load_yaml_with_lines(path)
    assert lines[()] == 1 and lines[("period",)] == 1
    assert lines[("objectives",)] == 2 and lines[("objectives", 0)] == 3 and lines[("objectives", 0, "id")] == 3
    assert lines[("objectives", 0, "key_results", 0)] == 5 and lines[("objectives", 0, "key_results", 0, "target")] == 6
    assert lines[("tags", 0)] == 7 and lines[("tags", 1)] == 7


def test_an_alias_has_lines_under_every_path_that_uses_it(tmp_path):
    path = tmp_path / "a.yaml"
    path.write_text("defaults: &d\n  kind: sql\n  url_env: X\n"  # 1-3
                    "sources:\n  a: *d\n  b: *d\n", encoding="utf-8")  # 4-6
    data, lines = load_yaml_with_lines(path)
    assert data["sources"]["a"] is data["sources"]["b"] is data["defaults"]  # one object, as PyYAML gives
    assert lines[("sources", "a")] == 5 and lines[("sources", "b")] == 6
    assert lines[("sources", "a", "url_env")] == 3 and lines[("sources", "b", "kind")] == 2  # where the text is


def test_merge_keys_share_settings_and_the_mapping_own_keys_win(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("base: &b {a: 1, b: 2}\n"       # 1
                    "x:\n"                           # 2
                    "  <<: *b\n"                     # 3
                    "  b: 20\n", encoding="utf-8")   # 4
    data, lines = load_yaml_with_lines(path)
    assert data["x"] == {"a": 1, "b": 20}
    assert lines[("x", "b")] == 4 and lines[("x", "a")] == 1


def test_a_merged_source_setting_is_validated_at_its_line(write_config):
    path = write_config("""\
        period: 2026-Q4
        sources:
          line_a: &mes {kind: sql, url: "sqlite:///mes.db", max_age: soon}
          line_b:
            <<: *mes
            max_age: 1d
        objectives:
          - id: q
            title: Quality
            key_results:
              - {id: a, title: A, type: at_most, target: 0.5, unit: "%", metric: {source: line_a, sql: SELECT 1}}
              - {id: b, title: B, type: at_most, target: 0.5, unit: "%", metric: {source: line_b, sql: SELECT 1}}
        """)
    with pytest.raises(ConfigError) as caught:
        load_config(path, check_env=False)
    (problem,) = caught.value.problems  # line_b overrides max_age, so only line_a's is wrong
    assert (problem.path, problem.line) == ("sources.line_a.max_age", 3)
    config = load_config(write_config(path.read_text().replace("max_age: soon", "max_age: 2d")), check_env=False)
    assert config.sources["line_b"].url == "sqlite:///mes.db"
    assert (config.sources["line_a"].max_age, config.sources["line_b"].max_age) == ("2d", "1d")


def test_a_merge_key_bomb_is_refused_like_any_alias_bomb(tmp_path):
    lines = ["a0: &a0 {" + ", ".join(f"k{i}: lol" for i in range(9)) + "}"]
    for level in range(1, 8):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 9) + "]")
    lines.append("x: {<<: *a0, y: *a7}")
    path = tmp_path / "bomb.yaml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expands to more than"):
        load_yaml_with_lines(path)


@pytest.mark.parametrize("text, line, message", [
    ("a: 1\nb: !!timestamp nope\n", 2, "unreadable value 'nope': not a valid timestamp"),
    ("a: !!int x\n", 1, "unreadable value 'x': not a valid int"),
    ("a: 1\n? [x, y]\n: 1\n", 2, "found unhashable key"),
    ("a: 1\nb: 2\na: 3\n", 3, "duplicate key 'a' (first at line 1)"),
    ("x:\n  - {k: 1, k: 2}\n", 2, "duplicate key 'k' (first at line 2)"),
    ("a: !custom value\n", 1, "could not determine a constructor for the tag '!custom'"),
    ("a: " + "9" * 5000 + "\n", 1, "an integer of 5,000 characters is too long to read"),
])
def test_odd_yaml_is_one_problem_at_its_line(tmp_path, text, line, message):
    path = tmp_path / "odd.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_yaml_with_lines(path)
    (problem,) = caught.value.problems
    assert problem.line == line and message in problem.message, str(problem)
