"""Nacos listener wire format, the znode value format, and the SDK's "newer" rule."""

from __future__ import annotations

import urllib.parse

import pytest

from shipway.config_center.longpoll import Entry, effective_md5, format_changed, parse_listening_configs
from shipway.config_center.paths import Value, config_path, decode, md5_of
from shipway.config_center.value import ConfigValue, is_newer
from shipway.core.errors import BadRequest


def test_parse_three_and_four_field_keys():
    keys = parse_listening_configs("a\x02G\x02m1\x01b\x02G\x02m2\x02dev\x01")
    assert [(k.data_id, k.group, k.md5, k.tenant) for k in keys] == [("a", "G", "m1", ""), ("b", "G", "m2", "dev")]
    encoded = format_changed(keys)
    assert encoded == "a%02G%01b%02G%02dev%01"
    assert urllib.parse.unquote_plus(encoded) == "a\x02G\x01b\x02G\x02dev\x01"


@pytest.mark.parametrize("bad", ["", "a\x02b\x01", "a\x02b\x02c\x02d\x02e\x01"])
def test_bad_listening_configs(bad):
    with pytest.raises(BadRequest):
        parse_listening_configs(bad)


def test_value_roundtrip_keeps_content_unescaped():
    content = 'line "one"\n\ttab\u00e9\n' * 3
    v = Value(content=content, md5=md5_of(content), version=7, type="yaml", author="a", time=1, desc="d",
              tags=("x",), ips=("10.0.0.1",), labels={"k": "v"})
    raw = v.encode()
    assert raw.endswith(content.encode())
    assert decode(raw) == v
    assert decode(b"") is None and decode(b"garbage") is None
    assert config_path("public", "G", "a.b") == "/shipway/config/public/G/a.b"


def test_beta_matching_and_effective_md5():
    beta = Value(content="b", md5="B", ips=("10.0.0.1",), labels={"track": "canary"})
    assert beta.matches("10.0.0.1", None)
    assert beta.matches("1.1.1.1", {"track": "canary", "zone": "a"})
    assert not beta.matches("1.1.1.1", {"track": "stable"})
    e = Entry(main=Value(content="m", md5="M"), beta=beta)
    assert effective_md5(e, "10.0.0.1", None) == "B" and effective_md5(e, "2.2.2.2", None) == "M"
    assert effective_md5(Entry(), "", None) == ""


def test_is_newer():
    v = lambda ver, md5="x", beta=False, content="c": ConfigValue("n", "g", "d", content, md5, ver, "text", beta)  # noqa: E731
    assert is_newer(v(1), None) and not is_newer(v(1, content=None), None)
    assert is_newer(v(2), v(1)) and not is_newer(v(1), v(2))
    assert not is_newer(v(2), v(2))
    assert is_newer(v(2, "y", beta=True), v(2))  # a beta switch at the same version
    assert is_newer(v(2).deleted(), v(2))
