import { cleanup } from '@testing-library/react';
import { afterEach, vi } from 'vitest';

/**
 * Unit tests never reach a server: a WebSocket that stays connecting, never opens and never
 * fails. jsdom's own would try ws://localhost:3000 whenever a signed-in view connects, and
 * its failure would surface as an unhandled error after the test that caused it. Assigned,
 * not stubbed, so that `vi.unstubAllGlobals()` in a test file restores this one.
 */
class InertWebSocket {
  static readonly CONNECTING = 0;
  static readonly OPEN = 1;
  static readonly CLOSING = 2;
  static readonly CLOSED = 3;
  readonly url: string;
  readonly protocol = '';
  readyState = InertWebSocket.CONNECTING;
  onopen: unknown = null;
  onclose: unknown = null;
  onerror: unknown = null;
  onmessage: unknown = null;
  constructor(url: string | URL) {
    this.url = String(url);
  }
  send() {}
  close() {
    this.readyState = InertWebSocket.CLOSED;
  }
  addEventListener() {}
  removeEventListener() {}
}
globalThis.WebSocket = InertWebSocket as unknown as typeof WebSocket;

/**
 * jsdom has no canvas, so uPlot cannot draw there. A stand-in keeps what a chart was given
 * on its element (`data-points`: the number of points), for tests to read.
 */
vi.mock('uplot', () => ({
  default: class FakePlot {
    private readonly el: HTMLElement;
    constructor(_options: unknown, data: unknown[][], el: HTMLElement) {
      this.el = el;
      this.setData(data);
    }
    setData(data: unknown[][]) {
      this.el.dataset.points = String(data[0]?.length ?? 0);
    }
    setSize() {}
    destroy() {
      delete this.el.dataset.points;
    }
  },
}));

afterEach(() => {
  cleanup();
  window.sessionStorage.clear();
  window.localStorage.clear();
});
