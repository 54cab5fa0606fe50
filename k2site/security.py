"""Headers every response carries: a Content-Security-Policy (the studio's
Deform widgets run inline scripts, so only /studio/ allows them), and the
TLS settings K2_HTTPS turns on (see settings.py)."""

BASE_POLICY = ("default-src 'self'; img-src 'self' data: blob:; style-src 'self' 'unsafe-inline'; "
               "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
STRICT_SCRIPTS = "script-src 'self'"
DEFORM_SCRIPTS = "script-src 'self' 'unsafe-inline'"  # deform's sequence and upload widgets


INLINE_SCRIPT_PATHS = ("/studio/",)


def policy_for(path):
    return f"{BASE_POLICY}; {DEFORM_SCRIPTS if path.startswith(INLINE_SCRIPT_PATHS) else STRICT_SCRIPTS}"


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        # A view with a stricter policy of its own (upload previews) keeps it.
        response.headers.setdefault("Content-Security-Policy", policy_for(request.path))
        return response
