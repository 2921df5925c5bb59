/**
 * Collects the undo step of every completed step of a multi-step change and
 * runs them in reverse order when the change fails. Undo steps must be
 * idempotent and must not throw (failures are collected, not raised, so one
 * failed undo does not stop the others).
 */
export class Reverter {
  private readonly undos: { what: string; fn: () => void | Promise<void> }[] = [];
  readonly failures: string[] = [];

  add(what: string, fn: () => void | Promise<void>): void {
    this.undos.push({ what, fn });
  }

  /** Forget every undo step: the change succeeded. */
  success(): void {
    this.undos.length = 0;
  }

  async revert(): Promise<void> {
    while (this.undos.length > 0) {
      const step = this.undos.pop();
      if (!step) break;
      try {
        await step.fn();
      } catch (err) {
        this.failures.push(
          `undo ${step.what}: ${err instanceof Error ? err.message : String(err)}`,
        );
      }
    }
  }
}
