/* train.c - many training steps of a Dense-only MLP in one C call.
 *
 * Python calls this for a run of minibatches so that a step costs no
 * interpreter time between kernels: at small sizes (an 8-64-64-1 regression
 * net) that overhead, not arithmetic, is what a step costs.
 *
 * The whole run is one OpenMP region. Each thread keeps the same rows of
 * every minibatch from the gather to the input gradients, in its own cache,
 * and then the same slice of the parameters from the weight gradient
 * through the optimizer; two barriers a step instead of a region (and a
 * round of cache misses on the other core's data) per kernel. The kernels
 * compute every element as the Python path's calls do (model.py), so both
 * give the same weights bit for bit, whatever the thread count. The body
 * lives in train_impl.h, once per dtype. */
#include <math.h>
#include <stdint.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#else
static int omp_get_thread_num(void) { return 0; }
static int omp_get_num_threads(void) { return 1; }
#endif

#include "elementwise.h"
#include "fastmlp.h"
#include "gemm_prepacked.h"
#include "loss.h"
#include "optim.h"
#include "parallel.h"

/* A team only for at least this many multiply-adds of forward GEMM work
 * (per step, or per predict call): below it, the barriers cost more than
 * the second thread saves. Measured with bench/compare.py's regression
 * case, 8-64-64-1 at batch 32 (150k): 13 us a step on one thread, 21 us as
 * a team of two (threshold 2^14). */
#ifndef FM_TEAM_MIN_FMAS
#define FM_TEAM_MIN_FMAS ((ptrdiff_t)1 << 18)
#endif

/* The sample at position k of an epoch's order (k itself with no order). */
static ptrdiff_t sample_at(const int64_t *order, ptrdiff_t k)
{
    return order ? (ptrdiff_t)order[k] : k;
}

/* Bytes of one element of an x of this fm_x_type. */
static size_t x_elem_bytes(int x_type)
{
    return x_type == FM_X_F64 ? sizeof(double) : x_type == FM_X_F32 ? sizeof(float) : 1;
}

/* Where each layer's kernel and bias start in the flat parameter buffer
 * (kernel dims[i] x dims[i+1], then bias); b_off[i] < 0: no bias. */
static void layer_offsets(const fm_mlp *net, ptrdiff_t *w_off, ptrdiff_t *b_off)
{
    ptrdiff_t off = 0;
    for (int i = 0; i < net->n_layers; i++) {
        w_off[i] = off;
        off += net->dims[i] * net->dims[i + 1];
        b_off[i] = net->use_bias[i] ? off : -1;
        off += net->use_bias[i] ? net->dims[i + 1] : 0;
    }
}

/* Threads for work on `rows` rows of net: forward, plus about as much
 * again for each of the two gradients in training. */
static int team_size_for(const fm_mlp *net, ptrdiff_t rows)
{
    ptrdiff_t per_row = 0;
    for (int i = 0; i < net->n_layers; i++)
        per_row += net->dims[i] * net->dims[i + 1];
    int nt = threads_available();
    if (nt <= 1 || rows * per_row < FM_TEAM_MIN_FMAS)
        return 1;
    return rows < nt ? (int)rows : nt;
}

#define FM_CAT2(a, b) a##_##b
#define FM_CAT(a, b) FM_CAT2(a, b)

#define T float
#define SFX f32
#include "train_impl.h"
#undef T
#undef SFX

#define T double
#define SFX f64
#include "train_impl.h"
#undef T
#undef SFX
