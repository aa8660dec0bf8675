"""Names, limits and typed-content validation (line:column), and the properties parser."""

from __future__ import annotations

import pytest

from shipway.config_center import validate
from shipway.core.errors import BadRequest, PayloadTooLarge, ValidationFailed


@pytest.mark.parametrize("name", ["a", "app.yaml", "A-b_c:d.e", "x" * 256])
def test_good_data_ids(name):
    assert validate.check_name(name, "dataId") == name


@pytest.mark.parametrize("name", ["", "a b", "a/b", "..", ".", "é", "x" * 257, None, 5])
def test_bad_data_ids_name_the_field(name):
    with pytest.raises(BadRequest) as e:
        validate.check_name(name, "dataId")
    assert e.value.details["field"] == "dataId"


def test_size_limit():
    validate.check_size("x" * validate.MAX_CONTENT_BYTES)
    with pytest.raises(PayloadTooLarge) as e:
        validate.check_size("é" * (validate.MAX_CONTENT_BYTES // 2 + 1))  # counted in UTF-8 bytes
    assert e.value.details["limit"] == validate.MAX_CONTENT_BYTES


@pytest.mark.parametrize("type_,text,where", [
    ("json", '{\n  "a": [1,\n}', (3, 1)),
    ("yaml", "a: [1\n", (2, 1)),
    ("toml", "[t]\nx = = 1\n", (2, 5)),
    ("xml", "<a>\n  <b>\n</a>", (3, 3)),
    ("properties", "ok=1\n# \\uzz fine in comments\nk=\\u12\n", (3, 3)),
])
def test_typed_errors_have_line_and_column(type_, text, where):
    with pytest.raises(ValidationFailed) as e:
        validate.check_content(text, type_)
    err = e.value.errors[0]
    assert (err["line"], err["column"]) == where, err
    assert f"line {where[0]}:{where[1]}" in e.value.message


def test_xml_entities_refused():
    text = '<!DOCTYPE a [<!ENTITY x "xx">]><a>&x;</a>'
    assert validate.content_errors(text, "xml")


@pytest.mark.parametrize("type_", ["text", "html", "json", "yaml", "toml", "xml", "properties"])
def test_valid_content_passes(type_):
    samples = {"text": "{{ anything", "html": "<p>unclosed", "json": "[]", "yaml": "a: 1", "toml": "a = 1",
               "xml": "<a/>", "properties": "a=1\\\\u"}
    assert validate.check_content(samples[type_], type_) == samples[type_]


def test_meta_and_type():
    assert validate.check_meta("d", "b, a,a") == ("d", ["a", "b"])
    with pytest.raises(BadRequest):
        validate.check_meta("", ["x"] * 21 + [str(i) for i in range(21)])
    with pytest.raises(BadRequest):
        validate.check_type("ini")
    assert validate.check_type(None) == "text"


def test_parse_properties():
    text = "# c\n! c\na=1\nb : 2\nc 3\nlong = one \\\n    two\nuni=\\u0041\\n\nkey\\ with\\ space=v\nempty\n"
    assert validate.parse_properties(text) == {"a": "1", "b": "2", "c": "3", "long": "one two", "uni": "A\n",
                                               "key with space": "v", "empty": ""}
