// Saves what is being composed as a server-side draft (`saveNotificationDraft`) a moment
// after typing stops, so a reload, a closed tab, Back, or another device loses nothing. One
// save is in flight at a time; what changed meanwhile is saved right after. Leaving the page
// (pagehide, the tab hidden, the view unmounted) saves at once, and the browser asks before
// unloading while a change is not saved yet.
import { useCallback, useEffect, useRef, useState } from 'react';
import { useClient } from 'urql';
import { apiErrors, errorSummary, hasCode } from '../api/errors';
import { SaveNotificationDraftMutation } from '../api/operations';

/** How long after the last keystroke a draft is saved. */
export const DRAFT_SAVE_DELAY_MS = 800;

export interface DraftContent {
  name: string;
  subject: string;
  message: string;
}

export type DraftSaveState =
  | { kind: 'idle' }
  | { kind: 'saving' }
  | { kind: 'saved'; at: string }
  | { kind: 'failed'; reason: string };

export function isBlankDraft(content: DraftContent): boolean {
  return content.name.trim() === '' && content.subject.trim() === '' && content.message.trim() === '';
}

/**
 * `content` is what the editor holds; `dirty` says it differs from what was loaded. The
 * returned `draftId` is the draft's id once it has one (from `initialId` or the first save),
 * and `onCreated` hears of a new draft's id (to put it in the URL).
 */
export function useDraftAutosave({
  conferenceId,
  content,
  dirty,
  initialId,
  onCreated,
  enabled = true,
}: {
  conferenceId: string;
  content: DraftContent;
  dirty: boolean;
  initialId: string | null;
  onCreated?(id: string): void;
  enabled?: boolean;
}) {
  const client = useClient();
  const [state, setState] = useState<DraftSaveState>({ kind: 'idle' });
  const draftId = useRef<string | null>(initialId);
  const [id, setId] = useState<string | null>(initialId);
  const latest = useRef(content);
  latest.current = content;
  /** The content last stored on the server (JSON), to skip saves that change nothing. */
  const stored = useRef<string | null>(null);
  const inFlight = useRef<Promise<void> | null>(null);
  const onCreatedRef = useRef(onCreated);
  onCreatedRef.current = onCreated;
  const mounted = useRef(true);
  /** Set once the notification is sent: nothing is saved after that. */
  const stopped = useRef(false);

  useEffect(() => {
    if (initialId && !draftId.current) {
      draftId.current = initialId;
      setId(initialId);
    }
  }, [initialId]);

  const pending = useCallback(() => {
    const now = JSON.stringify(latest.current);
    return now !== stored.current && !(draftId.current === null && isBlankDraft(latest.current));
  }, []);

  const save = useCallback(async (): Promise<void> => {
    if (inFlight.current) {
      await inFlight.current;
    }
    if (stopped.current || !pending()) return;
    const content = latest.current;
    const snapshot = JSON.stringify(content);
    const run = (async () => {
      if (mounted.current) setState({ kind: 'saving' });
      const attempt = () =>
        client
          .mutation(SaveNotificationDraftMutation, {
            input: {
              id: draftId.current,
              conferenceId,
              name: content.name,
              subject: content.subject,
              message: content.message,
            },
          })
          .toPromise();
      let result = await attempt();
      const elsewhere =
        hasCode(result.error, 'NOT_FOUND') || apiErrors(result.error).some((e) => e.field === 'conferenceId');
      if (draftId.current !== null && elsewhere) {
        // The draft was sent or deleted elsewhere meanwhile (or belongs to another
        // conference): what is here becomes a new draft.
        draftId.current = null;
        result = await attempt();
      }
      const saved = result.data?.saveNotificationDraft;
      if (saved) {
        stored.current = snapshot;
        if (draftId.current !== saved.id) {
          draftId.current = saved.id;
          if (mounted.current) setId(saved.id);
          onCreatedRef.current?.(saved.id);
        }
        if (mounted.current) setState({ kind: 'saved', at: saved.updatedAt });
      } else if (mounted.current) {
        setState({ kind: 'failed', reason: errorSummary(result.error) });
      }
    })();
    inFlight.current = run;
    try {
      await run;
    } finally {
      if (inFlight.current === run) inFlight.current = null;
    }
  }, [client, conferenceId, pending]);

  // A moment after the last change.
  const contentKey = JSON.stringify(content);
  useEffect(() => {
    if (!enabled || !dirty) return;
    const timer = setTimeout(() => void save(), DRAFT_SAVE_DELAY_MS);
    return () => clearTimeout(timer);
  }, [contentKey, dirty, enabled, save]);

  // At once when the page is left or hidden; and a warning before unloading unsaved work.
  useEffect(() => {
    if (!enabled) return;
    const flush = () => {
      if (dirty && pending()) void save();
    };
    const onVisibility = () => {
      if (document.visibilityState === 'hidden') flush();
    };
    const onBeforeUnload = (event: BeforeUnloadEvent) => {
      if (dirty && pending()) {
        void save();
        event.preventDefault();
      }
    };
    window.addEventListener('pagehide', flush);
    window.addEventListener('beforeunload', onBeforeUnload);
    document.addEventListener('visibilitychange', onVisibility);
    return () => {
      window.removeEventListener('pagehide', flush);
      window.removeEventListener('beforeunload', onBeforeUnload);
      document.removeEventListener('visibilitychange', onVisibility);
    };
  }, [dirty, enabled, pending, save]);

  // Leaving the view inside the app (Back, a link) saves what is left.
  const dirtyRef = useRef(dirty);
  dirtyRef.current = dirty;
  const enabledRef = useRef(enabled);
  enabledRef.current = enabled;
  useEffect(() => {
    mounted.current = true;
    return () => {
      mounted.current = false;
      if (enabledRef.current && dirtyRef.current && pending()) void save();
    };
  }, [pending, save]);

  /** Marks the current content as stored (e.g. just loaded from the draft). */
  const markStored = useCallback((content: DraftContent) => {
    stored.current = JSON.stringify(content);
  }, []);

  /** Stops saving for good (the draft was sent); waits for a save in flight. */
  const stop = useCallback(async () => {
    stopped.current = true;
    if (inFlight.current) await inFlight.current;
    return draftId.current;
  }, []);

  return { draftId: id, state, saveNow: save, markStored, stop };
}
