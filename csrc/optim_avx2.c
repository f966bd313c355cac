/*
 * optim_avx2.c - the optimizers' loops (optim_ranges.h) compiled with AVX2
 * and FMA, for the AVX2 path; reached only when cpu.c has checked the CPU.
 */
#define FM_OPTIM_TABLE fm_optim_avx2
#include "optim_ranges.h"
