# Shared by the shell tests (sourced): TAP lines and the comparison of CSVs without their timing columns.
# The sourcing script sets n=0 and prints its plan.
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); tail -5 "$2" 2>/dev/null | sed 's/^/# /'; echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2" "$3"; fi; } # status, description, log to show

# A CSV (or, for a stopped run, its .partial) without its timing columns (chosen by header: *_per_s and seconds).
untimed() {
    cat "$1" "$1.partial" 2>/dev/null | awk -F, -v OFS=, '
        NR == 1 { for (i = 1; i <= NF; i++) drop[i] = $i ~ /(_per_s|^seconds)$/ }
        { line = ""; k = 0; for (i = 1; i <= NF; i++) if (!drop[i]) line = line (k++ ? OFS : "") $i; print line }'
}
