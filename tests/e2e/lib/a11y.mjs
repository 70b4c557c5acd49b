// Accessibility checks: axe-core run inside the page, on whatever screen is
// showing. Zero violations is the bar (WCAG 2.1 A and AA rules, as axe
// tags them), so a change that breaks contrast or structure fails a test.

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

// Evaluated through the debugging protocol, which the page's Content
// Security Policy (rightly) does not let a script tag do.
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');

/**
 * Runs axe on the page as it is now; resolves to the violations, each as
 * "rule: what (selector, ...)" for a readable assertion message.
 */
export async function axeViolations(page) {
  if (!(await page.evaluate(() => Boolean(window.axe)))) await page.evaluate(AXE_SOURCE);
  // Colours caught halfway through a transition are not the page's colours
  // (bars that follow the sound move all the time but change no colour).
  await page.waitForFunction(() =>
    document.getAnimations().every((a) => {
      if (a.playState !== 'running' || a.effect?.getComputedTiming().iterations === Infinity) return true;
      const properties = a.transitionProperty ? [a.transitionProperty] : a.effect.getKeyframes().flatMap(Object.keys);
      return !properties.some((name) => /color|background|opacity|filter/i.test(name));
    }),
  );
  const violations = await page.evaluate(async () => {
    const result = await window.axe.run(document, {
      runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa', 'best-practice'] },
      resultTypes: ['violations'],
    });
    return result.violations.map((v) => ({
      id: v.id,
      help: v.help,
      targets: v.nodes.slice(0, 5).map((node) => `${node.target.join(' ')}${node.failureSummary ? ` [${node.failureSummary.split('\n').slice(1).join(' ').trim()}]` : ''}`),
    }));
  });
  return violations.map((v) => `${v.id}: ${v.help} (${v.targets.join('; ')})`);
}

/** Asserts that axe finds nothing on `page` as it is now; `where` names the screen. */
export async function assertAccessible(page, where) {
  const violations = await axeViolations(page);
  assert.deepEqual(violations, [], `${page.label}, ${where}:\n${violations.join('\n')}`);
}
