"""detect-secrets' provider detectors, for `bootstrap check` only: ``secrets`` imports this module
lazily, the first time a line looks like it may hold a token, because the library (and the
``requests`` it imports) costs about as much as a whole `render` starts in.

Every regex-based provider plugin the installed library ships is used, so an upgrade brings its new
providers in. Left out: its entropy and keyword heuristics (user data is full of hashes, base64 we
embed ourselves and variables named *_TOKEN that hold paths; ours, bound to variable values, stand in
for them) and public IPs (not secrets). Verification is never run: it would send the credential to
the provider from the rendering host.

``SUPPLEMENT`` holds, in the library's own plugin form (to offer upstream, and to drop once it has
them), the families it lacks or matches too narrowly for what teams paste.

What a detector matches then passes the library's own filters, as its scan applies them: its
heuristics for a value that is not a literal (``is_templated_secret``: ``{token}``, ``<token>``,
``${TOKEN}``; ``is_prefixed_with_dollar_sign``: ``$TOKEN``, ``$(cat FILE)``), and one of ours in the
same form (``is_format_placeholder``: printf's ``%s``); and its inline allowlist
(``is_line_allowlisted``: a ``# pragma: allowlist secret`` comment on the line), which ``secrets``
asks of the profile's own line. Its other default filters are left out: they drop real passwords
(``is_not_alphanumeric_string`` drops ``123456``) or judge files and variable names, not values.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.filters.allowlist import is_line_allowlisted
from detect_secrets.filters.heuristic import is_prefixed_with_dollar_sign, is_templated_secret
from detect_secrets.plugins.base import RegexBasedDetector
from detect_secrets.util.code_snippet import get_code_snippet

LEFT_OUT = frozenset({"Base64 High Entropy String", "Hex High Entropy String", "Secret Keyword", "Public IP (ipv4)"})


class HuggingFaceToken(RegexBasedDetector):
    secret_type = "Hugging Face token"
    denylist = [re.compile(r"\b(?:hf_|api_org_)[A-Za-z0-9]{34,}\b")]


class GitHubFineGrainedToken(RegexBasedDetector):  # the library knows the classic gh?_ tokens only
    secret_type = "GitHub fine-grained token"
    denylist = [re.compile(r"\bgithub_pat_[A-Za-z0-9_]{40,}\b")]


class AtlassianToken(RegexBasedDetector):
    secret_type = "Bitbucket / Atlassian token"
    denylist = [re.compile(r"\bATBB[A-Za-z0-9_=.-]{28,}|\bAT(?:ATT|CTT)3[A-Za-z0-9_=-]{40,}")]


class NpmToken(RegexBasedDetector):  # the library's rule wants an .npmrc line around it
    secret_type = "npm token"
    denylist = [re.compile(r"\bnpm_[A-Za-z0-9]{36}\b")]


class GoogleApiKey(RegexBasedDetector):
    secret_type = "Google API key"
    denylist = [re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")]


class SecretKey(RegexBasedDetector):  # the library's Stripe rule is live keys only, its OpenAI rule one format
    secret_type = "Stripe/OpenAI-style secret key"
    denylist = [re.compile(r"\b(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{16,}\b|\bsk-[A-Za-z0-9_-]{32,}")]


class UrlPassword(RegexBasedDetector):  # the library's basic-auth rule skips passwords with ! $ & + ...
    secret_type = "password in a URL"
    # Any scheme, any case, any length of password; one filled in at boot (${TOKEN}, %s) is filtered.
    denylist = [re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:[^/\s@'\"]+@")]

    @staticmethod
    def password(secret: str) -> str:
        """What the filters judge: the password in ``scheme://user:password@`` (the library's basic-auth
        rule yields the password alone)."""
        return secret[:-1].split("://", 1)[1].split(":", 1)[1]


class WebhookUrl(RegexBasedDetector):  # the library knows Slack's service hooks, not these
    secret_type = "webhook URL"
    denylist = [
        re.compile(r"(?i)https://(?:hooks\.slack\.com/(?:workflows|triggers)/|[a-z0-9-]+\.webhook\."
                   r"office\.com/webhookb2/|discord(?:app)?\.com/api/webhooks/)[A-Za-z0-9/_@.-]{8,}")
    ]


SUPPLEMENT = (HuggingFaceToken, GitHubFineGrainedToken, AtlassianToken, NpmToken, GoogleApiKey, SecretKey,
              UrlPassword, WebhookUrl)  # fmt: skip


@cache
def detectors() -> tuple[RegexBasedDetector, ...]:
    shipped: dict[str, type] = get_mapping_from_secret_type_to_class()
    library = [plugin() for name, plugin in sorted(shipped.items())
               if name not in LEFT_OUT and issubclass(plugin, RegexBasedDetector)]  # fmt: skip
    return (*library, *(plugin() for plugin in SUPPLEMENT))


# printf's conversions (C, bash's %b and %q, Python's %(name)s, positional %1$s) and %{name} (curl -w,
# RPM, Ruby): a value made of nothing else is a format filled in at run time, not a literal.
FORMAT_PLACEHOLDER = re.compile(
    r"(?:%(?:\(\w+\)|\d+\$)?[-+ #0']*(?:\d+|\*)?(?:\.(?:\d+|\*))?(?:hh|h|ll|l|L|j|z|t)?[diouxXeEfFgGaAcsbqp]"
    r"|%\{\w+\})+"
)


def is_format_placeholder(secret: str) -> bool:
    """A filter in detect-secrets' form (its filters take ``secret`` and say whether to drop it), for the
    shape its ``is_templated_secret`` lacks: ``https://__token__:%s@host`` fed to printf."""
    return bool(FORMAT_PLACEHOLDER.fullmatch(secret))


FILTERS = (is_templated_secret, is_prefixed_with_dollar_sign, is_format_placeholder)


# One placeholder, whole: $NAME, ${...}, $(...), %s-like, {name}, {{ name }}, <name>. The library's filters
# look at a value's start ("$()hunter2" starts like an expansion): a value passes only when it is made of these.
WHOLE = re.compile(r"(?:%\{[^{}]+\}|\$[A-Za-z_][A-Za-z0-9_]*|\$\{[^{}]+\}|\$\([^()]+\)|%[-+ #0-9.$()a-zA-Z{}]*?[a-zA-Z]"
                   r"|\{\{[^{}]+\}\}|\{[^{}]+\}|<[^<>]+>)+")


def placeholder(secret: str, detector: RegexBasedDetector | None = None) -> bool:
    """Whether ``secret``, as ``detector`` found it, is a placeholder filled in at boot, not a literal:
    one the library's filters (or ours) drop, and made of placeholders alone."""
    value = detector.password(secret) if isinstance(detector, UrlPassword) else secret
    return any(check(value) for check in FILTERS) and bool(WHOLE.fullmatch(value))


def allowlisted(lines: list[str], number: int, filename: str) -> bool:
    """Whether line ``number`` (1-based) of ``lines`` carries the library's inline allowlist comment:
    ``# pragma: allowlist secret`` on it, or ``# pragma: allowlist nextline secret`` on the line above.
    A ``.yaml`` ``filename`` takes ``#`` comments only, as the library reads YAML; any other, every
    comment style it knows (``//``, ``--``, ``/* */``...)."""
    if not 0 < number <= len(lines):
        return False
    return bool(is_line_allowlisted(filename, lines[number - 1], get_code_snippet(lines, number, 1)))


def find(line: str) -> Iterator[tuple[str, int, str]]:
    """(kind, offset, literal) of each credential the detectors see in ``line``, placeholders left out."""
    for detector in detectors():
        cursor = 0
        for secret in detector.analyze_string(line):
            if not secret or placeholder(secret, detector):
                continue
            at = line.find(secret, cursor)
            at = line.find(secret) if at < 0 else at
            cursor = at + 1
            yield str(detector.secret_type), max(at, 0), secret
