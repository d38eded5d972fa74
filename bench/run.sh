#!/usr/bin/env bash
# Benchmark of pwreset against simple baselines, measured side by side in one run.
#
#   bash bench/run.sh
#
# Knobs (environment):
#   BENCH_QUICK=1        smaller sizes and one repeat (a smoke test, not the real figures)
#   BENCH_REPEAT=N       repeats of figures 1-3, 5 and 7, median reported (default 5 for figure 1, 3 for
#                        figures 2 and 3; 1 with QUICK)
#   BENCH_RSS_PLATEAU=0  skip figure 4's extra run on twice the larger size (a diagnostic)
#   BENCH_PURGE_ORDER=random   random expiry times for figure 3 (default: growing with id)
#   BENCH_KEEP=1         keep the temp dir (stores, logs) and print where it is
#   BENCH_ONLY=pg        only the PostgreSQL figures (8, 9, 7b: bench/pg.sh); BENCH_ONLY=9 (or 8,
#                        or 7b) only that one
#
# Everything happens in a temp dir, on 127.0.0.1 only; the SMTP sink is stopped on exit.
# It installs what it lacks: aiosmtpd (pip), sqlite3 and GNU time (apt-get).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH="$ROOT/bench"
PWRESET="$ROOT/target/release/pwreset"
ARGON2_ONCE="$ROOT/target/release/examples/argon2_once"

QUICK=${BENCH_QUICK:-0}
if [[ $QUICK == 1 ]]; then
    REPEAT=${BENCH_REPEAT:-1}
    REPEAT_GENERATE=$REPEAT
    N_GENERATE=50 N_LINK=1000 N_TOKENS=100000 N_RSS_SMALL=200 N_RSS_LARGE=2000 N_PAGE=600
    N_LIST_SMALL=1000 N_LIST=10000 N_PG_LINK=2000
else
    REPEAT=${BENCH_REPEAT:-3}
    REPEAT_GENERATE=${BENCH_REPEAT:-5} # cheap, and the noisiest
    N_GENERATE=200 N_LINK=5000 N_TOKENS=1000000 N_RSS_SMALL=1000 N_RSS_LARGE=10000 N_PAGE=1500
    N_LIST_SMALL=10000 N_LIST=100000 N_PG_LINK=20000
fi
ARGON2_SAMPLES=30          # hashes per argon2 measurement (under 1 s)
CMD_TIMEOUT=600            # no single command may run longer than this (seconds)
CORES=$(nproc)
NOW=$(date +%s)            # figure 3's "now": expired tokens lie months before it, live ones months after
GAP=10000000               # seconds (~4 months) between NOW and the nearest expiry, so pwreset's own clock agrees

WORK=""
SINK_PID=""
SINK_PORT=""

# ----------------------------------------------------------------------------- utilities

log() { printf '  .. %s\n' "$*" >&2; }
die() {
    printf 'bench: %s\n' "$*" >&2
    exit 1
}

cleanup() {
    pg_cleanup
    if [[ -n $SINK_PID ]] && kill -0 "$SINK_PID" 2>/dev/null; then
        kill -TERM "$SINK_PID" 2>/dev/null || true
        wait "$SINK_PID" 2>/dev/null || true
    fi
    if [[ -n $WORK && -d $WORK ]]; then
        if [[ ${BENCH_KEEP:-0} == 1 ]]; then
            printf 'bench: kept %s\n' "$WORK" >&2
        else
            rm -rf "$WORK"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Float arithmetic: calc 'expression' (awk).
calc() { awk "BEGIN { printf \"%.6g\", $1 }"; }

# Median of the arguments.
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# "ok" or "MISSED" for a ratio against a target: verdict RATIO '<=' TARGET
verdict() { awk -v r="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? (r <= t) : (r >= t); print ok ? "ok" : "MISSED" }'; }

# Wall time of a command in seconds, printed on stdout; the command's own stdout and stderr go
# to the files $1 and $2. Fails if the command fails.
timed() {
    local out=$1 err=$2
    shift 2
    local t0=$EPOCHREALTIME status=0
    timeout "$CMD_TIMEOUT" "$@" >"$out" 2>"$err" || status=$?
    local t1=$EPOCHREALTIME
    if ((status != 0)); then
        printf 'bench: command failed (exit %d): %s\n' "$status" "$*" >&2
        tail -n 5 "$err" >&2
        return 1
    fi
    calc "$t1 - $t0"
}

# pwreset with a clean environment (no PWRESET_* or config from the caller): "${PW[@]}" is the
# command prefix (env -i ...), to which more NAME=VALUE words may be added before the binary.
PW=()
pw() { "${PW[@]}" "$PWRESET" --color never "$@"; }

# Checkpoint a store's WAL into the main file, so that the file alone is the whole store.
checkpoint() {
    local out
    out=$(sqlite3 "$1" 'PRAGMA wal_checkpoint(TRUNCATE);')
    [[ $out == 0\|* ]] || die "checkpoint of $1 failed: $out"
}

# Copy a store directory (config, store, outbox) after checkpointing its WAL.
copy_store() {
    checkpoint "$1/pwreset.db"
    rm -rf "$2"
    cp -a "$1" "$2"
}

# ----------------------------------------------------------------------------- setup

# Install what the benchmark needs, if missing.
ensure_tools() {
    local sudo=""
    [[ $(id -u) == 0 ]] || sudo="sudo"
    local apt_missing=()
    command -v python3 >/dev/null || apt_missing+=(python3 python3-pip)
    command -v sqlite3 >/dev/null || apt_missing+=(sqlite3)
    [[ -x /usr/bin/time ]] || apt_missing+=(time)
    if ((${#apt_missing[@]})); then
        log "installing ${apt_missing[*]} with apt-get"
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${apt_missing[@]}" >/dev/null
    fi
    if ! python3 -c 'import aiosmtpd' 2>/dev/null; then
        log "installing aiosmtpd with pip"
        python3 -m pip install --quiet aiosmtpd 2>/dev/null ||
            python3 -m pip install --quiet --break-system-packages aiosmtpd ||
            { $sudo apt-get install -y -qq python3-aiosmtpd >/dev/null; }
        python3 -c 'import aiosmtpd' || die "cannot import aiosmtpd"
    fi
    command -v cargo >/dev/null || die "cargo is needed (https://rustup.rs)"
}

build() {
    log "cargo build --release (and examples/argon2_once)"
    (cd "$ROOT" && cargo build --release --quiet && cargo build --release --quiet --example argon2_once) ||
        die "build failed"
}

# A CSV of N users: email,username
users_csv() {
    local n=$1 file=$2
    awk -v n="$n" 'BEGIN { print "email,username"; for (i = 1; i <= n; i++) printf "user%d@example.com,user%d\n", i, i }' >"$file"
}

# A store directory with N users; with a port, configured for SMTP to the sink on that port.
make_store() {
    local dir=$1 n=$2 port=${3:-}
    pw init --dir "$dir" >/dev/null 2>&1 || die "pwreset init failed in $dir"
    users_csv "$n" "$dir/users.csv"
    pw --config "$dir/pwreset.toml" users import "$dir/users.csv" >/dev/null 2>"$dir/import.log" ||
        die "import failed: $(tail -n 3 "$dir/import.log")"
    if [[ -n $port ]]; then
        sed -i 's/^transport = "file"$/transport = "smtp"/' "$dir/pwreset.toml"
        grep -q '^transport = "smtp"$' "$dir/pwreset.toml" || die "could not switch $dir to smtp"
        printf '\n[mail.smtp]\nhost = "127.0.0.1"\nport = %s\ntls = "none"\n' "$port" >>"$dir/pwreset.toml"
    fi
    checkpoint "$dir/pwreset.db"
}

# The sink: aiosmtpd on 127.0.0.1, kernel-chosen port, counting and discarding messages.
start_sink() {
    python3 "$BENCH/smtp_sink.py" "$WORK/sink.port" "$WORK/sink.stats" 2>"$WORK/sink.log" &
    SINK_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        [[ -s $WORK/sink.port ]] && break
        kill -0 "$SINK_PID" 2>/dev/null || die "the SMTP sink died: $(cat "$WORK/sink.log")"
        sleep 0.1
    done
    [[ -s $WORK/sink.port ]] || die "the SMTP sink did not start within 10s"
    SINK_PORT=$(cat "$WORK/sink.port")
}

# Messages and bytes the sink has received so far: prints "MESSAGES BYTES". The sink answers
# SIGUSR1 by rewriting its stats file with a sequence number one higher.
sink_stats() {
    local seq=0 rest i
    [[ -s $WORK/sink.stats ]] && read -r seq rest <"$WORK/sink.stats"
    local want=$((seq + 1))
    kill -USR1 "$SINK_PID"
    for ((i = 0; i < 100; i++)); do
        if [[ -s $WORK/sink.stats ]]; then
            read -r seq rest <"$WORK/sink.stats"
            if ((seq >= want)); then
                printf '%s\n' "$rest"
                return 0
            fi
        fi
        sleep 0.05
    done
    die "the SMTP sink did not report its counts"
}

# Messages received by the sink since the stats "$1" (as printed by sink_stats).
sink_delta() {
    local before=$1 after
    after=$(sink_stats)
    awk -v a="$after" -v b="$before" 'BEGIN { split(a, x, " "); split(b, y, " "); print x[1] - y[1], x[2] - y[2] }'
}

# ----------------------------------------------------------------------------- figures

# CPU seconds (user + system) the SMTP sink has used so far.
sink_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$SINK_PID/stat"; }

# CPU seconds (user + system) recorded by /usr/bin/time -f '%U %S' in file $1.
cpu_of() { tail -n 1 "$1" | awk '{ printf "%.2f", $1 + $2 }'; }

# Mean seconds per argon2id hash on one core (examples/argon2_once).
argon2_hash() { "$ARGON2_ONCE" "$ARGON2_SAMPLES" || die "argon2_once failed"; }

# Mean seconds per hash with every core hashing at once (one argon2_once per core): what the
# hardware really does in parallel (shared caches, memory bandwidth, clock). Diagnostic.
argon2_parallel() {
    local i pids=() dir="$WORK/argon2-parallel"
    mkdir -p "$dir"
    for ((i = 0; i < CORES; i++)); do
        "$ARGON2_ONCE" "$ARGON2_SAMPLES" >"$dir/$i" &
        pids+=($!)
    done
    wait "${pids[@]}" || die "argon2_once failed"
    cat "$dir"/* | awk '{ s += $1 } END { printf "%.6f", s / NR }'
}

# Figure 1: bulk --generate on N users (file transport) vs N argon2 hashes spread over all cores.
# The machine's speed drifts, so each run measures the hash time just before and just after
# pwreset and uses the mean; the figure is the median of the runs' ratios. As a diagnostic, each
# run also measures the hash time with every core hashing at once (the real parallel capacity).
figure_generate() {
    local template="$WORK/gen-template" r ratios=() pratios=() walls=() hashes=() phashes=()
    make_store "$template" "$N_GENERATE"
    for ((r = 1; r <= REPEAT_GENERATE; r++)); do
        local dir="$WORK/gen-$r" wall h1 h2 p1 p2 hash phash sent ratio pratio
        copy_store "$template" "$dir"
        h1=$(argon2_hash)
        p1=$(argon2_parallel)
        wall=$(timed "$dir/bulk.out" "$dir/bulk.err" /usr/bin/time -o "$dir/cpu" -f '%U %S' \
            "${PW[@]}" "$PWRESET" --config "$dir/pwreset.toml" reset bulk --generate --all --yes)
        p2=$(argon2_parallel)
        h2=$(argon2_hash)
        sent=$(find "$dir/outbox" -name '*.eml' | wc -l)
        ((sent == N_GENERATE)) || die "figure 1: $sent mails written, expected $N_GENERATE"
        hash=$(calc "($h1 + $h2) / 2")
        phash=$(calc "($p1 + $p2) / 2")
        ratio=$(calc "$wall / ($N_GENERATE * $hash / $CORES)")
        pratio=$(calc "$wall / ($N_GENERATE * $phash / $CORES)")
        log "figure 1 run $r: pwreset ${wall}s (CPU $(cpu_of "$dir/cpu")s of $(calc "$wall * $CORES")s available); argon2 per hash: one core ${h1}s / ${h2}s, all cores at once ${p1}s / ${p2}s; ratio $ratio (vs all cores: $pratio)"
        ratios+=("$ratio")
        pratios+=("$pratio")
        walls+=("$wall")
        hashes+=("$hash")
        phashes+=("$phash")
    done
    local ratio hash
    ratio=$(median "${ratios[@]}")
    hash=$(median "${hashes[@]}")
    printf 'FIGURE 1  reset bulk --generate, %d users, file transport: wall %.3f s; ideal %d x %.2f ms argon2 / %d cores = %.3f s; ratio %.3f (target <= 1.1): %s\n' \
        "$N_GENERATE" "$(median "${walls[@]}")" "$N_GENERATE" "$(calc "$hash * 1000")" "$CORES" "$(calc "$N_GENERATE * $hash / $CORES")" \
        "$ratio" "$(verdict "$ratio" '<=' 1.1)"
    printf '          (info: with all %d cores hashing at once a hash takes %.2f ms, %.0f%% more than alone; against that the ratio is %.3f)\n' \
        "$CORES" "$(calc "$(median "${phashes[@]}") * 1000")" "$(calc "($(median "${phashes[@]}") / $hash - 1) * 100")" "$(median "${pratios[@]}")"
}

# One pwreset bulk --link run to the sink; prints "WALL PWRESET_CPU SINK_CPU".
link_run() {
    local dir=$1 n=$2 before wall delta c0 c1
    before=$(sink_stats)
    c0=$(sink_cpu)
    wall=$(timed "$dir/bulk.out" "$dir/bulk.err" /usr/bin/time -o "$dir/cpu" -f '%U %S' \
        "${PW[@]}" "$PWRESET" --config "$dir/pwreset.toml" reset bulk --link --all --yes)
    c1=$(sink_cpu)
    delta=$(sink_delta "$before")
    [[ ${delta%% *} == "$n" ]] || die "pwreset sent ${delta%% *} messages, expected $n ($dir)"
    printf '%s %s %s\n' "$wall" "$(cpu_of "$dir/cpu")" "$(calc "$c1 - $c0")"
}

# One baseline smtplib run sending message file $2; prints "SECONDS CLIENT_CPU SINK_CPU"
# (seconds from connect to QUIT; client CPU includes Python's startup).
client_run() {
    local n=$1 message=$2 before secs delta c0 c1
    before=$(sink_stats)
    c0=$(sink_cpu)
    secs=$(timeout "$CMD_TIMEOUT" /usr/bin/time -o "$WORK/client.cpu" -f '%U %S' \
        python3 "$BENCH/smtp_client.py" "$SINK_PORT" "$n" "$message") || die "the smtplib baseline failed"
    c1=$(sink_cpu)
    delta=$(sink_delta "$before")
    [[ ${delta%% *} == "$n" ]] || die "smtplib sent ${delta%% *} messages, expected $n"
    printf '%s %s %s\n' "$secs" "$(cpu_of "$WORK/client.cpu")" "$(calc "$c1 - $c0")"
}

# Figure 2: bulk --link on N users to the sink vs a plain smtplib loop sending N messages.
# The baseline sends a copy of one of pwreset's own messages (same size, same lines), captured
# by the sink during a warm-up run. The figure is the median of the runs' ratios.
figure_link() {
    local template="$WORK/link-template" message="$WORK/pwreset-message.eml" r ratios=() pw_rates=() base_rates=()
    make_store "$template" "$N_LINK" "$SINK_PORT"
    make_store "$WORK/link-warmup" 20 "$SINK_PORT"
    link_run "$WORK/link-warmup" 20 >/dev/null
    cp "$WORK/sink.stats.last" "$message"
    log "figure 2: pwreset's messages are $(wc -c <"$message") bytes, $(wc -l <"$message") lines"
    for ((r = 1; r <= REPEAT; r++)); do
        local dir="$WORK/link-$r" pw base pw_rate base_rate ratio
        local pw_wall pw_cpu pw_sink base_wall base_cpu base_sink
        copy_store "$template" "$dir"
        if ((r % 2)); then # alternate which side goes first
            pw=$(link_run "$dir" "$N_LINK")
            base=$(client_run "$N_LINK" "$message")
        else
            base=$(client_run "$N_LINK" "$message")
            pw=$(link_run "$dir" "$N_LINK")
        fi
        read -r pw_wall pw_cpu pw_sink <<<"$pw"
        read -r base_wall base_cpu base_sink <<<"$base"
        pw_rate=$(calc "$N_LINK / $pw_wall")
        base_rate=$(calc "$N_LINK / $base_wall")
        ratio=$(calc "$pw_rate / $base_rate")
        log "figure 2 run $r: pwreset ${pw_wall}s = $pw_rate msg/s (CPU: pwreset ${pw_cpu}s, sink ${pw_sink}s); smtplib ${base_wall}s = $base_rate msg/s (CPU: client ${base_cpu}s, sink ${base_sink}s); ratio $ratio"
        ratios+=("$ratio")
        pw_rates+=("$pw_rate")
        base_rates+=("$base_rate")
    done
    local ratio
    ratio=$(median "${ratios[@]}")
    printf 'FIGURE 2  reset bulk --link, %d users to a loopback SMTP sink: pwreset %.0f msg/s (wall time of the whole command) vs smtplib %.0f msg/s (one connection, same message); ratio %.3f (target >= 0.9): %s\n' \
        "$N_LINK" "$(median "${pw_rates[@]}")" "$(median "${base_rates[@]}")" "$ratio" "$(verdict "$ratio" '>=' 0.9)"
}

# The statement of pwreset's purge (src/store/tokens.rs, PURGEABLE), with NOW filled in.
purge_where() {
    printf "(used_at IS NOT NULL OR expires_at <= %d OR (revoked_at IS NOT NULL AND (revoked_reason IS NOT 'pending delivery' OR created_at <= %d - 86400)))" "$NOW" "$NOW"
}

# Figure 3: tokens purge on N tokens, half expired, vs the sqlite3 shell on an identical copy.
figure_purge() {
    local template="$WORK/purge-template" db expiry expected
    make_store "$template" 5
    db="$template/pwreset.db"
    [[ $(sqlite3 "$db" 'SELECT count(*), min(id), max(id) FROM users;') == '5|1|5' ]] ||
        die "figure 3: unexpected user ids"
    # Expiry grows with the id and the first half has expired; the halves lie GAP seconds
    # before and after NOW, so pwreset (which reads the real clock; the test clock works only in
    # debug builds) and the shell delete the same rows. Digests are random, like real ones.
    local half=$((N_TOKENS / 2))
    if [[ ${BENCH_PURGE_ORDER:-} == random ]]; then
        expiry="CASE WHEN x <= $half THEN $NOW - $GAP - abs(random()) % $half ELSE $NOW + $GAP + abs(random()) % $half END"
    else
        expiry="CASE WHEN x <= $half THEN $NOW - $GAP - $half + x ELSE $NOW + $GAP + x END"
    fi
    log "figure 3: inserting $N_TOKENS tokens"
    sqlite3 "$db" <<SQL || die "figure 3: filling the store failed"
BEGIN;
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < $N_TOKENS)
INSERT INTO reset_tokens (user_id, token_sha256, purpose, created_at, expires_at, recipient, actor)
SELECT 1 + x % 5, lower(hex(randomblob(32))), 'password-reset',
       ($expiry) - 3600, $expiry, 'user' || (1 + x % 5) || '@example.com', 'bench'
FROM c;
COMMIT;
SQL
    expected=$(sqlite3 "$db" "SELECT count(*) FROM reset_tokens WHERE $(purge_where);")
    checkpoint "$db"
    log "figure 3: $expected of $N_TOKENS tokens purgeable; store $(du -m "$db" | cut -f1) MB"
    local r pw_times=() sh_times=() ratios=()
    for ((r = 1; r <= REPEAT; r++)); do
        local dir="$WORK/purge-$r" t_pw t_sh
        mkdir -p "$dir"
        cp "$db" "$dir/pw.db"
        cp "$db" "$dir/sh.db"
        cmp -s "$dir/pw.db" "$dir/sh.db" || die "figure 3: the copies differ"
        sync
        # The shell runs the statement the way pwreset does: same connection pragmas, one
        # immediate transaction.
        cat >"$dir/purge.sql" <<SQL
.timeout 5000
PRAGMA foreign_keys = ON;
PRAGMA synchronous = NORMAL;
BEGIN IMMEDIATE;
DELETE FROM reset_tokens WHERE $(purge_where);
SELECT changes();
COMMIT;
SQL
        if ((r % 2)); then
            t_pw=$(timed "$dir/pw.out" "$dir/pw.err" "${PW[@]}" "$PWRESET" --config "$template/pwreset.toml" --db "$dir/pw.db" --format json tokens purge)
            t_sh=$(timed "$dir/sh.out" "$dir/sh.err" sqlite3 -init "$dir/purge.sql" "$dir/sh.db" .quit)
        else
            t_sh=$(timed "$dir/sh.out" "$dir/sh.err" sqlite3 -init "$dir/purge.sql" "$dir/sh.db" .quit)
            t_pw=$(timed "$dir/pw.out" "$dir/pw.err" "${PW[@]}" "$PWRESET" --config "$template/pwreset.toml" --db "$dir/pw.db" --format json tokens purge)
        fi
        grep -q "\"deleted\": *$expected\b" "$dir/pw.out" || die "figure 3: pwreset said $(cat "$dir/pw.out"), expected $expected"
        [[ $(tail -n 1 "$dir/sh.out") == "$expected" ]] || die "figure 3: the shell deleted $(cat "$dir/sh.out"), expected $expected"
        log "figure 3 run $r: pwreset ${t_pw}s, sqlite3 shell ${t_sh}s; ratio $(calc "$t_pw / $t_sh")"
        ratios+=("$(calc "$t_pw / $t_sh")")
        pw_times+=("$t_pw")
        sh_times+=("$t_sh")
        rm -rf "$dir"
    done
    local t_pw t_sh ratio
    t_pw=$(median "${pw_times[@]}")
    t_sh=$(median "${sh_times[@]}")
    ratio=$(median "${ratios[@]}")
    printf 'FIGURE 3  tokens purge, %d tokens (%d expired, %s expiry): pwreset %.3f s vs sqlite3 %s shell %.3f s; ratio %.3f (target <= 1.3): %s\n' \
        "$N_TOKENS" "$expected" "${BENCH_PURGE_ORDER:-ordered}" "$t_pw" "$(sqlite3 --version | cut -d' ' -f1)" "$t_sh" "$ratio" "$(verdict "$ratio" '<=' 1.3)"
}

# Peak RSS (KiB) of bulk --link on N users to the sink; prints "RSS WALL".
rss_run() {
    local n=$1 dir="$WORK/rss-$1" wall
    make_store "$dir" "$n" "$SINK_PORT"
    local before
    before=$(sink_stats)
    wall=$(timed "$dir/bulk.out" "$dir/bulk.err" /usr/bin/time -f %M -o "$dir/rss" \
        "${PW[@]}" "$PWRESET" --config "$dir/pwreset.toml" reset bulk --link --all --yes)
    local delta
    delta=$(sink_delta "$before")
    [[ ${delta%% *} == "$n" ]] || die "figure 4: pwreset sent ${delta%% *} messages, expected $n"
    printf '%s %s\n' "$(tail -n 1 "$dir/rss")" "$wall"
}

# Figure 4: peak RSS of bulk --link on a small and a ten times larger user base. Then, as a
# diagnostic, twice the larger size: if memory is bounded, that one barely grows.
figure_rss() {
    local small large ratio
    small=$(rss_run "$N_RSS_SMALL")
    large=$(rss_run "$N_RSS_LARGE")
    log "figure 4: $N_RSS_SMALL users ${small#* }s, $N_RSS_LARGE users ${large#* }s"
    small=${small%% *}
    large=${large%% *}
    ratio=$(calc "$large / $small")
    printf 'FIGURE 4  peak RSS of reset bulk --link to the sink: %d users %d KiB, %d users %d KiB; ratio %.3f (target <= 1.10): %s\n' \
        "$N_RSS_SMALL" "$small" "$N_RSS_LARGE" "$large" "$ratio" "$(verdict "$ratio" '<=' 1.10)"
    if [[ ${BENCH_RSS_PLATEAU:-1} == 1 ]]; then
        local double
        double=$(rss_run $((2 * N_RSS_LARGE)))
        double=${double%% *}
        printf '          (info: %d users %d KiB, %.3f x the %d-user run)\n' \
            $((2 * N_RSS_LARGE)) "$double" "$(calc "$double / $large")" "$N_RSS_LARGE"
    fi
}

# Figures 5 and 6: the reset page (bench/page.py starts and stops its own `pwreset serve`).
figure_page() {
    mkdir -p "$WORK/page"
    BENCH_REPEAT=$REPEAT timeout "$CMD_TIMEOUT" python3 "$BENCH/page.py" "$PWRESET" "$ARGON2_ONCE" \
        "$WORK/page" "$N_PAGE" || die "figures 5-6 failed"
}

# Figure 7: listings stream (bench/listing.sh).
# shellcheck source=bench/listing.sh
source "$BENCH/listing.sh"

# Figures 8, 9 and 7b: the store on PostgreSQL (bench/pg.sh).
# shellcheck source=bench/pg.sh
source "$BENCH/pg.sh"

# ----------------------------------------------------------------------------- main

header() {
    cat <<EOF
pwreset benchmark ($CORES cores; median of $REPEAT_GENERATE runs for figure 1 and $REPEAT for figures 2-3$([[ $QUICK == 1 ]] && echo '; QUICK sizes'))
  1. reset bulk --generate --all --yes on $N_GENERATE users, file transport: wall time of the whole
     command / ($N_GENERATE x one argon2id hash (m=19456, t=2, p=1, same crate, measured now) / cores).
  2. reset bulk --link --all --yes on $N_LINK users to a loopback aiosmtpd sink: messages/s of the
     whole command (startup, planning, SQLite transactions for each user, report) / messages/s of
     a Python smtplib loop sending as many copies of pwreset's message over one connection.
  3. tokens purge on $N_TOKENS tokens, half expired: wall time of pwreset /
     wall time of the sqlite3 shell running pwreset's DELETE on an identical copy.
  4. peak RSS (/usr/bin/time %M) of reset bulk --link on $N_RSS_LARGE vs $N_RSS_SMALL users to the sink.
  5. pwreset serve: password changes/s through the page (open the link, load the form, POST; 4 x cores
     clients) / the ideal, cores / one argon2id hash (measured now). Median of $REPEAT runs.
  6. pwreset serve: median latency of GETs of the form while POSTs keep every core hashing / the same
     GETs on the idle server.
  7. users list --format json on $N_LIST users into a pipe: CPU time (user + system) of the whole
     pipeline / the same for sqlite3 -json selecting the same columns; peak RSS of the listing on
     $N_LIST vs $N_LIST_SMALL users.
  8. reset bulk --link --all --yes on $N_PG_LINK users to a loopback sink (smtp-sink if installed), the
     store on a local PostgreSQL (.ci/pg-server, over its socket): messages/s / the same on SQLite.
  9. the same run on PostgreSQL worked by two processes (the second joins with --resume), each
     mailing its own sink: messages/s / one process, with the CPU of pwreset, the sinks and
     postgres; and the same with both processes on one sink.
 7b. users list --format json on $N_LIST users from PostgreSQL into a pipe: CPU of the pipeline plus
     the server's / the same for psql --csv printing the same columns; peak RSS, $N_LIST vs $N_LIST_SMALL.
EOF
}

main() {
    ensure_tools
    build
    WORK=$(mktemp -d "${TMPDIR:-/tmp}/pwreset-bench.XXXXXX")
    mkdir -p "$WORK/home"
    PW=(env -i PATH="$PATH" HOME="$WORK/home" LANG=C.UTF-8)
    header
    start_sink
    log "SMTP sink on 127.0.0.1:$SINK_PORT"
    case ${BENCH_ONLY:-} in
    pg)
        figures_pg
        return
        ;;
    8 | 9 | 7b)
        figures_pg "$BENCH_ONLY"
        return
        ;;
    esac
    figure_generate
    figure_link
    figure_purge
    figure_rss
    figure_page
    figure_listing
    figures_pg
}

main "$@"
