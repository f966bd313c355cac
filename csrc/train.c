/* train.c - many training steps of a Dense-only MLP in one C call.
 *
 * Python calls this for a run of minibatches so that a step costs no
 * interpreter time between kernels: at small sizes (an 8-64-64-1 regression
 * net) that overhead, not arithmetic, is what a step costs. The kernels and
 * their order are those of the Python path (model.py), so both give the same
 * weights bit for bit. The body lives in train_impl.h, once per dtype. */
#include <math.h>
#include <string.h>

#include "fastmlp.h"

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
