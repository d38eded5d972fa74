<?php
// PHP's own bcrypt check, as Laravel's BcryptHasher uses it, for tests/cli/app_hashes.rs.
// Reads one JSON object on stdin (the password never on argv) and prints one on stdout:
//   {"op": "check", "password": P, "encoded": H} -> {"ok": bool, "needs_rehash": bool}
//   {"op": "make", "password": P}                -> {"encoded": H}   (cost 12, Laravel's default)
$request = json_decode(stream_get_contents(STDIN), true, 4, JSON_THROW_ON_ERROR);
$options = ['cost' => 12];
if ($request['op'] === 'make') {
    echo json_encode(['encoded' => password_hash($request['password'], PASSWORD_BCRYPT, $options)]), "\n";
} else {
    echo json_encode([
        'ok' => password_verify($request['password'], $request['encoded']),
        'needs_rehash' => password_needs_rehash($request['encoded'], PASSWORD_BCRYPT, $options),
    ]), "\n";
}
