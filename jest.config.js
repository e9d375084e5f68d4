// Nest 12 ships ESM only, so jest runs in ESM mode (see the "test" script).
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.spec.ts', '**/*.e2e-spec.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleNameMapper: {
    // The sample imports the library by its package name, as a customer would;
    // in tests that name points at the sources.
    '^nestjs-alectio$': '<rootDir>/src/index.ts',
    '^nestjs-alectio/simulator$': '<rootDir>/src/simulator/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  transform: {
    '^.+\\.ts$': ['ts-jest', { useESM: true, tsconfig: 'tsconfig.json' }],
  },
  reporters: ['default', '<rootDir>/test/summary.reporter.js'],
  testTimeout: 60000,
};
