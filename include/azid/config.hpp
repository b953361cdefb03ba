// azid/config.hpp: compile mode (header-only or separate compilation) and namespace macros.
#pragma once

// Header-only by default. Define AZID_SEPARATE_COMPILATION in every TU (CMake target
// azid::compiled does it) and compile <azid/src.hpp> in exactly one TU to build the
// heavy parts (Asio, OpenSSL, simdjson) once.
#if defined(AZID_SEPARATE_COMPILATION)
#define AZID_DECL
#else
#define AZID_HEADER_ONLY 1
#define AZID_DECL inline
#endif

#define AZID_VERSION_MAJOR 0
#define AZID_VERSION_MINOR 1
#define AZID_VERSION_PATCH 0
#define AZID_VERSION_STRING "0.1.0"

#define AZID_BEGIN \
  namespace azid { \
  inline namespace v1 {
#define AZID_END \
  }              \
  }
