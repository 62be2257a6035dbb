import type { Command } from 'commander';

/**
 * `--triton RELEASE` (and `--gpus CC,…`) as every command that checks against a Triton release takes them. The
 * release module loads in the actions, never here: `msb --help` stays light.
 */
export function addReleaseOptions(command: Command, options: { gpus?: boolean } = {}): Command {
  command.option(
    '--triton <release>',
    "Triton release (e.g. 25.01) to check against; default $MSB_TRITON_RELEASE, else the store's (msb init --triton)",
  );
  if (options.gpus ?? true) {
    command.option(
      '--gpus <ccs>',
      "the fleet's compute capabilities (e.g. 8.0,8.6,8.9): each needs a plan it can load",
    );
  }
  return command;
}

/** The release named in the environment (empty counts as unset); the flag wins over it, the store's default loses. */
export function tritonFromEnv(): string | undefined {
  return process.env.MSB_TRITON_RELEASE || undefined;
}

/** `--gpus` parsed (`MSB_RELEASE_BAD_GPUS` when malformed), or undefined. */
export async function parseGpusOption(text: string | undefined): Promise<string[] | undefined> {
  if (text === undefined) return undefined;
  const { parseComputeCapabilities } = await import('../release/index.js');
  return parseComputeCapabilities(text);
}
