"""Secrets in log text (API keys, tokens, private keys, passwords): found, named and masked.

Logs of an AI script service hold what users pasted into prompts and what the model wrote into
code: keys, tokens in URLs, passwords in connection strings. Every way out of Fixtrail (pages, API
answers, CSV and JSON exports, eval sets, webhooks, the AI context, the CLI) shows each one as
``[secret: AWS access key]``; the files on disk are never changed. Ingest records which attempts
hold one (the ``secret_kinds`` column), so that Data health can list them for purging at the source.

The rules run as one RE2 expression (google-re2): linear in the text by construction, about
150 MB/s here, where the same alternation in Python's ``re`` ran at 5 MB/s. A rule either masks its
whole match (a token with a known prefix) or only its value (``password = "..."``: the name stays
readable). Rules that need more than a shape (a value assigned to ``token`` must look random; an
``sk-`` key must mix letters and digits) check it in Python on the few matches there are.
``bench/secrets_compare.py`` compares these rules with detect-secrets on a corpus of real formats
and near-misses, and on speed.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import re2

MIN_SECRET_CHARS = 12  # no rule matches a shorter text: such texts are returned as they are
PLACEHOLDER_STARTS = ("$", "{", "<", "%", "*", "os.", "env", "getenv", "input(", "none", "null", "your", "xxx")
ASSIGNED_RANDOM_BITS = 3.0  # Shannon bits per character of a value assigned to a secret-like name


def _random_looking(value: str) -> bool:
    """A value that looks generated: 16+ characters, letters and digits mixed, high per-character entropy."""
    if len(value) < 16 or not any(c.isdigit() for c in value) or not any(c.isalpha() for c in value):
        return False
    counts = Counter(value)
    bits = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return bits >= ASSIGNED_RANDOM_BITS


def _mixed(value: str) -> bool:
    """Letters in both cases and digits: a generated key, not a word like ``sk-learn-tutorial-examples``."""
    body = value.split("-")[-1] if value.count("-") < 3 else value
    return any(c.isdigit() for c in body) and any(c.isupper() for c in body) and any(c.islower() for c in body)


def _not_placeholder(value: str) -> bool:
    """Not a placeholder or an expression (``${DB_PASSWORD}``, ``<password>``, ``os.environ[...]``, ``****``)."""
    lowered = value.strip().lower()
    return bool(lowered) and not lowered.startswith(PLACEHOLDER_STARTS) and len(set(lowered)) > 2


def _unquoted_password(value: str) -> bool:
    """A value, not a placeholder, and not a name or a word (``password=password``, ``pwd=self.pwd``,
    ``Password: incorrect``): those are lower case letters, ``_`` and ``.`` only, or a call."""
    is_name = all(c.islower() or c in "_." for c in value) or value.endswith("(")
    return _not_placeholder(value) and not is_name


@dataclass(frozen=True)
class SecretRule:
    """One kind of secret: its name as shown (``[secret: KIND]``), its RE2 expression, and an optional
    check of the masked part. A group named ``v`` in the expression is the part masked; else all of it."""

    kind: str
    regex: str
    check: Callable[[str], bool] | None = None


_NAME_END = r"\w*[\"']?\s*[:=]\s*"  # the rest of a name, an optional closing quote, then = or :
_SECRET_NAMES = r"(?i:\b\w*(?:secret|token|api_?key|apikey|access_?key|auth_?key|private_?key|credential)s?)"
_PASSWORD_NAMES = r"(?i:\b\w*(?:password|passwd|passphrase|pwd))"
_PEM_BODY = r"(?:[A-Za-z0-9+/=\s:,.\-]|\\[nr])"

SECRET_RULES: tuple[SecretRule, ...] = (
    SecretRule(
        "private key",
        r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----" + _PEM_BODY + r"*?-----END[A-Z ]*PRIVATE KEY(?: BLOCK)?-----",
    ),
    SecretRule("private key", r"-----BEGIN[A-Z ]*PRIVATE KEY(?: BLOCK)?-----(?:[A-Za-z0-9+/=\s]|\\[nr])*"),
    SecretRule("AWS access key", r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b"),
    SecretRule(
        "AWS secret key", r"(?i:aws_?secret_?(?:access_?)?key)" + _NAME_END + r"[\"']?(?P<v>[A-Za-z0-9/+=]{40})"
    ),
    SecretRule("GitHub token", r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})"),
    SecretRule("GitLab token", r"gl(?:pat|ptt|dt|rt)-[A-Za-z0-9_-]{20,}"),
    SecretRule("Slack token", r"xox[abposr]-[A-Za-z0-9-]{10,}"),
    SecretRule("Slack webhook", r"https://hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9/_-]{20,}"),
    SecretRule(
        "Discord webhook",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/[0-9]{17,20}/[A-Za-z0-9_-]{60,}",
    ),
    SecretRule("Anthropic key", r"sk-ant-(?:api|admin|sid)[0-9]{2}-[A-Za-z0-9_-]{20,}"),
    SecretRule("OpenAI key", r"\bsk-(?:proj-|svcacct-|admin-)?[A-Za-z0-9_-]{20,}", _mixed),
    SecretRule("Google API key", r"AIza[0-9A-Za-z_-]{35}"),
    SecretRule("Google OAuth token", r"ya29\.[0-9A-Za-z_-]{20,}"),
    SecretRule("Google OAuth client secret", r"GOCSPX-[A-Za-z0-9_-]{28}"),
    SecretRule("Hugging Face token", r"hf_[A-Za-z0-9]{34,}\b"),
    SecretRule("Groq key", r"\bgsk_[A-Za-z0-9]{48,}\b"),
    SecretRule("xAI key", r"\bxai-[A-Za-z0-9]{60,}\b"),
    SecretRule("Replicate token", r"\br8_[A-Za-z0-9]{37}\b"),
    SecretRule("Stripe key", r"(?:sk|rk)_(?:live|test)_[0-9A-Za-z]{24,}\b"),
    SecretRule("SendGrid key", r"\bSG\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{43}\b"),
    SecretRule("Twilio key", r"\bSK[0-9a-f]{32}\b"),
    SecretRule("Mailgun key", r"\bkey-[0-9a-f]{32}\b"),
    SecretRule("npm token", r"npm_[A-Za-z0-9]{36}\b"),
    SecretRule("PyPI token", r"pypi-AgEIcHlwaS5vcmc[A-Za-z0-9_-]{50,}"),
    SecretRule("Shopify token", r"shp(?:at|ss|ca|pa)_[a-fA-F0-9]{32}\b"),
    SecretRule("DigitalOcean token", r"do[opr]_v1_[a-f0-9]{64}\b"),
    SecretRule("Databricks token", r"\bdapi[a-f0-9]{32}(?:-[0-9])?\b"),
    SecretRule("Telegram bot token", r"\b[0-9]{8,10}:AA[A-Za-z0-9_-]{33}\b"),
    SecretRule("JSON web token", r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    SecretRule("Azure storage key", r"(?i:AccountKey)=(?P<v>[A-Za-z0-9+/]{80,}={0,2})"),
    # The user may be empty (redis://:secret@cache); the password runs to the last "@" before the host.
    SecretRule("password in URL", r"\b[A-Za-z][A-Za-z0-9+.-]{1,20}://[^\s:/@\"'<>]*:(?P<v>[^\s/\"'<>]+)@"),
    SecretRule(
        "basic auth",
        r"(?i:\bauthorization)[\"']?\s*[:=]\s*[\"']?(?i:basic)\s+(?P<v>[A-Za-z0-9+/]{12,}={0,2})",
    ),
    SecretRule("bearer token", r"(?i:\bbearer)\s+(?P<v>[A-Za-z0-9._~+/-]{20,}=*)"),
    SecretRule("password", _PASSWORD_NAMES + _NAME_END + r"\"(?P<v>[^\"\n]{4,})\"", _not_placeholder),
    SecretRule("password", _PASSWORD_NAMES + _NAME_END + r"'(?P<v>[^'\n]{4,})'", _not_placeholder),
    # Unquoted, as in a connection string, a query string, an environment file or a keyword argument:
    # the value ends at ; , ( ) a quote or a space (not at "&": a password may hold one, so a query string's
    # next parameters are masked with it); a bare variable name (password=password) is no secret.
    SecretRule(
        "password",
        r"(?i:\b\w*(?:password|passwd|pwd))[\"']?(?:=|[ \t]*[:=][ \t]*)(?P<v>[^\s;,()\"'<>\[\]{}]{4,})",
        _unquoted_password,
    ),
    SecretRule(
        "secret value", _SECRET_NAMES + _NAME_END + r"[\"'](?P<v>[A-Za-z0-9+/=_.~-]{16,})[\"']", _random_looking
    ),
)


class _RuleSet:
    """Rules run as one RE2 expression: each rule's own named group, its value group renamed to stay unique."""

    def __init__(self, rules: list[SecretRule]):
        names = [f"r{number}" for number in range(len(rules))]
        self.expression = re2.compile(
            "|".join(
                f"(?P<{name}>{rule.regex.replace('(?P<v>', f'(?P<{name}v>')})"
                for name, rule in zip(names, rules, strict=True)
            )
        )
        # (the rule's group number, its value group's number or None, the rule), in the expression's order.
        self.groups = [
            (self.expression.groupindex[name], self.expression.groupindex.get(f"{name}v"), rule)
            for name, rule in zip(names, rules, strict=True)
        ]

    def find(self, text: str) -> list[SecretFound]:
        """The spans this set's rules mask in ``text`` (a match whose check fails masks nothing)."""
        found = []
        for match in self.expression.finditer(text):
            for group, value, rule in self.groups:
                if match.group(group) is None:
                    continue
                part = value if value and match.group(value) is not None else group
                if rule.check is None or rule.check(match.group(part)):
                    found.append(SecretFound(rule.kind, match.start(part), match.end(part)))
                break
        return found


@dataclass(frozen=True)
class SecretFound:
    """A secret in a text: its kind and the span masked (characters ``start`` to ``end``)."""

    kind: str
    start: int
    end: int


def _any_rule() -> Any:
    """Every rule in one expression without groups: the one pass over a text that holds no secret
    (most texts), at about twice the speed of the two rule sets' passes."""
    options = re2.Options()
    options.max_mem = 64 << 20  # the DFA of all rules at once needs more than RE2's default 8 MB
    return re2.compile("|".join(f"(?:{rule.regex.replace('(?P<v>', '(?:')})" for rule in SECRET_RULES), options)


_ANY = _any_rule()
_TOKENS = _RuleSet([rule for rule in SECRET_RULES if "(?P<v>" not in rule.regex])
_NAMED = _RuleSet([rule for rule in SECRET_RULES if "(?P<v>" in rule.regex])


def find_secrets(text: str) -> list[SecretFound]:
    """Every secret in ``text``, in order, not overlapping.

    Tokens of a known shape are looked for on their own, and so are values named like secrets
    (``password = "..."``): a value that fails its rule's check must not hide a token inside it. Where
    both find the same secret, the wider span is masked under the token's own kind.
    """
    if not isinstance(text, str) or len(text) < MIN_SECRET_CHARS or not _ANY.search(text):
        return []
    tokens = _TOKENS.find(text)
    named = _NAMED.find(text)
    if not named:
        return tokens
    # (span, whether a token's own rule found it): a merged span takes a token's kind when it holds one.
    spans = sorted(
        [(found, True) for found in tokens] + [(found, False) for found in named],
        key=lambda item: (item[0].start, -item[0].end),
    )
    merged: list[tuple[SecretFound, bool]] = []
    for found, is_token in spans:
        if merged and found.start < merged[-1][0].end:
            last, last_is_token = merged[-1]
            kind = found.kind if is_token and not last_is_token else last.kind
            merged[-1] = (SecretFound(kind, last.start, max(last.end, found.end)), last_is_token or is_token)
        else:
            merged.append((found, is_token))
    return [found for found, _ in merged]


def holds_secret(text: str) -> bool:
    """Whether ``text`` may hold a secret: one pass of every rule at once (a hit is then worked out by
    find_secrets; no hit means none)."""
    return isinstance(text, str) and _ANY.search(text) is not None


def secret_kinds(text: str) -> list[str]:
    """The kinds of secret in ``text`` (each once, in order of appearance)."""
    return list(dict.fromkeys(found.kind for found in find_secrets(text)))


def mask_text(text: str) -> str:
    """``text`` with each secret replaced by ``[secret: KIND]``; the text itself when it holds none."""
    found = find_secrets(text)
    if not found:
        return text
    pieces, last = [], 0
    for secret in found:
        pieces += [text[last : secret.start], f"[secret: {secret.kind}]"]
        last = secret.end
    pieces.append(text[last:])
    return "".join(pieces)


MAX_DEPTH = 200  # deeper than this (a hostile record), a value is not shown at all
TOO_DEEP = "[a value nested too deeply to show]"


def mask_secrets(value: Any, depth: int = 0) -> Any:
    """``value`` with every text in it masked (mask_text): a string, or dicts, lists, tuples and
    dataclasses of them, or a pandas frame or series (its text cells), as a new object (the given one is
    unchanged). A dict's text is also masked in the light of its key (``_mask_named``). Other values
    are returned as they are; a list or object nested deeper than MAX_DEPTH becomes TOO_DEEP (never
    shown unmasked, never a recursion error)."""
    if isinstance(value, str):
        return mask_text(value)
    if depth > MAX_DEPTH and isinstance(value, dict | list | tuple):
        return TOO_DEEP
    deeper = depth + 1
    if isinstance(value, dict):
        return {
            key: _mask_named(key, item) if isinstance(item, str) else mask_secrets(item, deeper)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_secrets(item, deeper) for item in value]
    if isinstance(value, tuple):
        items = [mask_secrets(item, deeper) for item in value]
        return value._make(items) if hasattr(value, "_fields") else tuple(items)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        changes = {f.name: mask_secrets(getattr(value, f.name), deeper) for f in dataclasses.fields(value) if f.init}
        return dataclasses.replace(value, **changes)
    module = type(value).__module__
    if module.startswith("pandas"):
        return _mask_pandas(value)
    if module == "numpy" and getattr(value, "dtype", None) is not None and value.dtype == object:
        return mask_secrets(value.tolist())  # a list cell as DuckDB hands it over
    return value


def _mask_named(name: Any, value: str) -> str:
    """A text value masked in the light of its key: ``{"db_password": "hunter22"}`` is a password even
    though ``hunter22`` alone is no secret (the rules that need a name see it as ``name="value"``)."""
    masked = mask_text(value)
    if masked is not value or not isinstance(name, str) or '"' in value or len(value) > 4096:
        return masked
    prefix = f'{name}="'
    for found in find_secrets(f'{prefix}{value}"'):
        if found.start <= len(prefix) and found.end >= len(prefix) + len(value):
            return f"[secret: {found.kind}]"
    return value


def _mask_pandas(value: Any) -> Any:
    import pandas as pd

    def texts(series: pd.Series) -> bool:
        return pd.api.types.is_object_dtype(series.dtype) or pd.api.types.is_string_dtype(series.dtype)

    if isinstance(value, pd.DataFrame):
        columns = {position: _mask_series(value.iloc[:, position]) for position in range(value.shape[1])}
        changed = {position: column for position, column in columns.items() if column is not None}
        if not changed:
            return value
        result = value.copy(deep=False)
        for position, column in changed.items():
            result.isetitem(position, column)
        return result
    if isinstance(value, pd.Series) and texts(value):
        masked = _mask_series(value)
        return value if masked is None else masked
    return value


def _mask_series(column: Any) -> Any:
    """The series with its texts (and lists of texts) masked, or None when nothing in it changes."""
    import pandas as pd

    if not (pd.api.types.is_object_dtype(column.dtype) or pd.api.types.is_string_dtype(column.dtype)):
        return None
    values = column.tolist()
    changed = False
    masked = []
    for item in values:
        if hasattr(item, "tolist") and not isinstance(item, str):  # a list cell, as DuckDB hands it over
            item = item.tolist()
        new = mask_secrets(item) if isinstance(item, str | list | dict | tuple) else item
        changed = changed or new is not item
        masked.append(new)
    if not changed:
        return None
    return pd.Series(masked, index=column.index, name=column.name, dtype=column.dtype)


def clip(text: Any, limit: int) -> str:
    """The first ``limit`` characters of ``text`` (a string, else ``""``), its secrets masked first: a secret
    cut in two is no longer recognisable, and its first half would be shown."""
    if not isinstance(text, str):
        return ""
    return mask_text(text)[:limit] if len(text) > limit else mask_text(text)
