// A polite live region for the progress page: milestones and completion, never every
// count (see lib/announce.ts). The region is in the page from the start, so screen readers
// know it before anything is said in it.
import { useEffect, useRef, useState } from 'react';
import { progressAnnouncement } from '../lib/announce';
import type { NotificationProgress } from '../lib/progress';

export function ProgressAnnouncer({ progress }: { progress: NotificationProgress | null }) {
  const previous = useRef<NotificationProgress | null>(null);
  const [message, setMessage] = useState('');
  useEffect(() => {
    if (!progress) return;
    const said = progressAnnouncement(previous.current, progress);
    previous.current = progress;
    if (said) setMessage(said);
  }, [progress]);
  return (
    <div className="visually-hidden" role="status" aria-live="polite" aria-atomic="true" data-testid="progress-announcer">
      {message}
    </div>
  );
}
