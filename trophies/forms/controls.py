"""The submitted controls of a Deform form, as one ordered list.

Deform (through peppercorn) rebuilds nested sequences and mappings from the
*order* of the submitted ``(name, value)`` pairs: ``__start__``/``__end__``
markers bracket every sequence and mapping. Django's ``QueryDict`` groups
values by name and so loses that order, and Django's multipart parser loses
it as well. This module gives the controls in order for both encodings:

- ``application/x-www-form-urlencoded``: ``request.body`` decoded as UTF-8
  and split with ``parse_qsl(..., keep_blank_values=True)``;
- ``multipart/form-data`` (what Deform's ``form.pt`` asks browsers for): an
  upload handler, installed by :func:`ordered_post`, parses the parts in
  order with ``multipart.MultipartParser`` under explicit limits. It hands
  Django a ``POST`` with the text fields, so ``CsrfViewMiddleware``'s check
  of ``csrfmiddlewaretoken`` works unchanged.

:func:`form_controls` is the one function views call.
"""
from functools import wraps
from urllib.parse import parse_qsl

import multipart
from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler
from django.http import QueryDict
from django.http.multipartparser import MultiPartParserError
from django.utils.datastructures import MultiValueDict
from django.views.decorators.csrf import csrf_exempt, csrf_protect

from trophies.services.layers import MAX_LAYER_BYTES

# Limits of one multipart request (Django's own settings bound the rest).
PART_SIZE_LIMIT = MAX_LAYER_BYTES + 64 * 1024  # a little over, so "too large" gets a polite message
TEXT_FIELD_LIMIT = 256 * 1024  # one text control
MEMORY_LIMIT = 16 * 1024 * 1024  # all parts kept in memory
DISK_LIMIT = 4 * MAX_LAYER_BYTES  # all parts spooled to temporary files
SPOOL_LIMIT = 256 * 1024  # parts larger than this go to a temporary file

_REQUEST_ATTR = "_k2_ordered_controls"


class ControlsError(ValueError):
    """The request body cannot be read as form controls; the message says why."""


class UploadedPart:
    """One uploaded file, shaped like the ``cgi.FieldStorage`` that Deform's
    ``FileUploadWidget`` expects (``file``, ``filename``, ``type``, ``length``)."""

    def __init__(self, part):
        self._part = part
        self.file = part.file
        self.filename = part.filename
        self.type = part.content_type
        self.length = part.size

    def read(self):
        self.file.seek(0)
        data = self.file.read()
        self.file.seek(0)
        return data

    def close(self):
        # Django closes everything in request.FILES when the request ends.
        self._part.close()

    def __repr__(self):
        return f"<UploadedPart {self.filename!r} {self.type} {self.length} bytes>"


def part_limit():
    return min(settings.DATA_UPLOAD_MAX_NUMBER_FIELDS or 20_000, 20_000)


def parse_multipart(stream, boundary, content_length, encoding="utf-8"):
    """Parts of a multipart body in order -> ``[(name, value), ...]`` where a
    text part's value is ``str``, a file part's an :class:`UploadedPart` and a
    file input left empty gives ``b""``. Raises :class:`ControlsError`."""
    if isinstance(boundary, bytes):
        boundary = boundary.decode("latin-1")
    parser = multipart.MultipartParser(
        stream,
        boundary,
        content_length=content_length if content_length is not None else -1,
        charset=encoding or "utf-8",
        part_limit=part_limit(),
        partsize_limit=PART_SIZE_LIMIT,
        spool_limit=SPOOL_LIMIT,
        memory_limit=MEMORY_LIMIT,
        disk_limit=DISK_LIMIT,
    )
    controls = []
    try:
        for part in parser:
            if part.name is None:
                part.close()
                raise ControlsError("a part has no field name")
            if part.filename is not None:
                if part.filename == "" and part.size == 0:
                    controls.append((part.name, b""))  # a file input left empty
                    part.close()
                else:
                    controls.append((part.name, UploadedPart(part)))
                continue
            if part.size > TEXT_FIELD_LIMIT:
                part.close()
                raise ControlsError(f"the field {part.name!r} is larger than {TEXT_FIELD_LIMIT:,} bytes")
            try:
                value = part.value
            except (UnicodeDecodeError, LookupError):
                raise ControlsError(f"the field {part.name!r} is not valid {part.charset}") from None
            finally:
                part.close()
            controls.append((part.name, value))
    except multipart.MultipartError as error:
        _close_all(controls)
        raise ControlsError(f"malformed multipart body: {error}") from None
    except ControlsError:
        _close_all(controls)
        raise
    return controls


def parse_urlencoded(body):
    """``application/x-www-form-urlencoded`` bytes -> ordered pairs of str."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ControlsError("the form data is not valid UTF-8") from None
    try:
        controls = parse_qsl(
            text, keep_blank_values=True, strict_parsing=False, encoding="utf-8", errors="strict",
            max_num_fields=part_limit(),
        )
    except UnicodeDecodeError:
        raise ControlsError("the form data is not valid UTF-8") from None
    except ValueError as error:  # max_num_fields exceeded
        raise ControlsError(str(error)) from None
    return controls


def _close_all(controls):
    for _, value in controls:
        if isinstance(value, UploadedPart):
            value.close()


class OrderedMultipartHandler(FileUploadHandler):
    """Takes over Django's multipart parsing for one request: keeps the parts
    in order on the request and gives Django ``(POST, FILES)`` so the CSRF
    check (and anything else reading ``request.POST``) still works."""

    def handle_raw_input(self, input_data, META, content_length, boundary, encoding=None):
        try:
            controls = parse_multipart(input_data, boundary, content_length, encoding or "utf-8")
        except ControlsError as error:
            raise MultiPartParserError(str(error)) from None  # Django answers 400
        post = QueryDict(mutable=True, encoding=encoding)
        files = MultiValueDict()
        for name, value in controls:
            if isinstance(value, UploadedPart):
                files.appendlist(name, value)
            elif isinstance(value, str):
                post.appendlist(name, value)
        post._mutable = False
        setattr(self.request, _REQUEST_ATTR, controls)
        return post, files

    # Never called (handle_raw_input answers), but FileUploadHandler is abstract.
    def receive_data_chunk(self, raw_data, start):  # pragma: no cover
        return raw_data

    def file_complete(self, file_size):  # pragma: no cover
        return None


def ordered_post(view):
    """Decorator for views that read Deform forms: installs the ordered
    multipart handler before anything reads ``request.POST``, then applies
    Django's CSRF check exactly as the middleware would (a POST without the
    token gets 403)."""
    protected = csrf_protect(view)

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method == "POST" and is_multipart(request):
            request.upload_handlers.insert(0, OrderedMultipartHandler(request))
        return protected(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def is_multipart(request):
    return request.META.get("CONTENT_TYPE", "").lower().startswith("multipart/form-data")


def form_controls(request):
    """The submitted controls of ``request`` in order, for either content type.

    Urlencoded values are ``str``; multipart file parts are
    :class:`UploadedPart` (``b""`` for an empty file input). Raises
    :class:`ControlsError` for a body that is neither, or cannot be read."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        controls = getattr(request, _REQUEST_ATTR, None)
        if controls is None:
            request.POST  # noqa: B018 - parsing stores the ordered controls
            controls = getattr(request, _REQUEST_ATTR, None)
        if controls is None:
            raise ControlsError("the multipart body was parsed without the ordered parser")
        return list(controls)
    if content_type == "application/x-www-form-urlencoded":
        return parse_urlencoded(request.body)
    raise ControlsError(f"unsupported content type {content_type or '(none)'!r}")
