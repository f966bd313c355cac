/*
 * paths_agree.c - every SIMD path this CPU can run against the generic
 * path, bit for bit, through the library's C API alone.
 *
 * The Python tests force each path with FASTMLP_ARCH and compare it with
 * the generic one, but only on paths the test machine has. This program
 * needs neither Python nor NumPy, so it also runs where those are out of
 * reach: as the only process of a small Linux inside an emulator whose CPU
 * has AVX-512 (scripts/check-avx512). It covers the GEMM (shapes around
 * every kernel's tile and block edges, both transposes, alpha/beta, bias and
 * every activation in the write-back), the activation and column-sum
 * loops, the optimizers, whole training runs (fm_train_steps: the packed
 * first layer, the row and column splits of a team) and predict.
 *
 *   paths_agree [--require PATH]... [--only PATH]... [--threads N]
 *
 * checks every path this CPU runs (--only: just those named). Exit status
 * 0 when every case agrees (and every required path was usable), 1
 * otherwise. Inputs are finite and random (a fixed seed), so no
 * NaN's sign can differ.
 */
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fastmlp.h"

#define N_ARCH 3

static uint64_t rng = 0x9E3779B97F4A7C15u;
static long cases, failures;
static int path; /* the path under test */

/* A uniform double in [-1, 1) (splitmix64). */
static double uniform(void)
{
    uint64_t z = (rng += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    z ^= z >> 31;
    return (double)(z >> 11) / 4503599627370496.0 - 1.0;
}

static void *alloc(size_t bytes)
{
    void *p = aligned_alloc(64, (bytes + 63) / 64 * 64);
    if (p == NULL) {
        fprintf(stderr, "paths_agree: out of memory (%zu bytes)\n", bytes);
        exit(2);
    }
    return p;
}

/* Record one case: `same` says whether the path's bits equal generic's. */
static void check(int same, const char *what)
{
    cases++;
    if (!same && ++failures <= 25)
        printf("FAIL %s: %s\n", fm_arch_name(path), what);
}

static int use(int arch)
{
    if (fm_arch_select(arch) != 0) {
        fprintf(stderr, "paths_agree: cannot select %s\n", fm_arch_name(arch));
        exit(2);
    }
    return arch;
}

/* ---- one source per element type ---------------------------------------- */

#define PA_STR2(x) #x
#define PA_STR(x) PA_STR2(x)

#define T float
#define SFX f32
#include "paths_agree_impl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "paths_agree_impl.h"
#undef T
#undef SFX

int main(int argc, char **argv)
{
    int required[N_ARCH] = {0}, only[N_ARCH] = {0}, any_only = 0, threads = 0;
    for (int i = 1; i < argc; i++) {
        int found = -1;
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) {
            threads = atoi(argv[++i]);
            continue;
        }
        int is_only = strcmp(argv[i], "--only") == 0;
        if ((is_only || strcmp(argv[i], "--require") == 0) && i + 1 < argc) {
            i++;
            for (int a = 0; a < N_ARCH; a++)
                if (strcmp(argv[i], fm_arch_name(a)) == 0)
                    found = a;
        }
        if (found < 0) {
            fprintf(stderr,
                    "usage: %s [--require PATH]... [--only PATH]... [--threads N]\n"
                    "  PATH: generic, avx2 or avx512\n",
                    argv[0]);
            return 2;
        }
        required[found] = 1; /* --only PATH requires it too */
        only[found] |= is_only;
        any_only |= is_only;
    }
    if (threads > 0)
        fm_set_num_threads(threads);
    printf("paths_agree: %d thread(s), paths compiled/usable:", fm_get_num_threads());
    for (int a = 0; a < N_ARCH; a++)
        printf(" %s %d/%d", fm_arch_name(a), fm_arch_compiled(a), fm_arch_supported(a));
    printf("\n");
    int status = 0, tested = 0;
    for (int a = 0; a < N_ARCH; a++)
        if (required[a] && !(fm_arch_compiled(a) && fm_arch_supported(a))) {
            printf("FAIL %s was required but this CPU or build cannot run it\n",
                   fm_arch_name(a));
            status = 1;
        }
    if (status != 0)
        return status; /* before any case: the run would not prove what was asked */
    for (int a = 0; a < N_ARCH; a++) {
        if (!fm_arch_compiled(a) || !fm_arch_supported(a) || (any_only && !only[a]))
            continue;
        path = a;
        long before_cases = cases, before_failures = failures;
        run_all_f32();
        run_all_f64();
        printf("%s: %ld cases, %ld failed\n", fm_arch_name(a),
               cases - before_cases, failures - before_failures);
        tested++;
    }
    if (failures > 0)
        status = 1;
    printf("paths_agree: %s (%d path(s), %ld cases)\n",
           status ? "FAILED" : "all paths agree", tested, cases);
    fflush(stdout);
    return status;
}
