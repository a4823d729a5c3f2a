import { chromium } from '../../e2e/node_modules/playwright-core/index.mjs';
import { spawn } from 'node:child_process';
const server = spawn('' + (process.env.PROBE_BIN || 'target/debug/str0m-probe') + '', [], { stdio: ['ignore', 'pipe', 'inherit'] });
const url = await new Promise((r) => server.stdout.on('data', (d) => { const m = String(d).match(/listening (\S+)/); if (m) r(m[1]); }));
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox',
  '--use-fake-ui-for-media-stream', '--use-fake-device-for-media-stream', '--use-file-for-fake-audio-capture=' + (process.env.TONE || '/tmp/tone1800.wav') + '',
  '--autoplay-policy=no-user-gesture-required'] });
const page = await browser.newPage();
page.on('console', (m) => console.log('page:', m.text()));
await page.goto(url);
for (let i = 0; i < 20; i++) {
  await new Promise((r) => setTimeout(r, 500));
  const r = await page.evaluate(() => window.result);
  console.log(JSON.stringify(r));
}
await browser.close();
server.kill();
