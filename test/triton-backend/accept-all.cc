// A test-only Triton backend: TEST CODE ONLY, never shipped (docs/triton.md "Backends the PyPI server lacks"). The
// Triton from PyPI (nvidia-pytriton) has only the Python backend, and Triton's core looks the backend up before it
// runs its model checks that need one (instance groups, Model::Init's config and I/O checks). build.sh installs this
// one library under the names onnxruntime, tensorrt, pytorch, tensorflow and openvino (or the names it is given), so
// that a model of any platform msb writes gets through every check of Triton's core and becomes READY. It adds
// nothing to the config (no auto-complete), accepts every model and instance, and answers every request with an
// empty response: it never infers.
//
// Built against triton-api.h: msb's own declarations of the handful of Triton C API calls used here (nothing fetched).
// Only TRITONBACKEND_ModelInstanceExecute is required of a backend (core src/backend_manager.cc); the others are
// optional and left out, so the core's own defaults apply.
#include "triton-api.h"

extern "C" {

// The server must speak the backend API's major version 1 (every call used here exists since 1.0).
TRITONBACKEND_DECLSPEC TRITONSERVER_Error* TRITONBACKEND_Initialize(TRITONBACKEND_Backend*) {
  uint32_t major = 0, minor = 0;
  if (TRITONSERVER_Error* err = TRITONBACKEND_ApiVersion(&major, &minor)) return err;
  if (major != MSB_TRITONBACKEND_API_MAJOR) {
    return TRITONSERVER_ErrorNew(TRITONSERVER_ERROR_UNSUPPORTED,
                                 "test-only backend: the server speaks another TRITONBACKEND API major version");
  }
  return nullptr;
}

TRITONBACKEND_DECLSPEC TRITONSERVER_Error* TRITONBACKEND_ModelInstanceExecute(TRITONBACKEND_ModelInstance*,
                                                                              TRITONBACKEND_Request** requests,
                                                                              const uint32_t count) {
  for (uint32_t i = 0; i < count; ++i) {
    // An empty, successful final response: a model's warmup samples (model_warmup) run at load and must succeed,
    // and decoupled models need the final flag.
    TRITONBACKEND_Response* response = nullptr;
    if (TRITONSERVER_Error* err = TRITONBACKEND_ResponseNew(&response, requests[i])) {
      TRITONSERVER_ErrorDelete(err);
    } else if (TRITONSERVER_Error* sent =
                   TRITONBACKEND_ResponseSend(response, MSB_TRITONSERVER_RESPONSE_COMPLETE_FINAL, nullptr)) {
      TRITONSERVER_ErrorDelete(sent);
    }
    // The backend owns each request it was given and must release it (tritonbackend.h).
    if (TRITONSERVER_Error* err = TRITONBACKEND_RequestRelease(requests[i], MSB_TRITONSERVER_REQUEST_RELEASE_ALL)) {
      TRITONSERVER_ErrorDelete(err);
    }
  }
  return nullptr;
}

}  // extern "C"
