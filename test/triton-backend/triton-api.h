// TEST CODE ONLY. msb's own declarations of the few entry points of Triton's C API that accept-all.cc uses, written
// by us from Triton's documented backend API (the backend guide and the function descriptions of tritonbackend.h /
// tritonserver.h in triton-inference-server/core), so that the test-only backend builds with nothing fetched: no
// PyPI wheel ships Triton's headers and CI can fetch nothing else. Not a copy of those headers: only what we call.
//
// ABI facts relied on (stable since TRITONBACKEND API 1.0): every object is an opaque pointer; every call returns
// a TRITONSERVER_Error* (null: success) that the caller owns; error codes are a C enum in the order UNKNOWN,
// INTERNAL, NOT_FOUND, INVALID_ARG, UNAVAILABLE, UNSUPPORTED, ALREADY_EXISTS; the final-response flag of
// TRITONBACKEND_ResponseSend and the release-all flag of TRITONBACKEND_RequestRelease are both 1. The symbols are
// left undefined here and resolve to the libtritonserver.so of the server that dlopens the backend.
#ifndef MSB_TEST_TRITON_API_H
#define MSB_TEST_TRITON_API_H

#include <cstdint>

#define TRITONBACKEND_DECLSPEC __attribute__((__visibility__("default")))

extern "C" {

struct TRITONSERVER_Error;
struct TRITONBACKEND_Backend;
struct TRITONBACKEND_ModelInstance;
struct TRITONBACKEND_Request;
struct TRITONBACKEND_Response;

enum TRITONSERVER_Error_Code {
  TRITONSERVER_ERROR_UNKNOWN,
  TRITONSERVER_ERROR_INTERNAL,
  TRITONSERVER_ERROR_NOT_FOUND,
  TRITONSERVER_ERROR_INVALID_ARG,
  TRITONSERVER_ERROR_UNAVAILABLE,
  TRITONSERVER_ERROR_UNSUPPORTED,
  TRITONSERVER_ERROR_ALREADY_EXISTS,
};

// The backend API major version this backend speaks; a server of another major refuses it (and it refuses them).
constexpr uint32_t MSB_TRITONBACKEND_API_MAJOR = 1;
constexpr uint32_t MSB_TRITONSERVER_RESPONSE_COMPLETE_FINAL = 1;
constexpr uint32_t MSB_TRITONSERVER_REQUEST_RELEASE_ALL = 1;

TRITONSERVER_Error* TRITONSERVER_ErrorNew(TRITONSERVER_Error_Code code, const char* msg);
void TRITONSERVER_ErrorDelete(TRITONSERVER_Error* error);
TRITONSERVER_Error* TRITONBACKEND_ApiVersion(uint32_t* major, uint32_t* minor);
TRITONSERVER_Error* TRITONBACKEND_ResponseNew(TRITONBACKEND_Response** response, TRITONBACKEND_Request* request);
TRITONSERVER_Error* TRITONBACKEND_ResponseSend(TRITONBACKEND_Response* response, uint32_t send_flags,
                                               TRITONSERVER_Error* error);
TRITONSERVER_Error* TRITONBACKEND_RequestRelease(TRITONBACKEND_Request* request, uint32_t release_flags);

}  // extern "C"

#endif  // MSB_TEST_TRITON_API_H
