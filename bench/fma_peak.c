/*
 * fma_peak.c - this machine's float32 FMA peak: the ceiling that the GEMM
 * and training rates in bench/README.md are read against.
 *
 *   gcc -O3 -march=native -fopenmp bench/fma_peak.c -o /tmp/fma_peak
 *   OMP_NUM_THREADS=2 /tmp/fma_peak
 *
 * Not part of the package (-march=native is fine for a tool built where it
 * runs). Each thread runs 12 independent chains of vector FMAs, more than
 * latency x ports on current x86 cores (4 x 2), with nothing else in the
 * loop, for about half a second; a round's rate is 2 x lanes x FMAs over
 * the slowest thread's time, and the best of 5 rounds is printed. On a
 * shared machine the rounds differ: that spread is itself worth reading.
 */
#include <immintrin.h>
#include <omp.h>
#include <stdio.h>

#if defined(__AVX512F__)
typedef __m512 vec;
#define LANES 16
#define SET1 _mm512_set1_ps
#define FMA _mm512_fmadd_ps
#define LANE0(v) _mm512_cvtss_f32(v)
#define ISA "AVX-512"
#elif defined(__AVX2__) && defined(__FMA__)
typedef __m256 vec;
#define LANES 8
#define SET1 _mm256_set1_ps
#define FMA _mm256_fmadd_ps
#define LANE0(v) _mm256_cvtss_f32(v)
#define ISA "AVX2+FMA"
#else
#error "needs FMA: build with -march=native on an x86-64 CPU that has it"
#endif

#define CHAINS 12

/* FMAs per thread per round: about half a second at 3 GHz with 2 ports. */
static const long STEPS = 60000000L;

/* One thread's round; returns a value that depends on every chain, so the
 * compiler keeps them all. */
static float run_chains(void)
{
    vec acc[CHAINS];
    for (int i = 0; i < CHAINS; i++)
        acc[i] = SET1(0.001f * (float)i);
    const vec mul = SET1(0.999999f), add = SET1(1e-7f);
    for (long s = 0; s < STEPS; s++)
        for (int i = 0; i < CHAINS; i++)
            acc[i] = FMA(acc[i], mul, add);
    float sum = 0;
    for (int i = 0; i < CHAINS; i++)
        sum += LANE0(acc[i]);
    return sum;
}

int main(void)
{
    double best = 0;
    float sink = 0;
    int threads = omp_get_max_threads();
    for (int round = 0; round < 5; round++) {
        double slowest = 0;
#pragma omp parallel reduction(max : slowest) reduction(+ : sink)
        {
#pragma omp barrier
            double t0 = omp_get_wtime();
            sink += run_chains();
            slowest = omp_get_wtime() - t0;
        }
        double rate = 2.0 * LANES * CHAINS * (double)STEPS * threads / slowest / 1e9;
        printf("round %d: %.1f GFLOP/s\n", round + 1, rate);
        best = rate > best ? rate : best;
    }
    printf("%s float32 FMA peak, %d thread(s): %.1f GFLOP/s (best of 5; checksum %g)\n", ISA,
           threads, best, (double)sink);
    return 0;
}
