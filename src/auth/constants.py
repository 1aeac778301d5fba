"""Auth error codes and token formats."""

import re


class ErrorCode:
    SECRET_ID_INVALID = "SECRET_ID_INVALID"
    SECRET_KEY_INVALID = "SECRET_KEY_INVALID"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    AUTHENTICATION_REQUIRED = "AUTHENTICATION_REQUIRED"
    INVALID_TOKEN = "INVALID_TOKEN"
    REFRESH_TOKEN_NOT_VALID = "REFRESH_TOKEN_NOT_VALID"
    AUTHORIZATION_FAILED = "AUTHORIZATION_FAILED"


SECRET_ID_PREFIX = "sid_"
SECRET_KEY_PREFIX = "sk_"
REFRESH_TOKEN_PREFIX = "rt_"
CLIENT_ID_PREFIX = "cli_"
API_KEY_PREFIX = "vk_"
API_KEY_ID_PREFIX = "key_"

# Checked before any hashing: a malformed credential fails fast and cheaply.
SECRET_ID_PATTERN = re.compile(r"^sid_[a-z0-9]{24}$")
SECRET_KEY_PATTERN = re.compile(r"^sk_[A-Za-z0-9_-]{43}$")
REFRESH_TOKEN_PATTERN = re.compile(r"^rt_[A-Za-z0-9_-]{43}$")
API_KEY_PATTERN = re.compile(r"^vk_[A-Za-z0-9_-]{43}$")
API_KEY_ID_PATTERN = re.compile(r"^key_[a-f0-9]{24}$")
# How much of a key `list-api-keys` shows, so an operator can tell keys apart.
API_KEY_SHOWN_CHARS = 10

ACCESS_TOKEN_TYPE = "access"
DEFAULT_SCOPES = ("voice",)
KNOWN_SCOPES = frozenset({"voice"})
