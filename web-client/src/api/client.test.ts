import type { Client as WsClient } from 'graphql-ws';
import { describe, expect, it, vi } from 'vitest';
import { createWsHolder } from './client';

const fakeWs = () => ({ subscribe: vi.fn(() => () => {}) }) as unknown as WsClient;

describe('WebSocket holder', () => {
  it('hands the client to subscriptions that started before it existed', () => {
    const holder = createWsHolder();
    const early = vi.fn();
    holder.whenReady(early);
    expect(early).not.toHaveBeenCalled();
    const ws = fakeWs();
    holder.set(ws);
    expect(early).toHaveBeenCalledWith(ws);
    const late = vi.fn();
    holder.whenReady(late);
    expect(late).toHaveBeenCalledWith(ws);
  });

  it('forgets a subscription that ended while waiting', () => {
    const holder = createWsHolder();
    const cancelled = vi.fn();
    holder.whenReady(cancelled)();
    holder.set(fakeWs());
    expect(cancelled).not.toHaveBeenCalled();
  });
});
