/*
 * elementwise.h - internal to csrc/: the activation kernel the GEMM
 * write-back shares with fm_act_forward_*.
 */
#ifndef FM_ELEMENTWISE_H
#define FM_ELEMENTWISE_H

#include <stddef.h>

/*
 * Apply activation `act` (an fm_activation) in place to the rows x cols
 * block at c, whose rows are ldc elements apart. slope is the leaky_relu
 * negative slope. Serial: the caller owns the threading (the GEMM calls this
 * per tile from inside its own OpenMP region). Softmax is row-wise over the
 * cols given, so for softmax a tile must span whole rows.
 */
void fm_act_inplace_f32(int act, float slope, ptrdiff_t rows, ptrdiff_t cols,
                        float *c, ptrdiff_t ldc);
void fm_act_inplace_f64(int act, double slope, ptrdiff_t rows, ptrdiff_t cols,
                        double *c, ptrdiff_t ldc);

#endif /* FM_ELEMENTWISE_H */
