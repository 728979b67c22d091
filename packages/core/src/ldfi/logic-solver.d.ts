/**
 * Minimal typings for `logic-solver` 2.0.1 (Meteor's MiniSat compiled to JavaScript), which ships
 * none. Only what `sat-hitting-sets.ts` uses is declared. A term is a variable name, `"-name"` for
 * its negation (names must not start with `$` or look like numbers); formulas become clauses when
 * required.
 */
declare module 'logic-solver' {
  namespace Logic {
    type Term = string | number;
    interface Formula {
      readonly __formula: never;
    }
    type FormulaOrTerm = Formula | Term;
    class Solution {
      /** Names of the variables assigned true, sorted; internal (`$`) variables excluded. */
      getTrueVars(): string[];
    }
    class Solver {
      constructor();
      require(...formulas: (FormulaOrTerm | readonly FormulaOrTerm[])[]): void;
      /** A model, or null when unsatisfiable. */
      solve(): Solution | null;
      /** A model with `formula` assumed true for this call only, or null. */
      solveAssuming(formula: FormulaOrTerm): Solution | null;
    }
    function or(...operands: (FormulaOrTerm | readonly FormulaOrTerm[])[]): Formula;
    /** Runs `f` with the library's argument type checks off (they dominate the cost of big formulas). */
    function disablingAssertions<T>(f: () => T): T;
  }
  export = Logic;
}
