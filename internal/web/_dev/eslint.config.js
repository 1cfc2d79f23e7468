// ESLint for the phone app: plain ES modules run by browsers as they are
// (no build step), the service worker, and these checks' own tests (Node).
// Run from internal/web: `_dev/node_modules/.bin/eslint -c _dev/eslint.config.js static root _dev`
// (scripts/test does).
import js from '@eslint/js';
import globals from 'globals';

export default [
  {ignores: ['_dev/node_modules/']},
  js.configs.recommended,
  {
    files: ['static/**/*.js'],
    languageOptions: {ecmaVersion: 2024, sourceType: 'module', globals: globals.browser},
  },
  {
    files: ['root/sw.js'],
    languageOptions: {ecmaVersion: 2024, sourceType: 'script', globals: globals.serviceworker},
  },
  {
    files: ['_dev/**/*.js'],
    languageOptions: {ecmaVersion: 2024, sourceType: 'module', globals: globals.node},
  },
  {
    rules: {
      // Event data must stay text: these would hand strings to a parser
      // or a compiler (the Go test TestScriptsUseNoHTMLOrCodeSinks agrees).
      'no-eval': 'error',
      'no-implied-eval': 'error',
      'no-new-func': 'error',
      'no-restricted-properties': ['error',
        {property: 'innerHTML', message: 'Event data must stay text: use dom.js h() with text or data.'},
        {property: 'outerHTML', message: 'Event data must stay text: use dom.js h() with text or data.'},
        {property: 'insertAdjacentHTML', message: 'Event data must stay text: use dom.js h().'},
        {object: 'document', property: 'write', message: 'Event data must stay text: use dom.js h().'}],
      'no-unused-vars': ['error', {args: 'after-used', caughtErrors: 'none'}],
      'no-var': 'error',
      'prefer-const': 'error',
      eqeqeq: ['error', 'always', {null: 'ignore'}],
      'no-shadow': 'error',
      'no-console': ['error', {allow: ['error']}],
    },
  },
];
