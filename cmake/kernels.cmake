# The C kernels as one static library, fm_kernels, with every file's flags:
# included by the top-level CMakeLists.txt (the Python extension) and by
# tests/c/CMakeLists.txt (tests/c/paths_agree, a C-only check), so both
# compile the very same objects. FM_ROOT is the repository root;
# FM_STATIC_LINK ON when the consumer links statically. Links OpenMP when it
# is found, and libm.

if(NOT CMAKE_BUILD_TYPE)
  set(CMAKE_BUILD_TYPE Release)
endif()
set(CMAKE_C_STANDARD 11)
set(CMAKE_C_STANDARD_REQUIRED ON)
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
find_package(OpenMP COMPONENTS C)
# -O3 everywhere; never -march=native: one wheel must run on any x86-64.
# -fno-math-errno lets sqrt/exp inline; we do not use -ffast-math, so NaN and
# inf keep their IEEE meaning and results match the NumPy reference.
set(FM_COMMON_FLAGS -O3 -fno-math-errno -Wall -Wextra)
set(FM_CSRC ${FM_ROOT}/csrc)

# The portable code: loops, packing, elementwise, losses, optimizers.
add_library(fm_kernels STATIC
  ${FM_CSRC}/cpu.c ${FM_CSRC}/threads.c ${FM_CSRC}/gemm.c ${FM_CSRC}/gemm_generic.c
  ${FM_CSRC}/elementwise.c ${FM_CSRC}/loss.c ${FM_CSRC}/optim.c ${FM_CSRC}/train.c
  ${FM_CSRC}/finite.c)
set(fm_kernel_targets fm_kernels)

# Micro-kernels compiled with their own ISA flags only, as OBJECT libraries;
# cpu.c picks one at run time from CPUID + XGETBV.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64|amd64|i686)$")
  add_library(fm_avx2 OBJECT
    ${FM_CSRC}/gemm_avx2.c ${FM_CSRC}/optim_avx2.c ${FM_CSRC}/elementwise_avx2.c)
  target_compile_options(fm_avx2 PRIVATE -mavx2 -mfma)
  add_library(fm_avx512 OBJECT ${FM_CSRC}/gemm_avx512.c ${FM_CSRC}/optim_avx512.c)
  target_compile_options(fm_avx512 PRIVATE
    -mavx512f -mavx512dq -mavx512bw -mavx512vl -mavx2 -mfma)
  target_sources(fm_kernels PRIVATE $<TARGET_OBJECTS:fm_avx2> $<TARGET_OBJECTS:fm_avx512>)
  target_compile_definitions(fm_kernels PRIVATE FM_HAVE_AVX2=1 FM_HAVE_AVX512=1)
  list(APPEND fm_kernel_targets fm_avx2 fm_avx512)
endif()

# as a list: a multi-word flag (-Xclang -fopenmp) must stay two arguments
separate_arguments(fm_openmp_flags UNIX_COMMAND "${OpenMP_C_FLAGS}")
foreach(t ${fm_kernel_targets})
  target_include_directories(${t} PRIVATE ${FM_CSRC})
  target_compile_options(${t} PRIVATE ${FM_COMMON_FLAGS})
  if(OpenMP_C_FOUND AND FM_STATIC_LINK)
    target_compile_options(${t} PRIVATE ${fm_openmp_flags})
  elseif(OpenMP_C_FOUND)
    target_link_libraries(${t} PRIVATE OpenMP::OpenMP_C)
  endif()
endforeach()
target_compile_definitions(fm_kernels PRIVATE
  FM_COMPILER_ID="${CMAKE_C_COMPILER_ID} ${CMAKE_C_COMPILER_VERSION}")
if(OpenMP_C_FOUND AND FM_STATIC_LINK)
  # tests/c links statically: -fopenmp then takes libgomp.a, where the
  # imported target (above too) would name libgomp.so
  target_link_options(fm_kernels INTERFACE ${fm_openmp_flags})
elseif(OpenMP_C_FOUND)
  target_link_libraries(fm_kernels PUBLIC OpenMP::OpenMP_C)
else()
  message(WARNING "OpenMP not found: fastmlp will run single-threaded")
endif()
# libm explicitly: the kernels call exp/log/tanh, and must not rely on
# Python having loaded libm already.
find_library(FM_LIBM m)
if(FM_LIBM)
  target_link_libraries(fm_kernels PUBLIC ${FM_LIBM})
endif()

# The optimizers' loops are built once per SIMD path (csrc/optim_ranges.h)
# and must round exactly alike: no multiply and add fused into an FMA behind
# our back, which the AVX2/AVX-512 builds (and gcc on aarch64) would do.
# The same holds for the activation loops (csrc/elementwise_loops.h).
set_source_files_properties(${FM_CSRC}/optim.c ${FM_CSRC}/optim_avx2.c
  ${FM_CSRC}/optim_avx512.c ${FM_CSRC}/elementwise.c ${FM_CSRC}/elementwise_avx2.c
  PROPERTIES COMPILE_OPTIONS "-ffp-contract=off")
