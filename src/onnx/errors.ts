import { MsbError } from '../errors.js';

/**
 * An ONNX rewrite or an ONNX Runtime run failed. Codes: `MSB_ONNX_RUNTIME_MISSING` (the optional onnxruntime-node
 * package is not installed), `MSB_ONNX_RUNTIME_FAILED` (ONNX Runtime could not load or run a model; the message is
 * ONNX Runtime's own), `MSB_ONNX_BAD_OPTION`, `MSB_ONNX_BAD_INPUTS` (an inputs/calibration file that does not fit the
 * model), `MSB_ONNX_OPSET_TOO_OLD`, `MSB_ONNX_UNSUPPORTED` (a model this rewrite cannot handle), `MSB_ONNX_OUTPUT`
 * (the output cannot be written). `details.path` names the file where there is one.
 */
export class OnnxError extends MsbError {}
