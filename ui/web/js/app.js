// Entry point: the header (read-only badge or the token field for actions) and the router.
import { meta, setToken, token } from './api.js';
import { h, clear, field } from './dom.js';
import { start } from './router.js';

async function header() {
  const m = await meta();
  const slot = document.getElementById('mode');
  if (m.actions) {
    const input = h('input', { id: 'token', type: 'password', autocomplete: 'off', size: 14,
      placeholder: 'LLMOPS_UI_TOKEN', value: token() });
    input.addEventListener('change', () => setToken(input.value.trim()));
    clear(slot, field('Token', input));
  } else {
    clear(slot, h('span.pill', { title: 'Actions are off: start `llmops ui` with LLMOPS_UI_TOKEN set to enable them' },
      'read-only'));
  }
  if (m.version) document.querySelector('.brand').title = `llmops ${m.version} · ${m.home || ''}`;
}

header();
start();
