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
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import cache

from detect_secrets.core.plugins.util import get_mapping_from_secret_type_to_class
from detect_secrets.plugins.base import RegexBasedDetector

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
    # Any scheme, any case, any length of password, except a variable filled in at boot (${TOKEN}).
    denylist = [re.compile(r"(?i)\b[a-z][a-z0-9+.-]*://[^/\s:@'\"]+:(?!\$\{?\w+\}?@)[^/\s@'\"]+@")]


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


def find(line: str) -> Iterator[tuple[str, int, str]]:
    """(kind, offset, literal) of each credential the detectors see in ``line``."""
    for detector in detectors():
        cursor = 0
        for secret in detector.analyze_string(line):
            if not secret:
                continue
            at = line.find(secret, cursor)
            at = line.find(secret) if at < 0 else at
            cursor = at + 1
            yield str(detector.secret_type), max(at, 0), secret
