/**
 * How long work (debootstrap, unpacking, copying) reports where it is. The
 * library only calls the function; a front-end decides whether and how to
 * show it (the CLI draws one line on a terminal's stderr).
 */
export type Progress = (step: string, fraction?: number) => void;

/** A progress sink that shows nothing. */
export const noProgress: Progress = () => {};
