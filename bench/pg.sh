# Figures 8, 9 and 7b of bench/run.sh: the store on a local PostgreSQL. Sourced by run.sh, whose
# helpers it uses (log, die, calc, median, verdict, timed, make_store, copy_store, cpu_of, pw,
# the PW prefix, WORK, REPEAT, CMD_TIMEOUT, and figure 7's pipeline_cpu and LIST_SQL).
#
# The server is the tests' throwaway one (.ci/pg-server: fsync, synchronous_commit and
# full_page_writes off, on a temp dir), reached over its Unix socket by pwreset and psql alike;
# pg_cleanup (called from run.sh's exit trap) stops it.
#
#   8. reset bulk --link --all --yes on N_PG_LINK users to a loopback SMTP sink, the store on
#      PostgreSQL: messages/s / the same on an SQLite store. Target >= 0.7.
#   9. the same run worked by two processes on PostgreSQL (the first plans and sends, the second
#      joins with --resume as soon as the run exists) / one process: throughput ratio, with the
#      CPU of pwreset, the sinks and postgres. Target >= 1.5 when the sink is not the bottleneck,
#      so each process mails its own smtp-sink, as two hosts would each reach their relay: one
#      smtp-sink is a single event loop, and shared by both it held them to about 1.4-1.7 while
#      a sink each gave 1.8-2.2 on the same host. The shared-sink ratio is printed too.
#  7b. users list --format json of N_LIST users from PostgreSQL into a pipe: CPU of the
#      pipeline plus the server's CPU / the same for psql --csv printing the same columns. Target
#      <= 1.2; peak RSS on N_LIST vs N_LIST_SMALL users within 10%.
#
# The sink for 8 and 9 is Postfix's C smtp-sink when installed (much faster than the Python
# one: MEASURED.md), else the aiosmtpd sink (then shared in 9); sent mails are counted in the
# store.

PG_DIR="" PG_SOCK="" PG_PORT="" PG_POSTMASTER=""
FAST_SINK_PID="" FAST_SINK_PORT="" FAST_SINK_NAME="" SECOND_SINK_PID="" SECOND_SINK_PORT=""

pg_cleanup() {
    local pid
    for pid in $FAST_SINK_PID $SECOND_SINK_PID; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n $PG_DIR ]]; then
        "$ROOT/.ci/pg-server" stop "$PG_DIR" >/dev/null 2>&1 || true
    fi
}

pg_start() {
    local exports
    exports=$("$ROOT/.ci/pg-server" start 2>"$WORK/pg-server.log") ||
        die "the PostgreSQL server did not start: $(tail -n 3 "$WORK/pg-server.log")"
    PG_DIR=$(sed -n 's/^export PWRESET_TEST_PG_DIR=//p' <<<"$exports")
    PG_SOCK=$(sed -n 's/^export PWRESET_TEST_PG_SOCKET=//p' <<<"$exports")
    PG_PORT=$(sed -n 's|^export PWRESET_TEST_PG=.*:\([0-9]*\)/.*|\1|p' <<<"$exports")
    [[ -n $PG_DIR && -n $PG_SOCK && -n $PG_PORT ]] || die "unexpected pg-server output"
    PG_POSTMASTER=$(head -n 1 "$PG_DIR/data/postmaster.pid")
    log "PostgreSQL $(psql_as postgres postgres -c 'SHOW server_version') on $PG_SOCK port $PG_PORT"
}

# psql over the socket as role $1 on database $2, unaligned, no psqlrc; more arguments follow.
psql_as() {
    local role=$1 db=$2
    shift 2
    psql -X -q -At -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U "$role" -d "$db" "$@"
}

# CPU seconds the cluster has used so far: the postmaster, its live children, and (through the
# postmaster's cutime/cstime) every backend that has exited.
pg_cpu() {
    local hz pids
    hz=$(getconf CLK_TCK)
    pids=$(
        echo "$PG_POSTMASTER"
        pgrep -P "$PG_POSTMASTER" || true
    )
    for pid in $pids; do cat "/proc/$pid/stat" 2>/dev/null || true; done |
        awk -v hz="$hz" -v pm="$PG_POSTMASTER" '{ sub(/^.*\) /, ""); s += $12 + $13; if (NR == 1) s += $14 + $15 } END { printf "%.2f", s / hz }'
}

# The fast sinks: two smtp-sinks when installed (figure 9 gives each process its own, as two
# hosts would each have their own path to the relay), else the aiosmtpd one run.sh started,
# shared.
start_fast_sink() {
    if [[ ! -x /usr/sbin/smtp-sink ]]; then # run.sh's sink (it stops it; its CPU via SINK_PID)
        FAST_SINK_PORT=$SINK_PORT SECOND_SINK_PORT=$SINK_PORT FAST_SINK_NAME="aiosmtpd (Python)"
        return
    fi
    start_smtp_sink first
    FAST_SINK_PID=$STARTED_PID FAST_SINK_PORT=$STARTED_PORT FAST_SINK_NAME="Postfix smtp-sink"
    start_smtp_sink second
    SECOND_SINK_PID=$STARTED_PID SECOND_SINK_PORT=$STARTED_PORT
}

# Start an smtp-sink on a free port; sets STARTED_PID and STARTED_PORT.
start_smtp_sink() {
    local name=$1 port i
    for i in 1 2 3 4 5; do
        port=$((20000 + RANDOM % 30000))
        /usr/sbin/smtp-sink -u nobody "127.0.0.1:$port" 256 >"$WORK/smtp-sink-$name.log" 2>&1 &
        STARTED_PID=$!
        sleep 0.3
        if kill -0 "$STARTED_PID" 2>/dev/null; then
            STARTED_PORT=$port
            return
        fi
    done
    die "smtp-sink did not start: $(cat "$WORK/smtp-sink-$name.log")"
}

# CPU seconds the fast sinks have used so far.
fast_sink_cpu() {
    local pid total=0
    for pid in ${FAST_SINK_PID:-$SINK_PID} $SECOND_SINK_PID; do
        total=$(calc "$total + $(awk -v hz="$(getconf CLK_TCK)" \
            '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / hz }' "/proc/$pid/stat")")
    done
    printf '%.2f' "$total"
}

# Point the store directory $1's mail at SMTP on 127.0.0.1 port $2.
use_smtp() {
    sed -i 's/^transport = "file"$/transport = "smtp"/' "$1/pwreset.toml"
    printf '\n[mail.smtp]\nhost = "127.0.0.1"\nport = %s\ntls = "none"\n' "$2" >>"$1/pwreset.toml"
}

# Point the store directory $1 at PostgreSQL database $2.
use_pg() {
    local url="postgres://pwreset@/$2?host=$PG_SOCK&port=$PG_PORT"
    sed -i "s|^path = \"pwreset.db\"\$|url = \"${url//&/\\&}\"|" "$1/pwreset.toml"
    grep -q "^url = \"postgres://" "$1/pwreset.toml" || die "could not point $1 at PostgreSQL"
}

# A PostgreSQL store: directory $1 (config, audit key) for database $2 with N=$3 users, migrated
# by pwreset, users inserted like `users import` would; mail to port $4 if given.
pg_store() {
    local dir=$1 db=$2 n=$3 port=${4:-}
    pw init --dir "$dir" >/dev/null 2>&1 || die "pwreset init failed in $dir"
    rm -f "$dir"/pwreset.db*
    psql_as postgres postgres -c "CREATE DATABASE $db OWNER pwreset" || die "CREATE DATABASE $db"
    use_pg "$dir" "$db"
    [[ -n $port ]] && use_smtp "$dir" "$port"
    pw --config "$dir/pwreset.toml" users list >/dev/null 2>"$dir/migrate.log" ||
        die "pwreset could not open $db: $(tail -n 3 "$dir/migrate.log")"
    psql_as pwreset "$db" -c "INSERT INTO users (username, email, created_at, updated_at)
        SELECT 'user' || i, 'user' || i || '@example.com', $NOW, $NOW FROM generate_series(1, $n) i" ||
        die "filling $db failed"
}

# A copy of PostgreSQL store $1 (directory) / database $2 as directory $3 / database $4.
pg_copy() {
    rm -rf "$3"
    cp -a "$1" "$3"
    psql_as postgres postgres -c "CREATE DATABASE $4 TEMPLATE $2 OWNER pwreset" ||
        die "copying $2 failed"
    sed -i "s|/$2?|/$4?|" "$3/pwreset.toml"
}

# Drop the copies made by pg_copy: pairs of database and directory.
forget_copies() {
    while (($# >= 2)); do
        psql_as postgres postgres -c "DROP DATABASE $1" || die "DROP DATABASE $1"
        rm -rf "$2"
        shift 2
    done
}

# Users a run of store directory $1 sent, counted in its store.
sent_in() {
    local sql="SELECT count(*) FROM bulk_items WHERE status = 'sent'" db
    if db=$(sed -n 's|^url = "postgres://pwreset@/\([a-z0-9_]*\)?.*|\1|p' "$1/pwreset.toml") && [[ -n $db ]]; then
        psql_as pwreset "$db" -c "$sql"
    else
        sqlite3 "$1/pwreset.db" "$sql"
    fi
}

# One bulk --link --all run in store directory $1 of N=$2 users; prints "WALL CPU".
pg_link_run() {
    local dir=$1 n=$2 wall
    wall=$(timed "$dir/bulk.out" "$dir/bulk.err" /usr/bin/time -o "$dir/cpu" -f '%U %S' \
        "${PW[@]}" "$PWRESET" --config "$dir/pwreset.toml" reset bulk --link --all --yes) ||
        die "bulk run in $dir failed"
    [[ $(sent_in "$dir") == "$n" ]] || die "$dir: $(sent_in "$dir") users sent, expected $n"
    printf '%s %s\n' "$wall" "$(cpu_of "$dir/cpu")"
}

# The template stores of figures 8 and 9: N_PG_LINK users on SQLite and on PostgreSQL.
make_pg_link_stores() {
    make_store "$WORK/pgl-sqlite" "$N_PG_LINK" "$FAST_SINK_PORT"
    pg_store "$WORK/pgl-pg" pgl_tmpl "$N_PG_LINK" "$FAST_SINK_PORT"
}

figure_pg_link() {
    local n=$N_PG_LINK sq_tmpl="$WORK/pgl-sqlite" pg_tmpl="$WORK/pgl-pg" r ratios=() pg_rates=() sq_rates=()
    log "figure 8: $n users on SQLite and on PostgreSQL, mail to $FAST_SINK_NAME"
    for ((r = 1; r <= REPEAT; r++)); do
        local sq pg c0 c1 s0 s1
        copy_store "$sq_tmpl" "$WORK/pgl-sqlite-$r"
        pg_copy "$pg_tmpl" pgl_tmpl "$WORK/pgl-pg-$r" "pgl_$r"
        if ((r % 2)); then
            c0=$(pg_cpu) s0=$(fast_sink_cpu)
            pg=$(pg_link_run "$WORK/pgl-pg-$r" "$n")
            c1=$(pg_cpu) s1=$(fast_sink_cpu)
            sq=$(pg_link_run "$WORK/pgl-sqlite-$r" "$n")
        else
            sq=$(pg_link_run "$WORK/pgl-sqlite-$r" "$n")
            c0=$(pg_cpu) s0=$(fast_sink_cpu)
            pg=$(pg_link_run "$WORK/pgl-pg-$r" "$n")
            c1=$(pg_cpu) s1=$(fast_sink_cpu)
        fi
        local pg_rate sq_rate
        pg_rate=$(calc "$n / ${pg%% *}")
        sq_rate=$(calc "$n / ${sq%% *}")
        log "figure 8 run $r: PostgreSQL ${pg%% *}s = $pg_rate msg/s (CPU: pwreset ${pg#* }s, postgres $(calc "$c1 - $c0")s, sink $(calc "$s1 - $s0")s); SQLite ${sq%% *}s = $sq_rate msg/s (CPU: pwreset ${sq#* }s); ratio $(calc "$pg_rate / $sq_rate")"
        pg_rates+=("$pg_rate")
        sq_rates+=("$sq_rate")
        ratios+=("$(calc "$pg_rate / $sq_rate")")
        forget_copies "pgl_$r" "$WORK/pgl-pg-$r"
        rm -rf "$WORK/pgl-sqlite-$r"
    done
    local ratio
    ratio=$(median "${ratios[@]}")
    printf 'FIGURE 8  reset bulk --link, %d users to %s, store on local PostgreSQL: %.0f msg/s vs the same on SQLite %.0f msg/s; ratio %.3f (target >= 0.7): %s\n' \
        "$n" "$FAST_SINK_NAME" "$(median "${pg_rates[@]}")" "$(median "${sq_rates[@]}")" "$ratio" "$(verdict "$ratio" '>=' 0.7)"
}

# Two processes on one run of store directory $1 (N=$2 users): the first plans and sends, the
# second joins with --resume once the run exists, mailing to port $3 (the first's sink when
# that is its port). Prints "WALL PWRESET_CPU SENT_1 SENT_2".
two_processes() {
    local dir=$1 n=$2 port=$3 db t0 t1 first second run=""
    db=$(sed -n 's|^url = "postgres://pwreset@/\([a-z0-9_]*\)?.*|\1|p' "$dir/pwreset.toml")
    cp -p "$dir/pwreset.toml" "$dir/second.toml" # private, like the config it copies
    sed -i "s/^port = $FAST_SINK_PORT\$/port = $port/" "$dir/second.toml"
    grep -q "^port = $port\$" "$dir/second.toml" || die "figure 9: no SMTP port in $dir/pwreset.toml"
    t0=$EPOCHREALTIME
    timeout "$CMD_TIMEOUT" /usr/bin/time -o "$dir/cpu1" -f '%U %S' "${PW[@]}" "$PWRESET" \
        --config "$dir/pwreset.toml" reset bulk --link --all --yes >"$dir/one.out" 2>"$dir/one.err" &
    first=$!
    # Wait for the run in one server-side loop (a psql started every 10 ms would take CPU
    # from the planning process).
    run=$(psql_as pwreset "$db" -c "DO \$\$ BEGIN
            FOR i IN 1..6000 LOOP
                EXIT WHEN EXISTS (SELECT 1 FROM bulk_runs);
                PERFORM pg_sleep(0.01);
            END LOOP;
        END \$\$" -c "SELECT id FROM bulk_runs")
    [[ -n $run ]] || die "figure 9: the run did not start within 60 s"
    timeout "$CMD_TIMEOUT" /usr/bin/time -o "$dir/cpu2" -f '%U %S' "${PW[@]}" "$PWRESET" \
        --config "$dir/second.toml" reset bulk --resume "$run" --yes >"$dir/two.out" 2>"$dir/two.err" &
    second=$!
    wait "$first" || die "figure 9: the first process failed: $(tail -n 3 "$dir/one.err")"
    wait "$second" || die "figure 9: the second process failed: $(tail -n 3 "$dir/two.err")"
    t1=$EPOCHREALTIME
    [[ $(sent_in "$dir") == "$n" ]] || die "figure 9: $(sent_in "$dir") users sent, expected $n"
    [[ $(psql_as pwreset "$db" -c "SELECT status FROM bulk_runs") == done ]] || die "figure 9: the run is not done"
    local sent1 sent2
    sent1=$(grep -o 'sent [0-9,]*' "$dir/one.err" | tail -n 1 | tr -dc 0-9)
    sent2=$(grep -o 'sent [0-9,]*' "$dir/two.err" | tail -n 1 | tr -dc 0-9)
    ((sent1 + sent2 == n)) || die "figure 9: the summaries say $sent1 + $sent2, expected $n"
    printf '%s %s %s %s\n' "$(calc "$t1 - $t0")" "$(calc "$(cpu_of "$dir/cpu1") + $(cpu_of "$dir/cpu2")")" "$sent1" "$sent2"
}

figure_pg_scale() {
    local n=$N_PG_LINK tmpl="$WORK/pgl-pg" r ratios=() shared=() ones=() twos=()
    log "figure 9: $n users on PostgreSQL, one process vs two, mail to $FAST_SINK_NAME (one per process, then both on one)"
    for ((r = 1; r <= REPEAT; r++)); do
        local one c0 c1 s0 s1 two_own two_shared
        pg_copy "$tmpl" pgl_tmpl "$WORK/pgs-one-$r" "pgs_one_$r"
        c0=$(pg_cpu) s0=$(fast_sink_cpu)
        one=$(pg_link_run "$WORK/pgs-one-$r" "$n")
        c1=$(pg_cpu) s1=$(fast_sink_cpu)
        log "figure 9 run $r: one process ${one%% *}s (CPU: pwreset ${one#* }s, postgres $(calc "$c1 - $c0")s, sink $(calc "$s1 - $s0")s)"
        two_own=$(two_processes_logged "$r" "$WORK/pgs-two-$r" "pgs_two_$r" "$SECOND_SINK_PORT" "a sink each")
        two_shared=$(two_processes_logged "$r" "$WORK/pgs-shared-$r" "pgs_shared_$r" "$FAST_SINK_PORT" "one sink")
        ones+=("$(calc "$n / ${one%% *}")")
        twos+=("$(calc "$n / $two_own")")
        ratios+=("$(calc "${one%% *} / $two_own")")
        shared+=("$(calc "${one%% *} / $two_shared")")
        log "figure 9 run $r: ratio $(calc "${one%% *} / $two_own") (both on one sink: $(calc "${one%% *} / $two_shared"))"
        forget_copies "pgs_one_$r" "$WORK/pgs-one-$r"
    done
    local ratio
    ratio=$(median "${ratios[@]}")
    local sinks="each mailing its own sink"
    [[ -n $SECOND_SINK_PID ]] || sinks="both mailing the one sink"
    printf 'FIGURE 9  reset bulk --link, %d users on PostgreSQL to %s: two processes on one run, %s, %.0f msg/s vs one %.0f msg/s; ratio %.3f (target >= 1.5 when the sink is not the bottleneck; CPU per run in the log lines above): %s\n' \
        "$n" "$FAST_SINK_NAME" "$sinks" "$(median "${twos[@]}")" "$(median "${ones[@]}")" "$ratio" "$(verdict "$ratio" '>=' 1.5)"
    printf '          both processes on one sink (its one event loop serves all four connections): ratio %.3f\n' "$(median "${shared[@]}")"
}

# Figure 9's two processes in a fresh copy ($2, database $3) with the second mailing to port
# $4; logs the run ($1: repeat, $5: how the sinks are shared) and prints the wall time.
two_processes_logged() {
    local r=$1 dir=$2 db=$3 port=$4 how=$5 c0 c1 s0 s1 out wall cpu sent1 sent2
    pg_copy "$WORK/pgl-pg" pgl_tmpl "$dir" "$db"
    c0=$(pg_cpu) s0=$(fast_sink_cpu)
    out=$(two_processes "$dir" "$N_PG_LINK" "$port") || exit 1
    read -r wall cpu sent1 sent2 <<<"$out"
    c1=$(pg_cpu) s1=$(fast_sink_cpu)
    log "figure 9 run $r: two processes, $how: ${wall}s, sent $sent1 + $sent2 (CPU: pwreset ${cpu}s, postgres $(calc "$c1 - $c0")s, sinks $(calc "$s1 - $s0")s)"
    forget_copies "$db" "$dir"
    printf '%s\n' "$wall"
}

# psql's listing of database $1 as a command line (figure 7's list_pw lists a store directory,
# whichever its store).
list_psql() { printf 'psql -X -q --csv -h %q -p %q -U pwreset -d %q -c %q' "$PG_SOCK" "$PG_PORT" "$1" "$LIST_SQL"; }

# CPU of pipeline $1 plus the server's meanwhile; prints "TOTAL SERVER".
pipeline_and_server_cpu() {
    local c0 c1 cpu
    c0=$(pg_cpu)
    cpu=$(pipeline_cpu "$1")
    c1=$(pg_cpu)
    printf '%s %s\n' "$(calc "$cpu + $c1 - $c0")" "$(calc "$c1 - $c0")"
}

figure_pg_listing() {
    local small="$WORK/pglist-small" large="$WORK/pglist-large" r ratios=() pws=() pss=()
    log "figure 7b: PostgreSQL stores of $N_LIST_SMALL and $N_LIST users"
    pg_store "$small" pglist_small "$N_LIST_SMALL"
    pg_store "$large" pglist_large "$N_LIST"
    local rows
    rows=$(bash -o pipefail -c "$(list_pw "$large") | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'") ||
        die "figure 7b: pwreset's listing is not a JSON array"
    [[ $rows == "$N_LIST" ]] || die "figure 7b: pwreset listed $rows users"
    rows=$(bash -o pipefail -c "$(list_psql pglist_large) | tail -n +2 | wc -l")
    [[ $rows == "$N_LIST" ]] || die "figure 7b: psql listed $rows users"
    for ((r = 1; r <= REPEAT; r++)); do
        local pw ps
        if ((r % 2)); then
            pw=$(pipeline_and_server_cpu "$(list_pw "$large") | cat >/dev/null")
            ps=$(pipeline_and_server_cpu "$(list_psql pglist_large) | cat >/dev/null")
        else
            ps=$(pipeline_and_server_cpu "$(list_psql pglist_large) | cat >/dev/null")
            pw=$(pipeline_and_server_cpu "$(list_pw "$large") | cat >/dev/null")
        fi
        log "figure 7b run $r: pwreset | cat ${pw%% *}s CPU (server ${pw#* }s), psql --csv | cat ${ps%% *}s CPU (server ${ps#* }s); ratio $(calc "${pw%% *} / ${ps%% *}")"
        pws+=("${pw%% *}")
        pss+=("${ps%% *}")
        ratios+=("$(calc "${pw%% *} / ${ps%% *}")")
    done
    local ratio rss_small rss_large
    ratio=$(median "${ratios[@]}")
    printf 'FIGURE 7b users list --format json, %d users from PostgreSQL into a pipe: CPU of the pipeline and the server %.3f s vs psql --csv on the same columns %.3f s; ratio %.3f (target <= 1.2): %s\n' \
        "$N_LIST" "$(median "${pws[@]}")" "$(median "${pss[@]}")" "$ratio" "$(verdict "$ratio" '<=' 1.2)"
    rss_small=$(list_rss "$small")
    rss_large=$(list_rss "$large")
    ratio=$(calc "$rss_large / $rss_small")
    printf '          peak RSS of the listing: %d users %d KiB, %d users %d KiB; ratio %.3f (target <= 1.10): %s\n' \
        "$N_LIST_SMALL" "$rss_small" "$N_LIST" "$rss_large" "$ratio" "$(verdict "$ratio" '<=' 1.10)"
}

# All three figures, or only figure $1 (8, 9 or 7b).
figures_pg() {
    local only=${1:-}
    pg_start
    start_fast_sink
    if [[ -z $only || $only == 8 || $only == 9 ]]; then
        make_pg_link_stores
    fi
    [[ -z $only || $only == 8 ]] && figure_pg_link
    [[ -z $only || $only == 9 ]] && figure_pg_scale
    [[ -z $only || $only == 7b ]] && figure_pg_listing
    return 0
}
