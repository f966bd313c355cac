/*
 * cpu.c - which GEMM micro-kernels this CPU and OS can run, and which one
 * is in use.
 *
 * An arch is usable when it was compiled in (FM_HAVE_AVX2 / FM_HAVE_AVX512,
 * set by the build on x86-64 only), the CPU reports the instructions
 * (CPUID) and the OS saves the wider registers on a context switch (XGETBV):
 * a CPU with AVX-512 under an OS that does not save ZMM state would corrupt
 * registers silently, so CPUID alone is not enough.
 */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <ctype.h>

#include "fastmlp.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define FM_X86 1
#endif

static const char *const arch_names[] = {"generic", "avx2", "avx512"};
#define N_ARCH 3

const char *fm_arch_name(int arch)
{
    if (arch < 0 || arch >= N_ARCH)
        return NULL;
    return arch_names[arch];
}

int fm_arch_compiled(int arch)
{
    switch (arch) {
    case FM_ARCH_GENERIC:
        return 1;
#ifdef FM_HAVE_AVX2
    case FM_ARCH_AVX2:
        return 1;
#endif
#ifdef FM_HAVE_AVX512
    case FM_ARCH_AVX512:
        return 1;
#endif
    default:
        return 0;
    }
}

#ifdef FM_X86
/* XCR0 bits the OS sets when it saves that register state. */
#define XCR0_SSE (1u << 1)
#define XCR0_YMM (1u << 2)
#define XCR0_OPMASK (1u << 5)
#define XCR0_ZMM_HI256 (1u << 6)
#define XCR0_HI16_ZMM (1u << 7)

static unsigned long long read_xcr0(void)
{
    unsigned lo, hi;
    /* The xgetbv opcode, spelled as bytes for assemblers that predate it. */
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

/* The CPU feature check, done once: bit FM_ARCH_* set when usable. */
static int detect_x86(void)
{
    unsigned eax, ebx, ecx, edx;
    int usable = 1 << FM_ARCH_GENERIC;

    if (__get_cpuid_max(0, NULL) < 7)
        return usable;
    __cpuid_count(1, 0, eax, ebx, ecx, edx);
    int fma = (ecx >> 12) & 1, osxsave = (ecx >> 27) & 1, avx = (ecx >> 28) & 1;
    if (!(osxsave && avx))
        return usable; /* XGETBV itself is not available without OSXSAVE */
    unsigned long long xcr0 = read_xcr0();
    int os_ymm = (xcr0 & (XCR0_SSE | XCR0_YMM)) == (XCR0_SSE | XCR0_YMM);
    unsigned zmm_bits = XCR0_SSE | XCR0_YMM | XCR0_OPMASK | XCR0_ZMM_HI256 | XCR0_HI16_ZMM;
    int os_zmm = (xcr0 & zmm_bits) == zmm_bits;

    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    int avx2 = (ebx >> 5) & 1;
    int avx512 = ((ebx >> 16) & 1)     /* F */
                 && ((ebx >> 17) & 1)  /* DQ */
                 && ((ebx >> 30) & 1)  /* BW */
                 && ((ebx >> 31) & 1); /* VL */

    if (os_ymm && avx2 && fma)
        usable |= 1 << FM_ARCH_AVX2;
    if (os_zmm && avx512 && avx2 && fma)
        usable |= 1 << FM_ARCH_AVX512;
    return usable;
}
#endif

static int usable_mask(void)
{
    static atomic_int mask = -1; /* -1: not yet detected */
    int m = atomic_load(&mask);
    if (m < 0) {
#ifdef FM_X86
        m = detect_x86();
#else
        m = 1 << FM_ARCH_GENERIC;
#endif
        atomic_store(&mask, m); /* racing callers store the same value */
    }
    return m;
}

int fm_arch_supported(int arch)
{
    if (arch < 0 || arch >= N_ARCH)
        return 0;
    return (usable_mask() >> arch) & 1;
}

static int usable(int arch)
{
    return fm_arch_compiled(arch) && fm_arch_supported(arch);
}

#define NOT_YET (-100)
static atomic_int selected = NOT_YET;
static atomic_int env_request = NOT_YET;

/* Parse FASTMLP_ARCH: -1 unset (or empty), -2 unknown, -3 unusable, else arch. */
static int read_env_request(void)
{
    const char *s = getenv("FASTMLP_ARCH");
    if (s == NULL)
        return -1;
    char name[16];
    size_t n = 0;
    for (; *s && n < sizeof name - 1; s++)
        if (!isspace((unsigned char)*s))
            name[n++] = (char)tolower((unsigned char)*s);
    name[n] = '\0';
    if (n == 0)
        return -1;
    for (int arch = 0; arch < N_ARCH; arch++)
        if (strcmp(name, arch_names[arch]) == 0)
            return usable(arch) ? arch : -3;
    return -2;
}

/* First use: the environment's choice if usable, else the best usable. */
static void init_selection(void)
{
    if (atomic_load(&selected) != NOT_YET)
        return;
    int request = read_env_request();
    int choice = FM_ARCH_GENERIC;
    if (request >= 0) {
        choice = request;
    } else {
        for (int arch = N_ARCH - 1; arch > 0; arch--)
            if (usable(arch)) {
                choice = arch;
                break;
            }
    }
    /* env_request before selected, so whoever sees selected set sees both. */
    atomic_store(&env_request, request);
    int expected = NOT_YET;
    atomic_compare_exchange_strong(&selected, &expected, choice);
}

int fm_arch_selected(void)
{
    init_selection();
    return atomic_load(&selected);
}

int fm_arch_select(int arch)
{
    init_selection();
    if (arch < 0 || arch >= N_ARCH || !usable(arch))
        return -1;
    atomic_store(&selected, arch);
    return 0;
}

int fm_arch_env_request(void)
{
    init_selection();
    return atomic_load(&env_request);
}
