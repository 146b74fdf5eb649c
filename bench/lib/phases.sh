# Sourced by bench/http.sh and bench/http_ab.sh: the server's own phase timings
# (gradserve_phase_duration_seconds in GET /metrics) between two scrapes.

# phases BEFORE AFTER ROUTE: "phase mean_us" per line, from two scrapes.
phases() {
    awk -v route="$3" '
    FNR == 1 { f++ }
    $1 ~ /^gradserve_phase_duration_seconds_(sum|count)[{]/ && index($1, "route=\"" route "\"") {
        match($1, /phase="[a-z]+"/); ph = substr($1, RSTART + 7, RLENGTH - 8)
        kind = ($1 ~ /_sum[{]/) ? "sum" : "count"
        v[f, kind, ph] = $2; seen[ph] = 1
    }
    END {
        split("receive queue decode compute encode send", order, " ")
        for (i = 1; i <= 6; i++) {
            ph = order[i]; n = v[2, "count", ph] - v[1, "count", ph]
            printf "%s %.1f\n", ph, (n > 0 ? (v[2, "sum", ph] - v[1, "sum", ph]) / n * 1e6 : 0)
        }
    }' "$1" "$2"
}
phase_of() { awk -v p="$2" '$1 == p { print $2 }' "$1"; }
