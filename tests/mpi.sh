# Shared by the MPI shell tests (sourced after tap.sh, with the plan printed): skips every test of the plan unless
# NNOPT_MPI is an MPI build and mpirun exists; mpi runs mpirun as the tests need it.
# skip_without_mpi N: N tests skipped (and exit) when there is no MPI build
skip_without_mpi() {
    [ -n "$NNOPT_MPI" ] && [ -x "$NNOPT_MPI" ] && command -v mpirun >/dev/null && return 0
    for _ in $(seq "$1"); do ok "# SKIP no MPI build (make MPI=1 needs: apt-get install -y openmpi-bin libopenmpi-dev)"; done
    exit 0
}
mpi() { mpirun --allow-run-as-root --oversubscribe "$@"; }
# Under ASan (make check) OpenMPI's own allocations, some in plugins it has unloaded, show up as leaks at exit;
# nnopt's are checked by the same code in the plain build's tests.
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0
