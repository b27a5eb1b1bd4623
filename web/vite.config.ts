/// <reference types="vitest/config" />
import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// The API serves dist/ at "/": index.html for the app's own paths, /assets/* as files.
export default defineConfig({
  base: "/",
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsDir: "assets",
    // Never inline assets into data: URLs or the page: everything is a file under /assets,
    // so a strict Content-Security-Policy needs no exceptions.
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2020",
  },
  server: {
    // `npx vite` in development: the API on its default port answers /api, /readyz.
    proxy: {
      "/api": "http://127.0.0.1:8000",
      "/readyz": "http://127.0.0.1:8000",
    },
  },
  test: {
    environment: "jsdom",
    globals: true,
    setupFiles: ["./src/test/setup.ts"],
    css: false,
    pool: "threads",
    maxWorkers: 1,
  },
});
