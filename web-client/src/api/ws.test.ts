import { describe, expect, it, vi } from 'vitest';
import { createConnectionMonitor, graphqlWsUrl, onReconnected, retryDelayMs } from './ws';

describe('WebSocket connection', () => {
  it('derives the endpoint from the page location', () => {
    expect(graphqlWsUrl({ protocol: 'http:', host: '127.0.0.1:8080' })).toBe('ws://127.0.0.1:8080/graphql/ws');
    expect(graphqlWsUrl({ protocol: 'https:', host: 'techconf.example.org' })).toBe('wss://techconf.example.org/graphql/ws');
  });

  it('backs off exponentially up to ten seconds between reconnections', () => {
    const noJitter = () => 0;
    expect([0, 1, 2, 3, 4, 10].map((n) => retryDelayMs(n, noJitter))).toEqual([1000, 2000, 4000, 8000, 10000, 10000]);
    expect(retryDelayMs(0, () => 0.999)).toBeLessThan(1500);
  });

  it('tells listeners about state changes, once per change', () => {
    const monitor = createConnectionMonitor();
    const listener = vi.fn();
    const stop = monitor.subscribe(listener);
    monitor.set({ state: 'connecting', retries: 0 });
    monitor.set({ state: 'connecting', retries: 0 });
    monitor.set({ state: 'connected', retries: 0 });
    expect(listener).toHaveBeenCalledTimes(2);
    expect(monitor.get().state).toBe('connected');
    stop();
    monitor.set({ state: 'reconnecting', retries: 1 });
    expect(listener).toHaveBeenCalledTimes(2);
  });

  it('tells views when the connection is back after a drop, not when it is first made', () => {
    const monitor = createConnectionMonitor({ state: 'connecting', retries: 0 });
    const reconnected = vi.fn();
    const stop = onReconnected(monitor, reconnected);
    monitor.set({ state: 'connected', retries: 0 });
    expect(reconnected).not.toHaveBeenCalled();
    monitor.set({ state: 'reconnecting', retries: 0 });
    monitor.set({ state: 'reconnecting', retries: 1 });
    monitor.set({ state: 'connected', retries: 0 });
    expect(reconnected).toHaveBeenCalledTimes(1);
    stop();
    monitor.set({ state: 'reconnecting', retries: 1 });
    monitor.set({ state: 'connected', retries: 0 });
    expect(reconnected).toHaveBeenCalledTimes(1);
  });
});
