# Figure 7 of bench/run.sh: listings stream. Sourced by run.sh, whose helpers it uses (log,
# die, calc, median, verdict, make_store, the PW prefix, WORK, REPEAT, CMD_TIMEOUT).
#
#   - CPU time (user + system, every process of the pipeline) of
#       pwreset users list --format json | cat > /dev/null
#     vs the sqlite3 shell selecting the same columns in the same order into the same sink:
#       sqlite3 -json pwreset.db 'SELECT id, username, ...' | cat > /dev/null
#     on N_LIST users; median of REPEAT runs, alternating which side goes first. Target <= 1.2.
#   - peak RSS of the pwreset listing on N_LIST_SMALL vs N_LIST users. Target: within 10%.
#
# CPU time comes from bash's `times` in a subshell (milliseconds; children of the subshell).

# The columns `users list --format json` prints, in its order, as the sqlite3 shell selects them.
LIST_SQL='SELECT id, username, email, display_name AS name, active, must_change_password, password_changed_at, locale FROM users ORDER BY id'

# CPU seconds (children's user + system, from `times`) of the pipeline given as one string.
pipeline_cpu() {
    local cpu
    cpu=$( (timeout "$CMD_TIMEOUT" bash -o pipefail -c "$1" || exit 1; times) | tail -n 1) ||
        die "figure 7: failed: $1"
    # "0m0.078s 0m0.014s" -> 0.092
    awk '{ s = 0; for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } printf "%.3f", s }' <<<"$cpu"
}

# The pwreset listing of store directory $1 into a pipe, as a shell command line.
list_pw() { printf '%q ' "${PW[@]}" "$PWRESET" --config "$1/pwreset.toml" --color never --format json users list; }

# The sqlite3 shell's listing of the same store, as a shell command line.
list_sh() { printf 'sqlite3 -json %q %q' "$1/pwreset.db" "$LIST_SQL"; }

# Both sides list all N users of store directory $1 (checked once, outside the timings).
check_listings() {
    local dir=$1 n=$2 pw_rows sh_rows
    pw_rows=$(bash -o pipefail -c "$(list_pw "$dir") | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'") ||
        die "figure 7: pwreset's listing is not a JSON array"
    sh_rows=$(bash -o pipefail -c "$(list_sh "$dir") | python3 -c 'import json, sys; print(len(json.load(sys.stdin)))'") ||
        die "figure 7: the sqlite3 listing is not a JSON array"
    [[ $pw_rows == "$n" && $sh_rows == "$n" ]] ||
        die "figure 7: pwreset listed $pw_rows users, sqlite3 $sh_rows, expected $n"
}

# Peak RSS (KiB) of pwreset listing store directory $1 into a pipe.
list_rss() {
    local dir=$1
    bash -o pipefail -c "/usr/bin/time -f %M -o $(printf %q "$dir/list.rss") $(list_pw "$dir") | cat >/dev/null" ||
        die "figure 7: listing $dir failed"
    tail -n 1 "$dir/list.rss"
}

figure_listing() {
    local small="$WORK/list-$N_LIST_SMALL" large="$WORK/list-$N_LIST"
    log "figure 7: stores of $N_LIST_SMALL and $N_LIST users"
    make_store "$small" "$N_LIST_SMALL"
    make_store "$large" "$N_LIST"
    check_listings "$large" "$N_LIST"
    local r pw_cpus=() sh_cpus=() ratios=()
    for ((r = 1; r <= REPEAT; r++)); do
        local pw sh
        if ((r % 2)); then # alternate which side goes first
            pw=$(pipeline_cpu "$(list_pw "$large") | cat >/dev/null")
            sh=$(pipeline_cpu "$(list_sh "$large") | cat >/dev/null")
        else
            sh=$(pipeline_cpu "$(list_sh "$large") | cat >/dev/null")
            pw=$(pipeline_cpu "$(list_pw "$large") | cat >/dev/null")
        fi
        log "figure 7 run $r: pwreset | cat ${pw}s CPU, sqlite3 -json | cat ${sh}s CPU; ratio $(calc "$pw / $sh")"
        pw_cpus+=("$pw")
        sh_cpus+=("$sh")
        ratios+=("$(calc "$pw / $sh")")
    done
    local ratio
    ratio=$(median "${ratios[@]}")
    printf 'FIGURE 7  users list --format json, %d users into a pipe: CPU of the pipeline %.3f s vs sqlite3 %s -json on the same columns %.3f s; ratio %.3f (target <= 1.2): %s\n' \
        "$N_LIST" "$(median "${pw_cpus[@]}")" "$(sqlite3 --version | cut -d' ' -f1)" "$(median "${sh_cpus[@]}")" \
        "$ratio" "$(verdict "$ratio" '<=' 1.2)"
    # PG-LISTING: when the PostgreSQL store is wired, list the same users from a local
    # PostgreSQL store here (pwreset --db postgres://... users list --format json | cat) against
    # `psql -At -c "SELECT json_agg(...)"` or `psql --csv` printing the same rows into the same
    # sink, and print a FIGURE 7b line with target <= 1.2.
    local rss_small rss_large
    rss_small=$(list_rss "$small")
    rss_large=$(list_rss "$large")
    ratio=$(calc "$rss_large / $rss_small")
    printf '          peak RSS of the listing: %d users %d KiB, %d users %d KiB; ratio %.3f (target <= 1.10): %s\n' \
        "$N_LIST_SMALL" "$rss_small" "$N_LIST" "$rss_large" "$ratio" "$(verdict "$ratio" '<=' 1.10)"
}
