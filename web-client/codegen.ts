// Operation types come from the server's committed SDL, so a schema change that breaks an
// operation in src/ fails `npm run codegen` (and so `npm run build` and `npm test`).
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../schema.graphql',
  documents: [
    'src/**/*.{ts,tsx}',
    '!src/gql/**',
    '!src/**/*.test.{ts,tsx}',
  ],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: { fragmentMasking: false },
      config: {
        enumsAsTypes: true,
        useTypeImports: true,
        strictScalars: true,
        scalars: { Date: 'string', DateTime: 'string' },
        skipTypename: true,
      },
    },
  },
  silent: false,
  errorsOnly: true,
};

export default config;
