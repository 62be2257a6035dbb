/**
 * Triton model configuration: the `inference.ModelConfig` schema, its protobuf text format (config.pbtxt) and JSON
 * mapping. A ModelConfig is a plain object (see `model-config.ts` for its conventions); parse and print are exact
 * inverses on canonical text and agree with protobuf's reference implementation.
 */
import { messageFromJson, messageToJson } from './json.js';
import type { ModelConfig } from './model-config.js';
import { modelConfigType } from './schema.js';
import type { ConfigComments } from './textformat/comments.js';
import { parseTextFormat } from './textformat/parser.js';
import { printTextFormat } from './textformat/printer.js';

export {
  CONFIG_ERROR_RETRYABLE,
  type ConfigErrorCode,
  TEXTFORMAT_ERROR_RETRYABLE,
  TextFormatError,
  type TextFormatErrorCode,
} from './errors.js';
export * from './generate.js';
export * from './model-check.js';
export * from './model-config.js';
export { loadProto, modelConfigProtoPath } from './schema.js';
export type { ConfigComments, FieldComments } from './textformat/comments.js';
export * from './validate.js';

/**
 * Parses config.pbtxt text. Throws `TextFormatError` (with line, column and field path) on any problem. With
 * `comments` (an empty map), the text's comments are added to it by field path, for `printModelConfig` to put back.
 */
export function parseModelConfig(
  text: string,
  options: { source?: string; comments?: ConfigComments } = {},
): ModelConfig {
  return parseTextFormat(modelConfigType(), text, options) as ModelConfig;
}

/**
 * Prints a config canonically, exactly as protobuf's own text printer does. Throws `TextFormatError` when the object
 * does not fit the schema (unknown key, wrong type, out-of-range number, two members of one oneof).
 */
export function printModelConfig(config: ModelConfig, options: { comments?: ConfigComments } = {}): string {
  return printTextFormat(modelConfigType(), config as Record<string, unknown>, options.comments);
}

/** The protobuf JSON mapping of a config (int64 as strings, enums by name, defaults left out). */
export function modelConfigToJson(config: ModelConfig): Record<string, unknown> {
  return messageToJson(modelConfigType(), config as Record<string, unknown>);
}

/** Reads a config from its protobuf JSON mapping; accepts proto field names and lowerCamelCase keys. */
export function modelConfigFromJson(json: unknown): ModelConfig {
  return messageFromJson(modelConfigType(), json) as ModelConfig;
}
