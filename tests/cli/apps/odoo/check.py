"""passlib with Odoo's CryptContext (odoo/addons/base/models/res_users.py), for
tests/cli/app_hashes.rs.

Reads one JSON object on stdin (the password never on argv) and prints one on stdout:
  {"op": "check", "password": P, "encoded": H}
      -> {"ok": bool, "rehash": bool, "identified": str, "plain_verify": bool}
      or {"identified": str, "error": str} for a value passlib identifies but cannot read
  {"op": "make", "password": P} -> {"encoded": H}
"""
import json
import sys

from passlib.context import CryptContext
from passlib.hash import pbkdf2_sha512

ODOO = CryptContext(
    ["pbkdf2_sha512", "plaintext"],
    deprecated=["auto"],
    pbkdf2_sha512__rounds=600_000,
)

request = json.load(sys.stdin)
if request["op"] == "make":
    print(json.dumps({"encoded": ODOO.hash(request["password"])}))
else:
    password, encoded = request["password"], request["encoded"]
    try:
        ok, replacement = ODOO.verify_and_update(password, encoded)
    except ValueError as error:
        print(json.dumps({"identified": ODOO.identify(encoded), "error": str(error)}))
        sys.exit(0)
    print(json.dumps({
        "ok": ok,
        "rehash": replacement is not None,
        "identified": ODOO.identify(encoded),
        "plain_verify": pbkdf2_sha512.identify(encoded) and pbkdf2_sha512.verify(password, encoded),
    }))
