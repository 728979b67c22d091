/** PostgreSQL for the tests: see src/store/test-postgres.ts (LABCOAT_TEST_PG from .ci/run, or a throwaway cluster). */
export { testPostgres as postgres, type TestPostgres, type PostgresAvailability } from '../src/store/test-postgres.js';
