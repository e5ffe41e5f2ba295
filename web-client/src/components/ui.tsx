import { useEffect, useRef, type ReactNode } from 'react';
import type { ConnectionSnapshot } from '../api/ws';
import type { CursorPager } from '../hooks/useCursorPager';
import { statusLabel, type NotificationStatus } from '../lib/progress';

export function Alert({
  kind = 'error',
  title,
  children,
}: {
  kind?: 'error' | 'info' | 'success' | 'warning';
  title?: string;
  children?: ReactNode;
}) {
  return (
    <div className={`alert alert--${kind}`} role={kind === 'error' ? 'alert' : 'status'}>
      {title && <strong className="alert__title">{title}</strong>}
      {children && <div>{children}</div>}
    </div>
  );
}

export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <p className="loading" role="status">
      <span className="spinner" aria-hidden="true" /> {label}
    </p>
  );
}

/**
 * The page heading. It takes focus when the page changes, so screen readers announce the
 * new page; `takeFocus={false}` leaves focus to a control that should have it instead.
 */
export function PageHeading({
  children,
  subtitle,
  takeFocus = true,
}: {
  children: ReactNode;
  subtitle?: ReactNode;
  takeFocus?: boolean;
}) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    if (takeFocus) ref.current?.focus({ preventScroll: true });
  }, [takeFocus]);
  return (
    <header className="page-heading">
      <h1 ref={ref} tabIndex={-1}>
        {children}
      </h1>
      {subtitle && <p className="page-heading__subtitle">{subtitle}</p>}
    </header>
  );
}

export function StatusBadge({ status }: { status: NotificationStatus }) {
  return (
    <span className={`badge badge--${status.toLowerCase()}`} data-status={status}>
      {statusLabel[status]}
    </span>
  );
}

export function Pager({
  page,
  hasNext,
  onPrevious,
  onNext,
  label,
  busy,
}: {
  page: number;
  hasNext: boolean;
  onPrevious(): void;
  onNext(): void;
  label: string;
  busy?: boolean;
}) {
  return (
    <nav className="pager" aria-label={label}>
      <button type="button" className="button button--secondary" onClick={onPrevious} disabled={page <= 1 || busy}>
        ← Previous
      </button>
      <span className="pager__page" aria-live="polite">
        Page {page}
      </span>
      <button type="button" className="button button--secondary" onClick={onNext} disabled={!hasNext || busy}>
        Next →
      </button>
    </nav>
  );
}

/** The pager of a cursor-paged list, once it has more than one page. */
export function ConnectionPager({
  label,
  pager,
  pageInfo,
  busy,
}: {
  label: string;
  pager: CursorPager;
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
  busy?: boolean;
}) {
  if (!pageInfo.hasNextPage && pager.page <= 1) return null;
  return (
    <Pager
      label={label}
      page={pager.page}
      hasNext={pageInfo.hasNextPage}
      onPrevious={pager.previous}
      onNext={() => pager.next(pageInfo.endCursor)}
      busy={busy}
    />
  );
}

/** A form's buttons: the submit, which says `busyLabel` and is disabled while `busy`, and Cancel if `onCancel` is given. */
export function FormActions({
  busy,
  busyLabel,
  submitLabel,
  onCancel,
}: {
  busy: boolean;
  busyLabel: string;
  submitLabel: string;
  onCancel?(): void;
}) {
  return (
    <div className="actions">
      <button type="submit" className="button button--primary" disabled={busy}>
        {busy ? busyLabel : submitLabel}
      </button>
      {onCancel && (
        <button type="button" className="button button--secondary" onClick={() => onCancel()}>
          Cancel
        </button>
      )}
    </div>
  );
}

/** A table's header row: one column heading for each label. */
export function ColumnHeadings({ labels }: { labels: readonly string[] }) {
  return (
    <thead>
      <tr>
        {labels.map((label) => (
          <th key={label} scope="col">
            {label}
          </th>
        ))}
      </tr>
    </thead>
  );
}

const connectionText: Record<ConnectionSnapshot['state'], string> = {
  off: 'Offline',
  connecting: 'Connecting…',
  connected: 'Connected',
  reconnecting: 'Reconnecting…',
  refused: 'Connection refused',
};

/** The state of the /graphql/ws connection, in words and colour. */
export function ConnectionIndicator({ snapshot }: { snapshot: ConnectionSnapshot }) {
  const detail =
    snapshot.state === 'reconnecting' && snapshot.retries > 0
      ? ` (attempt ${snapshot.retries})`
      : snapshot.state === 'refused' && snapshot.reason
        ? `: ${snapshot.reason}`
        : '';
  return (
    <span
      className={`connection connection--${snapshot.state}`}
      role="status"
      data-state={snapshot.state}
      title={`WebSocket connection for live updates: ${snapshot.state}${detail}`}
    >
      <span className="connection__dot" aria-hidden="true" />
      <span className="connection__text">
        <span className="visually-hidden">Live updates: </span>
        {connectionText[snapshot.state]}
        <span className="visually-hidden">{detail}</span>
      </span>
    </span>
  );
}
