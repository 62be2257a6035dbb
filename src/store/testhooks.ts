/**
 * Crash-test hook. When the environment variable `MSB_STORE_TEST_PAUSE` names a step (e.g. `version-staged`), the
 * process writes `msb-store-paused:<step>` to stderr when it reaches that step and then waits forever, so a test can
 * SIGKILL it at exactly that point. Unset (always, outside tests), it costs one string comparison.
 * Steps: `lock-acquired`, `model-staged`, `model-renamed`, `version-staged`, `version-renamed`, `config-temp-written`,
 * `labels-written`, `tree-moved-out`.
 */
export async function pausePoint(step: string): Promise<void> {
  if (process.env.MSB_STORE_TEST_PAUSE !== step) return;
  process.stderr.write(`msb-store-paused:${step}\n`);
  await new Promise<never>(() => setInterval(() => {}, 60_000));
}
