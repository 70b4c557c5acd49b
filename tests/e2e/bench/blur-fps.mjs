// Benchmark, not a test: could background blur run in the browser here?
// Measures the only package found that ships a person-segmentation model
// (see docs/effects.md), which the app does not include: packs that exact
// version into a temporary folder, serves it on 127.0.0.1, and in headless
// Chromium with the fake camera at 640x360 counts for `--seconds` how many
// frames (a) the model segments, and (b) are segmented and drawn blurred
// behind the person on a canvas (mask, person, blurred frame). Prints
// frames per second as JSON. Needs the package manager and the network
// once (to pack); the page itself loads nothing from elsewhere.
//
//   node bench/blur-fps.mjs [--seconds 10] [--model landscape|general]

import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { parseArgs } from 'node:util';
import * as h from '../lib/harness.mjs';

const PACKAGE = '@mediapipe/selfie_segmentation@0.1.1675465747';
const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '10' }, model: { type: 'string', default: 'landscape' } },
});

const PAGE = `<!doctype html><title>blur</title><video id=v muted playsinline></video><canvas id=c width=640 height=360></canvas>
<script src="package/selfie_segmentation.js"></script>`;

/** Runs in the page: frames per second over `seconds`, with or without drawing. */
async function measure({ seconds, model, draw }) {
  const video = document.getElementById('v');
  if (!video.srcObject) {
    video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 360, frameRate: 30 } });
    await video.play();
  }
  const g = document.getElementById('c').getContext('2d');
  const segmenter = new window.SelfieSegmentation({ locateFile: (file) => `package/${file}` });
  segmenter.setOptions({ modelSelection: model === 'landscape' ? 1 : 0 });
  let frames = 0;
  segmenter.onResults(({ segmentationMask, image }) => {
    frames += 1;
    if (!draw) return;
    g.save();
    g.clearRect(0, 0, 640, 360);
    g.drawImage(segmentationMask, 0, 0, 640, 360);
    g.globalCompositeOperation = 'source-in';
    g.drawImage(image, 0, 0, 640, 360);
    g.globalCompositeOperation = 'destination-over';
    g.filter = 'blur(8px)';
    g.drawImage(image, 0, 0, 640, 360);
    g.restore();
  });
  await segmenter.initialize();
  await segmenter.send({ image: video }); // the first frame compiles and loads
  frames = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) await segmenter.send({ image: video });
  const elapsed = (performance.now() - start) / 1000;
  await segmenter.close();
  return { fps: Math.round((frames / elapsed) * 10) / 10, size: `${video.videoWidth}x${video.videoHeight}` };
}

const dir = mkdtempSync(join(tmpdir(), 'parlor-blur-'));
const cleanup = new h.Cleanup();
cleanup.add(() => rmSync(dir, { recursive: true, force: true }));
try {
  const tarball = execFileSync('npm', ['pack', PACKAGE, '--silent'], { cwd: dir, encoding: 'utf8' }).trim().split('\n').pop();
  execFileSync('tar', ['xzf', tarball], { cwd: dir });
  writeFileSync(join(dir, 'index.html'), PAGE);
  const types = { '.html': 'text/html', '.js': 'text/javascript', '.wasm': 'application/wasm' };
  const server = createServer((request, response) => {
    const path = normalize(decodeURIComponent(new URL(request.url, 'http://x').pathname)).replace(/^(\.\.[/\\])+/, '');
    try {
      const body = readFileSync(join(dir, path));
      response.writeHead(200, { 'content-type': types[extname(path)] ?? 'application/octet-stream' });
      response.end(body);
    } catch {
      response.writeHead(404).end();
    }
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanup.add(() => server.close());
  const url = `http://127.0.0.1:${server.address().port}/index.html`;
  const browser = await h.launchChromium(cleanup, { origin: url });
  const page = await browser.newPage();
  await h.open(page, url);
  const options = { seconds: Number(values.seconds), model: values.model };
  const segmented = await page.evaluate(measure, { ...options, draw: false });
  const blurred = await page.evaluate(measure, { ...options, draw: true });
  const webgl = await page.evaluate(() => document.createElement('canvas').getContext('webgl2')?.getParameter(0x1f01) ?? 'none');
  console.log(JSON.stringify({ package: PACKAGE, model: values.model, ...options, size: segmented.size, segmentedFps: segmented.fps, blurredFps: blurred.fps, webgl }));
} finally {
  await cleanup.run();
}
