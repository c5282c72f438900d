import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "src/gen/**", "coverage/**", "test-artifacts/**", "**/*.js", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    // Type-aware rules: the project's own tsconfig, found per file.
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/no-misused-promises": "error",
      "@typescript-eslint/await-thenable": "error",
      "no-console": "error",
    },
  },
  {
    // The dashboard's browser script has its own project (DOM library, ES modules).
    files: ["src/http/dashboard/app.ts"],
    languageOptions: {
      parserOptions: {
        projectService: false,
        project: "./tsconfig.dashboard.json",
        tsconfigRootDir: import.meta.dirname,
      },
    },
  },
);
