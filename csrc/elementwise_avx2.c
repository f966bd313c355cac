/*
 * elementwise_avx2.c - the activation and column-sum loops
 * (elementwise_loops.h) compiled with AVX2, for the AVX2 and AVX-512 paths;
 * reached only when cpu.c has checked the CPU.
 */
#define FM_ELEM_TABLE fm_elem_avx2
#include "elementwise_loops.h"
