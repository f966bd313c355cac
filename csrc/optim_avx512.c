/*
 * optim_avx512.c - the optimizers' loops (optim_ranges.h) compiled with
 * AVX-512, for the AVX-512 path; reached only when cpu.c has checked the
 * CPU and the OS.
 */
#define FM_OPTIM_TABLE fm_optim_avx512
#include "optim_ranges.h"
