# The GPU-only build (TRELLIS_GPU_ONLY=ON, included by the top-level CMakeLists.txt): the
# trainer, trellis_nccl and the GPU bench, for a machine with a CUDA LibTorch and CMake but no
# MPI, no CLI11 and maybe no pkg-config. nlohmann_json, OpenSSL and utf8proc are looked up in
# CMAKE_PREFIX_PATH first (bench/gpu/run.sh puts the gpu-bundle/ of make_bundle.sh there and sets
# OPENSSL_ROOT_DIR and OPENSSL_USE_STATIC_LIBS). Fails unless LibTorch has CUDA and NCCL is found.
add_compile_options(-Wall -Wextra -Wno-unused-parameter)

find_package(nlohmann_json 3.10 REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(Threads REQUIRED)
# utf8proc without pkg-config, as the imported target the trainer links.
find_path(UTF8PROC_INCLUDE_DIR utf8proc.h)
find_library(UTF8PROC_LIBRARY NAMES libutf8proc.a utf8proc)
if(NOT UTF8PROC_INCLUDE_DIR OR NOT UTF8PROC_LIBRARY)
  message(FATAL_ERROR "utf8proc not found (utf8proc.h: ${UTF8PROC_INCLUDE_DIR}, library: ${UTF8PROC_LIBRARY}); "
                      "put gpu-bundle/ (bench/gpu/make_bundle.sh) on CMAKE_PREFIX_PATH")
endif()
add_library(PkgConfig::UTF8PROC UNKNOWN IMPORTED)
set_target_properties(PkgConfig::UTF8PROC PROPERTIES IMPORTED_LOCATION "${UTF8PROC_LIBRARY}"
                                                     INTERFACE_INCLUDE_DIRECTORIES "${UTF8PROC_INCLUDE_DIR}")

find_package(Torch REQUIRED)
if(NOT TARGET torch_cuda)
  message(FATAL_ERROR "TRELLIS_GPU_ONLY: the LibTorch at ${TORCH_INSTALL_PREFIX} has no CUDA; "
                      "the GPU bench needs a CUDA build of torch")
endif()
list(FILTER TORCH_LIBRARIES EXCLUDE REGEX "-NOTFOUND$")  # see the top-level CMakeLists.txt

add_subdirectory(trainer)
add_subdirectory(worker/nccl)
if(NOT TARGET trellis_nccl)
  message(FATAL_ERROR "TRELLIS_GPU_ONLY: trellis_nccl is not built (see its message above)")
endif()
add_subdirectory(bench/gpu)
