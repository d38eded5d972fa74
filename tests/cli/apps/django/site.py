"""A throwaway Django project's own ORM and authenticate(), for tests/cli/app_sources.rs.

Reads one JSON object on stdin (passwords never on argv) and prints one on stdout:
  {"op": "create", "project": DIR, "users": [{"username", "email", "first_name", "last_name",
   "password", "is_active"}]}                         -> {"ids": [id, ...]}
  {"op": "authenticate", "project": DIR, "username": U, "password": P}
      -> {"ok": bool, "must_update": bool|null, "stored": the hash after the call}
The project is the one `django-admin startproject site DIR` made and `manage.py migrate` migrated.
"""
import json
import os
import sys

request = json.load(sys.stdin)
sys.path.insert(0, request["project"])
os.environ["DJANGO_SETTINGS_MODULE"] = "site_app.settings"

import django  # noqa: E402

django.setup()

from django.contrib.auth import authenticate  # noqa: E402
from django.contrib.auth.hashers import identify_hasher  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402

if request["op"] == "create":
    ids = []
    for fields in request["users"]:
        password = fields.pop("password")
        user = User.objects.create_user(password=password, **fields)
        ids.append(user.id)
    print(json.dumps({"ids": ids}))
else:
    user = authenticate(username=request["username"], password=request["password"])
    stored = User.objects.get(username=request["username"]).password
    print(json.dumps({
        "ok": user is not None,
        "must_update": identify_hasher(stored).must_update(stored) if user is not None else None,
        "stored": stored,
    }))
