/* threads.c - the OpenMP thread count and facts about the build.
 *
 * fastmlp never passes a num_threads clause of its own: every parallel
 * region uses OpenMP's default team size, so omp_set_num_threads (ours, or
 * threadpoolctl's on the same libgomp) and OMP_NUM_THREADS take effect. */
#include "fastmlp.h"

#ifdef _OPENMP
#include <omp.h>
#endif

#ifndef FM_COMPILER_ID
#define FM_COMPILER_ID "unknown"
#endif

void fm_set_num_threads(int n)
{
#ifdef _OPENMP
    omp_set_num_threads(n < 1 ? 1 : n);
#else
    (void)n;
#endif
}

int fm_get_num_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int fm_openmp_version(void)
{
#ifdef _OPENMP
    return _OPENMP;
#else
    return 0;
#endif
}

const char *fm_compiler(void) { return FM_COMPILER_ID; }
