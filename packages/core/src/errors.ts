/**
 * Raised when input from outside (a header, a plan, an option) is not acceptable.
 * The message says what was wrong, where, and what to do, so callers can show it as is.
 */
export class LabcoatInputError extends Error {
  override readonly name = 'LabcoatInputError';
  /** Where the bad input was found, e.g. `plan.rules[2].fault.status`. */
  readonly where: string;
  constructor(where: string, message: string) {
    super(`${where}: ${message}`);
    this.where = where;
  }
}
