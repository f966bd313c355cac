/*
 * optim.h - internal to csrc/: an optimizer step prepared once and applied
 * to pieces of the parameter buffer, for a caller that updates parameters
 * as their gradients come (train.c: each thread updates its slice of a
 * layer right after computing its gradient).
 *
 * An fm_update holds the whole buffers, the hyperparameters rounded to the
 * element type as the fm_<optimizer> kernels round them, and the range
 * function of the optimizer; every element is updated independently, so
 * applying it to pieces in any order gives the same bits as one fm_sgd /
 * fm_momentum / ... / fm_adam call over the whole buffer.
 */
#ifndef FM_OPTIM_H
#define FM_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "fastmlp.h"

#define FM_DEFINE_UPDATE(T, SFX)                                                        \
    typedef struct fm_update_##SFX fm_update_##SFX;                                   \
    typedef void (*fm_update_range_##SFX)(const fm_update_##SFX *u, ptrdiff_t i0,      \
                                          ptrdiff_t i1);                               \
    struct fm_update_##SFX {                                                           \
        fm_update_range_##SFX range; /* updates elements [i0, i1) */                   \
        T *w;                                                                          \
        const T *g;                                                                    \
        T *s1, *s2;         /* optimizer state: velocity, accumulator, m and v */     \
        T wd, k1, k2, k3, k4; /* weight decay and the optimizer's coefficients */     \
    };                                                                                 \
    /* net's optimizer at step `step` (>= 1) on these buffers (slots as        \
     * fm_train_steps takes them) */                                                   \
    void fm_update_init_##SFX(fm_update_##SFX *u, const fm_mlp *net, T *w, const T *g,  \
                              T *s1, T *s2, int64_t step);                             \
    /* elements [i0, i1), on the calling thread with denormals flushed */            \
    void fm_update_apply_##SFX(const fm_update_##SFX *u, ptrdiff_t i0, ptrdiff_t i1);

FM_DEFINE_UPDATE(float, f32)
FM_DEFINE_UPDATE(double, f64)

#undef FM_DEFINE_UPDATE

/* One CPU family's build of the optimizers' range functions
 * (optim_ranges.h), per element type. */
#define FM_DEFINE_RANGES(SFX)                                                           \
    typedef struct {                                                                   \
        fm_update_range_##SFX sgd, momentum, nesterov, adagrad, rmsprop, adam;         \
    } fm_optim_ranges_##SFX;
FM_DEFINE_RANGES(f32)
FM_DEFINE_RANGES(f64)
#undef FM_DEFINE_RANGES

typedef struct {
    fm_optim_ranges_f32 f32;
    fm_optim_ranges_f64 f64;
} fm_optim_arch;

/* Defined by optim.c (portable), optim_avx2.c and optim_avx512.c; the AVX
 * ones exist only when the build compiled them (FM_HAVE_AVX2/512). */
extern const fm_optim_arch fm_optim_generic;
extern const fm_optim_arch fm_optim_avx2;
extern const fm_optim_arch fm_optim_avx512;

#endif /* FM_OPTIM_H */
