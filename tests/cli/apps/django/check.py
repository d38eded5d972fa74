"""Django 5.2's own password check, for tests/cli/app_hashes.rs.

Reads one JSON object on stdin (the password never on argv) and prints one on stdout:
  {"op": "check", "password": P, "encoded": H} -> {"ok": bool, "must_update": bool, "algorithm": str}
  {"op": "make", "password": P}                -> {"encoded": make_password(P)}
Settings are Django's defaults (PASSWORD_HASHERS starts with PBKDF2PasswordHasher).
"""
import json
import sys

import django
from django.conf import settings

settings.configure()
django.setup()

from django.contrib.auth.hashers import check_password, identify_hasher, make_password  # noqa: E402

request = json.load(sys.stdin)
if request["op"] == "make":
    print(json.dumps({"encoded": make_password(request["password"]), "version": django.get_version()}))
else:
    encoded = request["encoded"]
    hasher = identify_hasher(encoded)
    print(json.dumps({
        "ok": check_password(request["password"], encoded),
        "must_update": hasher.must_update(encoded),
        "algorithm": hasher.algorithm,
        "version": django.get_version(),
    }))
