import type { NativeEvent } from './native.js';

/** One progress report of a build; TensorRT's phases nest (a phase may run inside a parent phase). */
export interface BuildProgress {
  /** TensorRT's name of the phase that changed (names and their nesting may change between TensorRT versions). */
  phase: string;
  parentPhase?: string;
  /** Steps of `phase` completed so far. */
  step: number;
  steps: number;
  /** Overall progress of the outermost running phase, nested phases counted as fractions of their parent's step. */
  percent: number;
}

interface Phase {
  name: string;
  parent?: Phase;
  steps: number;
  done: number;
  child?: Phase;
}

/**
 * Turns TensorRT's IProgressMonitor callbacks (phaseStart / stepComplete with a 0-based step / phaseFinish) into
 * {@link BuildProgress} reports.
 */
export class ProgressTracker {
  private readonly phases = new Map<string, Phase>();
  private root: Phase | undefined;

  /** Applies one event; returns the report to pass on, or undefined for events that are not progress. */
  update(event: NativeEvent): BuildProgress | undefined {
    if (event.type === 'log') return undefined;
    let phase = this.phases.get(event.phase);
    if (event.type === 'start') {
      const parent = event.parent === undefined ? undefined : this.phases.get(event.parent);
      phase = { name: event.phase, parent, steps: Math.max(0, event.steps), done: 0 };
      this.phases.set(event.phase, phase);
      if (parent) parent.child = phase;
      else this.root = phase;
    } else if (!phase) {
      return undefined;
    } else if (event.type === 'step') {
      phase.done = Math.min(phase.steps, event.step + 1);
      // The finished step contains its nested phases: they no longer add a fraction of the next one.
      phase.child = undefined;
    } else {
      phase.done = phase.steps;
      // Stays its parent's child (counted as complete) until the parent's step completes, so percent never drops.
      this.phases.delete(event.phase);
    }
    const report: BuildProgress = { phase: phase.name, step: phase.done, steps: phase.steps, percent: this.percent() };
    if (phase.parent) report.parentPhase = phase.parent.name;
    return report;
  }

  private percent(): number {
    const fraction = (p: Phase | undefined): number => {
      if (!p) return 0;
      if (p.steps === 0) return p.done === p.steps && !this.phases.has(p.name) ? 1 : 0;
      return Math.min(1, (p.done + (p.done < p.steps ? fraction(p.child) : 0)) / p.steps);
    };
    return Math.round(fraction(this.root) * 1000) / 10;
  }
}
