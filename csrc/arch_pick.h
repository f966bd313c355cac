/*
 * arch_pick.h - internal to csrc/: the build of a kernel family (GEMM
 * micro-kernels, optimizer loops) for the SIMD path in use.
 *
 * Each family has a portable build and, on x86-64, AVX2 and AVX-512 builds
 * that exist only when the build compiled them (FM_HAVE_AVX2/512); an
 * FM_IF_AVX* of a missing one is NULL, so no symbol is referenced that is
 * not there.
 */
#ifndef FM_ARCH_PICK_H
#define FM_ARCH_PICK_H

#include <stddef.h>

#include "fastmlp.h"

#ifdef FM_HAVE_AVX2
#define FM_IF_AVX2(x) (x)
#else
#define FM_IF_AVX2(x) NULL
#endif
#ifdef FM_HAVE_AVX512
#define FM_IF_AVX512(x) (x)
#else
#define FM_IF_AVX512(x) NULL
#endif

/* The build for fm_arch_selected(): it only ever selects a compiled one. */
static inline const void *fm_arch_pick(const void *generic, const void *avx2,
                                       const void *avx512)
{
    switch (fm_arch_selected()) {
    case FM_ARCH_AVX512:
        return avx512 != NULL ? avx512 : generic;
    case FM_ARCH_AVX2:
        return avx2 != NULL ? avx2 : generic;
    default:
        return generic;
    }
}

#endif /* FM_ARCH_PICK_H */
