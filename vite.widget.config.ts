// The embeddable widget as one script: `npx vite build --config vite.widget.config.ts` writes
// dist/widget/virtlab-widget.js (the <virt-lab> custom element) and the engine Worker beside it
// in dist/widget/assets/. The images are those of the main build (dist/images/, one level up);
// docs/embedding.md explains how to host them.
import { defineConfig } from "vite";

export default defineConfig({
  publicDir: false,
  worker: { format: "es" },
  build: {
    target: "es2022",
    outDir: "dist/widget",
    emptyOutDir: true,
    lib: {
      entry: "src/ui/widget.ts",
      formats: ["es"],
      fileName: () => "virtlab-widget.js",
    },
  },
});
