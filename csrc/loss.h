/*
 * loss.h - internal to csrc/: the fused losses of loss.c in two pieces, for
 * a caller that splits a batch among threads of its own (train.c).
 *
 * Each thread calls fm_loss_rows_<T> on its rows: it writes their gradient
 * and each item's loss (an item is a row for the softmax losses, else an
 * element). Once every row is done, fm_loss_total adds the items up in the
 * same chunks and order as the whole-batch kernels, so the mean loss has
 * the same bits as fm_<loss>_<T> on the whole batch. `kind` is an fm_loss;
 * for MSE, MAE and BCE the batch is rows x cols elements.
 */
#ifndef FM_LOSS_H
#define FM_LOSS_H

#include <stddef.h>
#include <stdint.h>

void fm_loss_rows_f32(int kind, ptrdiff_t rows, ptrdiff_t cols, const float *z,
                      const float *target, const int64_t *labels, float *grad, ptrdiff_t r0,
                      ptrdiff_t r1, double *item_loss);
void fm_loss_rows_f64(int kind, ptrdiff_t rows, ptrdiff_t cols, const double *z,
                      const double *target, const int64_t *labels, double *grad, ptrdiff_t r0,
                      ptrdiff_t r1, double *item_loss);

/* The mean loss of a rows x cols batch from its item losses. */
double fm_loss_total(int kind, ptrdiff_t rows, ptrdiff_t cols, const double *item_loss);

#endif /* FM_LOSS_H */
