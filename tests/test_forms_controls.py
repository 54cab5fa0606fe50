"""The ordered-controls function on hand-written bodies."""
import io

import peppercorn
import pytest
from django.http.multipartparser import MultiPartParserError
from django.test import RequestFactory, override_settings

from tests.forms_support import multipart, png_bytes
from trophies.forms import controls as controls_module
from trophies.forms.controls import (
    ControlsError,
    OrderedMultipartHandler,
    UploadedPart,
    form_controls,
    parse_multipart,
    parse_urlencoded,
)

INTERLEAVED = [
    ("__start__", "tiers:sequence"),
    ("__start__", "tier:mapping"), ("name", "Bottom"), ("__start__", "slots:sequence"),
    ("__start__", "slot:mapping"), ("key", "base"), ("__end__", "slot:mapping"),
    ("__start__", "slot:mapping"), ("key", "trim"), ("__end__", "slot:mapping"),
    ("__end__", "slots:sequence"), ("__end__", "tier:mapping"),
    ("__start__", "tier:mapping"), ("name", ""), ("__start__", "slots:sequence"), ("__end__", "slots:sequence"),
    ("__end__", "tier:mapping"),
    ("__end__", "tiers:sequence"),
]


def request_for(controls, encoding):
    factory = RequestFactory()
    if encoding == "multipart":
        body, content_type = multipart(controls)
    else:
        from urllib.parse import urlencode

        body, content_type = urlencode(controls).encode(), "application/x-www-form-urlencoded"
    request = factory.generic("POST", "/x/", body, content_type=content_type)
    if encoding == "multipart":
        request.upload_handlers.insert(0, OrderedMultipartHandler(request))
    return request


@pytest.mark.parametrize("encoding", ["urlencoded", "multipart"])
def test_interleaved_sequences_keep_their_order(encoding):
    request = request_for(INTERLEAVED, encoding)
    assert form_controls(request) == INTERLEAVED
    assert peppercorn.parse(form_controls(request)) == {
        "tiers": [{"name": "Bottom", "slots": [{"key": "base"}, {"key": "trim"}]}, {"name": "", "slots": []}]
    }


def test_urlencoded_blank_values_and_utf8():
    body = "name=&slug=cup&label=Pok%C3%A1l+%E2%98%85&empty=&x=1&x=2".encode()
    assert parse_urlencoded(body) == [
        ("name", ""), ("slug", "cup"), ("label", "Pokál ★"), ("empty", ""), ("x", "1"), ("x", "2")
    ]


def test_urlencoded_raw_utf8_and_plus_and_reserved_characters():
    body = "label=Gr%C3%BC%C3%9Fe+%26+co%3D1&a=%2B".encode()
    assert parse_urlencoded(body) == [("label", "Grüße & co=1"), ("a", "+")]


@pytest.mark.parametrize("body", [b"name=\xff\xfe", b"name=%ff%fe"])
def test_urlencoded_invalid_utf8_is_refused(body):
    with pytest.raises(ControlsError, match="UTF-8"):
        parse_urlencoded(body)


def test_urlencoded_field_count_limit(monkeypatch):
    monkeypatch.setattr(controls_module, "part_limit", lambda: 3)
    with pytest.raises(ControlsError):
        parse_urlencoded(b"a=1&b=2&c=3&d=4")


def test_multipart_blank_values_utf8_and_files_in_order():
    layer = png_bytes()
    controls = [
        ("label", "Médaille ★"), ("empty", ""),
        ("__start__", "layer:mapping"), ("upload", ("layer.png", layer, "image/png")), ("__end__", "layer:mapping"),
        ("__start__", "other:mapping"), ("upload", ("", b"", "application/octet-stream")),
        ("__end__", "other:mapping"),
        ("after", "1"),
    ]
    request = request_for(controls, "multipart")
    result = form_controls(request)
    assert [name for name, _ in result] == [name for name, _ in controls]
    assert result[0] == ("label", "Médaille ★") and result[1] == ("empty", "")
    upload = result[3][1]
    assert isinstance(upload, UploadedPart)
    assert (upload.filename, upload.type, upload.length) == ("layer.png", "image/png", len(layer))
    assert upload.file.read() == layer
    assert result[6] == ("upload", b"")  # a file input left empty
    # Django's POST still has the text fields (the CSRF token travels there).
    assert request.POST.getlist("label") == ["Médaille ★"]
    assert "upload" in request.FILES


def test_multipart_text_part_with_a_filename_like_value_is_text():
    body, content_type = multipart([("name", "a.png")])
    result = parse_multipart(io.BytesIO(body), content_type.split("boundary=")[1], len(body))
    assert result == [("name", "a.png")]


def test_multipart_invalid_utf8_is_refused():
    body, content_type = multipart([("name", b"\xff\xfe")])
    with pytest.raises(ControlsError, match="not valid"):
        parse_multipart(io.BytesIO(body), content_type.split("boundary=")[1], len(body))


def test_multipart_part_count_limit(monkeypatch):
    monkeypatch.setattr(controls_module, "part_limit", lambda: 3)
    body, content_type = multipart([("a", "1"), ("b", "2"), ("c", "3"), ("d", "4")])
    with pytest.raises(ControlsError, match="malformed multipart"):
        parse_multipart(io.BytesIO(body), content_type.split("boundary=")[1], len(body))


def test_multipart_part_size_limit(monkeypatch):
    monkeypatch.setattr(controls_module, "PART_SIZE_LIMIT", 1000)
    body, content_type = multipart([("upload", ("big.png", b"x" * 5000, "image/png"))])
    with pytest.raises(ControlsError):
        parse_multipart(io.BytesIO(body), content_type.split("boundary=")[1], len(body))


def test_multipart_text_field_limit(monkeypatch):
    monkeypatch.setattr(controls_module, "TEXT_FIELD_LIMIT", 10)
    body, content_type = multipart([("name", "x" * 11)])
    with pytest.raises(ControlsError, match="larger than"):
        parse_multipart(io.BytesIO(body), content_type.split("boundary=")[1], len(body))


def test_truncated_multipart_body_is_a_parser_error_for_django():
    body, content_type = multipart([("a", "1"), ("b", "2")])
    request = RequestFactory().generic("POST", "/x/", body[:-20], content_type=content_type)
    request.upload_handlers.insert(0, OrderedMultipartHandler(request))
    with pytest.raises(MultiPartParserError):
        request.POST  # noqa: B018


def test_other_content_types_are_refused():
    request = RequestFactory().generic("POST", "/x/", b'{"a": 1}', content_type="application/json")
    with pytest.raises(ControlsError, match="unsupported content type"):
        form_controls(request)


@override_settings(DATA_UPLOAD_MAX_NUMBER_FIELDS=5)
def test_part_limit_follows_django_setting():
    assert controls_module.part_limit() == 5
