/*
 * `pnpm diagram`: renders docs/architecture.mmd to docs/images/architecture.svg
 * with Mermaid (the npm package's own bundle) in Debian's Chromium, driven by
 * playwright-core: no browser download, no network.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { CHROMIUM_PATH, launchChromium } from '@vouchflow/test-support/chromium';

const ROOT = resolve(import.meta.dirname, '..');

if (!existsSync(CHROMIUM_PATH)) {
  console.error(`${CHROMIUM_PATH} is not installed: apt-get install chromium`);
  process.exit(2);
}
const source = readFileSync(join(ROOT, 'docs', 'architecture.mmd'), 'utf8');
const mermaidJs = createRequire(join(ROOT, 'package.json')).resolve('mermaid/dist/mermaid.min.js');

const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.setContent('<!doctype html><html><body></body></html>');
  await page.addScriptTag({ path: mermaidJs });
  const svg = await page.evaluate(async (text) => {
    const { mermaid } = globalThis as unknown as {
      mermaid: { initialize(o: object): void; render(id: string, text: string): Promise<{ svg: string }> };
    };
    // htmlLabels off: plain SVG text renders the same outside a browser (GitHub's image proxy, viewers).
    mermaid.initialize({ startOnLoad: false, theme: 'default', flowchart: { htmlLabels: false }, securityLevel: 'strict' });
    const { svg: html } = await mermaid.render('architecture', text);
    // Mermaid's string is HTML (labels hold <br>); through the DOM it becomes well-formed XML, which an .svg file must be.
    const dom = globalThis as unknown as {
      document: { createElement(tag: string): { innerHTML: string; querySelector(selector: string): unknown } };
      XMLSerializer: new () => { serializeToString(node: unknown): string };
    };
    const holder = dom.document.createElement('div');
    holder.innerHTML = html;
    return new dom.XMLSerializer().serializeToString(holder.querySelector('svg'));
  }, source);
  const out = join(ROOT, 'docs', 'images', 'architecture.svg');
  writeFileSync(out, `${svg}\n`);
  console.log(`wrote ${out} (${svg.length} bytes)`);
} finally {
  await browser.close();
}
